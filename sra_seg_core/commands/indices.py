"""``sra-seg indices``: cardiac indices (LV/RV EDV, ESV, SV, EF, myocardial mass) of an ACDC-layout folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from sra_seg_core.errors import InputError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "indices",
        help="cardiac indices (EDV, ESV, SV, EF, myocardial mass) from ED/ES label maps",
        description="For each patient of an ACDC-layout folder (Info.cfg names the ED and ES frames): LV and RV "
        "end-diastolic and end-systolic volumes (mL), stroke volume, ejection fraction (%%) and myocardial mass "
        "(myocardium volume at ED x 1.05 g/mL), from the _gt labels and, with --pred, from predictions; then the "
        "agreement of predicted against reference indices (bias, SD, 95%% limits of agreement, Pearson r) in "
        "OUT_agreement.csv.",
    )
    parser.add_argument("data", type=Path, metavar="DATA", help="ACDC-layout folder (patientNNN/ with Info.cfg)")
    parser.add_argument("--pred", type=Path, metavar="PRED_DIR",
                        help="predicted label maps named by case, e.g. patient001_frame01_pred.nii.gz")
    parser.add_argument("--csv", type=Path, required=True, metavar="OUT", help="indices table to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sra_seg_core.indices import acdc_indices

    report, inputs = acdc_indices(args.data, args.pred)
    check_table(args.csv, inputs)
    return write_report(report, args.csv, args.data)


def check_table(csv: Path, inputs) -> None:
    """The output rules for an indices table (``sra_seg_core.outputs``): never one of the files read, nor inside a
    project (the table and its ``_agreement`` companion alike), never a folder."""
    from sra_seg_core.indices import agreement_csv_path
    from sra_seg_core.outputs import check_not_input, check_outside_projects

    for target in (csv, agreement_csv_path(Path(csv).expanduser().resolve())):
        check_not_input(target, inputs, option="--csv")
        check_outside_projects(target, option="--csv")
    if Path(csv).is_dir():
        raise InputError("is a folder; give a file name such as indices.csv", csv)


def write_report(report, csv: Path, source: Path) -> int:
    """Print the report and write the table(s); a report with no patient is a failed command and leaves no file."""
    from sra_seg_core.indices import format_report, write_indices_csv

    print(format_report(report))
    if not report.rows:
        raise InputError(f"no patient has label maps for both its ED and ES frames ({len(report.skipped)} "
                         "skipped, reasons above)", source)
    for path in write_indices_csv(csv, report):
        print(f"wrote {path}")
    return 0
