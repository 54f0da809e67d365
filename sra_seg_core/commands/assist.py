"""``sra-seg assist``: the labelling assistant's tools headless — scribble-to-segment and model proposals.

The same engine code as the Studio (:mod:`sra_seg_core.assist`); outputs keep the input image's geometry, and no
output may be one of the inputs.
"""

from __future__ import annotations

import argparse
import sys

from sra_seg_core.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("assist", help="assisted labelling: scribble-to-segment, model proposals",
                       description="Assisted labelling tools on the command line (the Studio's engine).")
    tools = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    s = tools.add_parser("scribble", help="scribbles -> full label map",
                         description="Segment an image from scribbles. MAP is a label map on the image's grid: "
                                     "0 = not marked, 1..K = scribbles of that class, 255 = background scribbles. "
                                     "OUT is the full label map (background 0).")
    s.add_argument("--image", required=True, metavar="IMG")
    s.add_argument("--scribbles", required=True, metavar="MAP")
    s.add_argument("--output", required=True, metavar="OUT")
    s.add_argument("--3d", dest="three_d", action="store_true",
                   help="one problem for the whole volume (default: each scribbled slice on its own)")
    s.add_argument("--frame", type=int, help="frame of a 4-D image")
    s.set_defaults(func=run_scribble)
    q = tools.add_parser("propose", help="a trained model's proposal for a slice or a whole image",
                         description="Propose labels with a trained run: CKPT is best.pt / latest.pt or a run folder "
                                     "(its best.pt, else latest.pt while it trains). OUT is a label map on the "
                                     "image's grid; with --slice only that slice is filled.")
    q.add_argument("--checkpoint", required=True, metavar="CKPT")
    q.add_argument("--image", required=True, metavar="IMG")
    q.add_argument("--output", required=True, metavar="OUT")
    q.add_argument("--slice", type=int, metavar="Z", help="propose only slice Z (0-based)")
    q.add_argument("--uncertainty", metavar="FILE", help="also write the normalised entropy (float, 0 sure .. 1)")
    q.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:K")
    q.add_argument("--frame", type=int, help="frame of a 4-D image")
    q.set_defaults(func=run_propose)


def _check_outputs(outputs: dict[str, str | None], inputs: list[str]) -> None:
    """The engine's output rule (``sra_seg_core.outputs``): no output (option -> path) is one of the inputs."""
    from sra_seg_core.outputs import check_not_input

    for option, out in outputs.items():
        if out is not None:
            check_not_input(out, inputs, option=option)


def run_scribble(args: argparse.Namespace) -> int:
    import numpy as np

    from sra_seg_core.assist.scribble import ScribbleSegmenter
    from sra_seg_core.io import read_image, read_label, write_image

    _check_outputs({"--output": args.output}, [args.image, args.scribbles])
    image = read_image(args.image, frame=args.frame)
    scribbles = read_label(args.scribbles, reference=image, num_classes=256)
    if not scribbles.array.any():
        raise InputError("has no scribbles (every value is 0); mark at least one class and the background (255)",
                         args.scribbles)
    labels = ScribbleSegmenter(image.array, three_d=args.three_d).segment(scribbles.array).labels
    write_image(image.with_array(labels, label=True), args.output)
    counts = {int(c): int((labels == c).sum()) for c in np.unique(labels) if c}
    print(f"{args.image} -> {args.output} (voxels per class {counts})", file=sys.stderr)
    return 0


def run_propose(args: argparse.Namespace) -> int:
    import numpy as np

    from sra_seg_core.assist.propose import load_proposer, propose
    from sra_seg_core.io import read_image, write_image

    _check_outputs({"--output": args.output, "--uncertainty": args.uncertainty}, [args.image, args.checkpoint])
    loaded = load_proposer(args.checkpoint, args.device)
    image = read_image(args.image, frame=args.frame, grey=loaded.grey)
    proposal = propose(loaded, image.array, None if args.slice is None else [args.slice])
    labels = np.zeros(image.shape, np.uint8)
    labels[list(proposal.slices)] = proposal.labels
    write_image(image.with_array(labels, label=True), args.output)
    if args.uncertainty:
        uncertainty = np.zeros(image.shape, np.float32)
        uncertainty[list(proposal.slices)] = proposal.uncertainty
        write_image(image.with_array(uncertainty, label=False), args.uncertainty)
    counts = {int(c): int((labels == c).sum()) for c in range(1, loaded.num_classes)}
    print(f"{args.image} -> {args.output} by {loaded.meta.get('checkpoint')} (voxels per class {counts})",
          file=sys.stderr)
    return 0
