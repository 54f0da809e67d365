"""``sra-seg project indices``: cardiac indices of a project's patients from approved labels, predictions and
reference labels (read-only)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sra_seg_core.errors import ConfigError, InputError


def register(actions) -> None:
    p = actions.add_parser(
        "indices",
        help="cardiac indices (EDV, ESV, SV, EF, myocardial mass) of the project's patients",
        description="Per patient (case group) with ED and ES frames: indices from reference labels, fully approved "
        "labels and predictions, and the agreement of predictions against references (OUT_agreement.csv). Frames "
        "come from the Info.cfg beside the imported files (ACDC), or from --pair. Classes must be named RV, Myo, LV.",
    )
    p.add_argument("dir", type=Path, metavar="PROJECT", help="project folder (opened read-only)")
    p.add_argument("--csv", type=Path, required=True, metavar="OUT", help="indices table to write")
    p.add_argument("--pair", action="append", default=[], metavar="ED_CASE:ES_CASE",
                   help="the ED and ES case of one patient (repeatable); the patient is the ED case's group")
    p.set_defaults(func=run)


def _pairs(project, specs: list[str]) -> dict[str, tuple[str, str]]:
    pairs = {}
    for spec in specs:
        ed, sep, es = spec.partition(":")
        if not sep or not ed or not es:
            raise ConfigError(f"--pair wants ED_CASE:ES_CASE, got {spec!r}")
        pairs[project.case(ed).group] = (ed, es)
    return pairs


def run(args: argparse.Namespace) -> int:
    from sra_seg_core.indices import format_report, project_indices, write_indices_csv
    from sra_seg_core.project import Project

    with Project.open(args.dir, read_only=True) as project:
        if Path(args.csv).expanduser().resolve().is_relative_to(project.path.resolve()):
            raise ConfigError(f"{args.csv}: is inside the project folder; write the table outside it")
        report = project_indices(project, _pairs(project, args.pair))
    print(format_report(report))
    if not report.rows:  # nothing to tabulate is a failed command, and no empty table is left behind
        raise InputError(f"no patient has label maps for both its ED and ES frames ({len(report.skipped)} "
                         "skipped, reasons above)", args.dir)
    for path in write_indices_csv(args.csv, report):
        print(f"wrote {path}")
    return 0
