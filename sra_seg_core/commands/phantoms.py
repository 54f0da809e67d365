"""``sra-seg phantoms cardiac|fundus OUT``: write a phantom data set in the ACDC or FIVES layout."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "phantoms",
        help="write realistic stand-in data (ACDC-like cardiac MRI, FIVES-like fundus photographs)",
        description=(
            "Write phantom cases in the ACDC layout (cardiac: patientNNN/ with ED and ES NIfTI volumes, _gt labels and "
            "Info.cfg) or the FIVES layout (fundus: train|test/Original and 'Ground truth' PNGs). The same seed gives "
            "the same anatomy in both styles; 'synthetic' renders it the way an image generator might."
        ),
    )
    parser.add_argument("kind", choices=("cardiac", "fundus"), help="which data set to imitate")
    parser.add_argument("out", type=Path, help="output folder (created if missing)")
    parser.add_argument("--cases", type=int, default=10, help="number of patients / photographs (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="data set seed (default 0)")
    parser.add_argument("--style", default="real", help="real or synthetic (default real)")
    parser.add_argument(
        "--size", type=int, default=None,
        help="fundus: image side in pixels (default 2048); cardiac: in-plane matrix N x N (default: drawn per patient)",
    )
    parser.add_argument("--first-id", type=int, default=1, help="number of the first patient / photograph (default 1)")
    parser.add_argument("--test-fraction", type=float, default=0.25, help="fundus: share of cases in test/ (0.25)")
    parser.add_argument("--no-labels", action="store_true", help="write images only (an unlabelled pool)")
    parser.add_argument("--overwrite", action="store_true", help="write into an OUT folder that already holds files "
                        "(phantom files of the same name are replaced)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sra_seg_core.outputs import check_empty_folder, check_outside_projects
    from sra_seg_core.phantoms import write_acdc, write_fives

    check_outside_projects(args.out, option="OUT")
    check_empty_folder(args.out, option="OUT", overwrite=args.overwrite)
    common = dict(cases=args.cases, seed=args.seed, style=args.style, first_id=args.first_id, labels=not args.no_labels)
    if args.kind == "cardiac":
        shape = None if args.size is None else (None, args.size, args.size)
        written = write_acdc(args.out, shape=shape, **common)
    else:
        size = 2048 if args.size is None else args.size
        written = write_fives(args.out, size=size, test_fraction=args.test_fraction, **common)
    for path in written:
        print(path)
    print(f"wrote {len(written)} files for {args.cases} {args.style} {args.kind} cases under {args.out}")
    return 0
