"""``sra-seg project suggest``: which real patients (or slices) to label next — see :mod:`sra_seg_core.selection`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sra_seg_core.selection import FEATURES, STRATEGIES, UNITS


def register(actions) -> None:
    p = actions.add_parser(
        "suggest",
        help="suggest which real patients or slices to label next (read-only)",
        description="Suggest what to label so that --fraction of the real patients are labelled. random: patients "
        "at random (the published protocol); diverse: the core-set greedy in DINOv2 space (intensity features when "
        "no DINOv2 weights exist, said in the output); disagreement: where a run's mean teacher and student disagree "
        "most (1 - Dice of their label maps). The project is opened read-only.",
    )
    p.add_argument("dir", type=Path, help="project folder")
    p.add_argument("--strategy", choices=STRATEGIES, required=True)
    p.add_argument("--fraction", type=float, default=0.1, metavar="F", help="target share of real patients (or "
                   "slices) labelled, default 0.1")
    p.add_argument("--unit", choices=UNITS, default="patients", help="suggest whole patients (default) or slices")
    p.add_argument("--run", type=Path, metavar="RUN_DIR", help="disagreement: run folder with checkpoints/latest.pt "
                   "(default: the project's newest)")
    p.add_argument("--seed", type=int, default=0, help="random draw / first diverse pick (default 0)")
    p.add_argument("--features", choices=FEATURES, default="auto", help="diverse: auto (DINOv2 if weights exist, "
                   "else intensity), dinov2 or intensity")
    p.add_argument("--dinov2-weights", metavar="FILE", help="DINOv2 weights (official .pth or timm .safetensors); "
                   "default: the project's 'dinov2_weights' setting")
    p.add_argument("--allow-untrained-encoder", action="store_true",
                   help="with --features dinov2: use a random encoder when no weights exist (tests, demos; flagged)")
    p.add_argument("--encoder-depth", type=int, metavar="N", help="untrained encoder with N blocks (tests only)")
    p.add_argument("--no-download", action="store_true", help="do not try timm's pretrained DINOv2 download")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:K")
    p.add_argument("--events", metavar="FILE", help="write progress as JSON-line events here ('-' = stdout)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sra_seg_core.events import Event, JsonLinesSink
    from sra_seg_core.project import Project
    from sra_seg_core.selection import SuggestOptions, suggest

    from sra_seg_core.outputs import check_events_file

    check_events_file(args.events, [args.dir, *([args.run] if args.run else [])])
    sink = JsonLinesSink(args.events) if args.events else None

    def progress(done: int, total: int, what: str) -> None:
        if sink is not None:
            sink(Event("progress", stage="suggest", iteration=done, total=total, case=what or None, message=what))

    project = Project.open(args.dir, read_only=True)
    try:
        result = suggest(project, on_progress=progress, **vars(SuggestOptions.from_cli(args)))
        if sink is not None:
            for warning in result.warnings:
                sink(Event("warning", stage="suggest", message=warning))
            sink(Event("done", stage="suggest", status="finished", message=result.summary(), result=result.to_json()))
    finally:
        if sink is not None:
            sink.close()
    if args.json:
        print(json.dumps(result.to_json()), flush=True)
        return 0
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    how = {"diverse": f" by diversity ({result.features})", "disagreement": f" by disagreement ({result.run})"}
    print(f"suggested {result.unit}{how.get(result.strategy, ' at random')}:" if result.suggestions else
          f"no {result.unit} to suggest")
    for s in result.suggestions:
        where = s.patient if args.unit == "patients" else f"{s.case} slice {s.slice + 1}"
        score = "" if s.score is None else f"  score {s.score:.3f}"
        print(f"  {where}{score}  {s.reason}" + (f" (note: {s.note})" if s.note else ""))
    print(result.summary())
    return 0
