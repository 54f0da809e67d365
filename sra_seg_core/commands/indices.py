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
    from sra_seg_core.indices import acdc_indices, check_not_an_input, format_report, write_indices_csv

    report, inputs = acdc_indices(args.data, args.pred)
    check_not_an_input(args.csv, inputs)
    print(format_report(report))
    if not report.rows:  # nothing to tabulate is a failed command, and no empty table is left behind
        raise InputError(f"no patient has label maps for both its ED and ES frames ({len(report.skipped)} "
                         "skipped, reasons above)", args.data)
    for path in write_indices_csv(args.csv, report):
        print(f"wrote {path}")
    return 0
