"""``sra-seg project indices``: cardiac indices of a project's patients from approved labels, predictions and
reference labels (read-only)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sra_seg_core.errors import ConfigError


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
    from sra_seg_core.commands.indices import check_table, write_report
    from sra_seg_core.indices import project_indices
    from sra_seg_core.project import Project

    with Project.open(args.dir, read_only=True) as project:
        check_table(args.csv, [project.path])
        report = project_indices(project, _pairs(project, args.pair))
    return write_report(report, args.csv, args.dir)
