"""``sra-seg convert IN OUT``: convert an image or label map between any two supported formats, keeping geometry."""

from __future__ import annotations

import argparse
from pathlib import Path

from sra_seg_core.errors import ConfigError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert an image or label map between NIfTI, NRRD, MetaImage, DICOM, PNG, JPEG and TIFF",
        description=(
            "Convert IN to OUT, keeping the voxel geometry (spacing, origin, direction) and, with --label, the "
            "integer class values. The format comes from each name's suffix; a folder is a DICOM series (as OUT: a "
            "name with no suffix or a trailing '/'). An existing OUT is replaced only with --overwrite, and only when "
            "the conversion succeeds; IN never."
        ),
    )
    parser.add_argument("input", metavar="IN", help="image file or DICOM series folder")
    parser.add_argument("output", metavar="OUT", help="file to write, or a folder for a DICOM series")
    parser.add_argument("--frame", type=int, metavar="T", help="frame of a 4-D input to convert (0-based)")
    # the rules are listed rather than imported: importing the I/O package would slow every sra-seg start
    parser.add_argument(
        "--grey",
        metavar="RULE",
        default="luminance",
        help="how colour becomes grey: luminance (default, ITU-R BT.601), green (fundus vessels), mean or first",
    )
    parser.add_argument(
        "--label", action="store_true", help="IN is a label map: check its values are class numbers, keep integers"
    )
    parser.add_argument(
        "--binarize", action="store_true", help="IN is a 0/255 (or 0/1) binary mask: write it as a 0/1 label map"
    )
    parser.add_argument("--dtype", metavar="DTYPE", help="data type to store, e.g. uint8, int16, float32")
    parser.add_argument("--series", metavar="UID", help="Series Instance UID, for a DICOM folder with several series")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (never IN)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sra_seg_core.io import read_image, read_info, read_label, write_image
    from sra_seg_core.outputs import check_not_input, check_outside_projects

    check_not_input(args.output, [args.input], option="OUT")
    check_outside_projects(args.output, option="OUT")
    if args.label or args.binarize:
        image = read_label(args.input, frame=args.frame, binarize=args.binarize, series=args.series)
    else:
        image = read_image(args.input, frame=args.frame, grey=args.grey, series=args.series)
    # after the read, so that a bad IN is reported as such, whatever OUT is
    if Path(args.output).exists() and not args.overwrite:
        raise ConfigError(f"OUT {args.output} already exists; pass --overwrite to replace it")
    written = write_image(image, args.output, dtype=args.dtype)
    info = read_info(written)
    spacing = " x ".join(f"{v:g}" for v in info.spacing[: info.dims])
    print(f"wrote {written} ({info.format}): {info.describe_shape()} pixels, spacing {spacing} mm, {info.dtype.name}")
    return 0
