"""``sra-seg predict``: segment images with a trained checkpoint; masks keep the input's geometry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sra_seg_core.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("predict", help="segment images with a trained model",
                       description="Predict label maps. INPUT may be a file or a folder; masks are written with "
                                   "the input's geometry (NIfTI/NRRD/MHA/DICOM in, same format out; PNG in, PNG out).")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="best.pt or latest.pt of a run")
    p.add_argument("--input", required=True, metavar="FILE|DIR")
    p.add_argument("--output", required=True, metavar="FILE|DIR")
    p.add_argument("--tta", action="store_true", help="average the identity and two flips")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:K")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="slices per forward pass")
    p.add_argument("--frame", type=int, help="frame of a 4-D input")
    p.add_argument("--suffix", metavar="EXT", help="output format for folders, e.g. .nii.gz (default: the input's)")
    p.add_argument("--overwrite", action="store_true", help="replace output files that exist (never an input)")
    p.set_defaults(func=run)


def output_path(source: Path, out_dir: Path, suffix: str | None) -> Path:
    from sra_seg_core.atomic import split_suffix

    stem, ext = split_suffix(source)
    return out_dir / f"{stem}{suffix or ext or '.nii.gz'}"


def run(args: argparse.Namespace) -> int:
    from sra_seg_core.config import check_value
    from sra_seg_core.io import list_images, read_image, write_image
    from sra_seg_core.outputs import check_new_file, check_not_input, check_outside_projects

    check_value("--batch-size", args.batch_size, ge=1, le=65536)
    src, dst = Path(args.input), Path(args.output)
    # A folder of image files is a batch; a folder without any (a DICOM series) is one image.
    batch = list_images(src) if src.is_dir() else []
    if batch:
        sources, targets = batch, [output_path(s, dst, args.suffix) for s in batch]
    elif src.exists():
        sources, targets = [src], [dst]
    else:
        raise InputError("input not found", src)
    # every check before the model is loaded: a refused output costs nothing
    check_not_input(dst, [src, args.checkpoint], option="--output")
    check_outside_projects(dst, option="--output")
    for target in targets:
        check_not_input(target, [*sources, args.checkpoint], option="--output")
        check_new_file(target, option="--output", overwrite=args.overwrite)
    from sra_seg_core.inference import load_checkpoint, predict_image  # torch: only once the outputs are known safe

    loaded = load_checkpoint(args.checkpoint, args.device)
    for source, target in zip(sources, targets):
        image = read_image(source, frame=args.frame, grey=loaded.grey)
        labels = predict_image(loaded, image, tta=args.tta, batch_size=args.batch_size)
        write_image(image.with_array(labels, label=True), target)
        counts = {int(c): int((labels == c).sum()) for c in range(1, loaded.num_classes)}
        print(f"{source} -> {target} (voxels per class {counts})", file=sys.stderr)
    return 0

