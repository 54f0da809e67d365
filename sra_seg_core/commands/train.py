"""``sra-seg train``: train any method through the one trainer, headless; the app runs this same command."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sra_seg_core.config import METHODS, PRESETS
from sra_seg_core.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("train", help="train a segmentation model (SRA-Seg, BCP, mean teacher or supervised)",
                       description="Train a model. Settings resolve in this order: defaults (the paper's ACDC "
                                   "schedule) < --preset < --config < options < --set.")
    p.add_argument("--method", choices=METHODS, help="default: sra-seg")
    p.add_argument("--data", metavar="DIR", help="labelled real data: ACDC, FIVES or image/label folder")
    p.add_argument("--synthetic", metavar="DIR", help="folder of synthetic images (the unlabelled stream)")
    p.add_argument("--labeled-fraction", type=float, metavar="F", help="fraction of training patients labelled "
                   "(default 0.1)")
    p.add_argument("--pretrain-iters", type=int, metavar="N")
    p.add_argument("--selftrain-iters", type=int, metavar="N")
    p.add_argument("--batch-size", type=int, metavar="N", help="half labelled, half unlabelled (default 24)")
    p.add_argument("--image-size", type=int, metavar="N", help="training slice size (default 256)")
    p.add_argument("--protocol", choices=("studio", "reference"),
                   help="reference: the authors' released protocol (order-0 zoom, native-size integer-degree "
                        "augmentation, drop-last, their SA term, fp32); studio (default): ours, see README")
    p.add_argument("--device", metavar="DEV", help="auto | cpu | cuda | cuda:K")
    p.add_argument("--validate-every", type=int, metavar="N")
    p.add_argument("--no-sa", action="store_true", help="SRA-Seg without the similarity-alignment term")
    p.add_argument("--hard-blend", action="store_true", help="unsmoothed box instead of soft edge blending")
    p.add_argument("--dinov2-weights", metavar="FILE", help="DINOv2 weights: official .pth or timm .safetensors")
    p.add_argument("--allow-untrained-encoder", action="store_true",
                   help="run SA with a random encoder when no weights exist (tests, demo; flagged everywhere)")
    p.add_argument("--config", metavar="FILE", help="YAML, TOML or JSON config")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="acdc, fives (paper schedules), laptop (an hour on 2 CPU cores), demo, tiny")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any config field, "
                   "e.g. --set blend.sigma=2 (repeatable)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/<method>-<time>)")
    p.add_argument("--events", metavar="FILE", help="also write JSON-line events here ('-' = stdout)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run (iteration counts may grow)")
    p.add_argument("--quiet", action="store_true", help="no human-readable progress on stderr")
    p.set_defaults(func=run)


def resolve_config(args: argparse.Namespace):
    """The run's config from presets, files, options and --set, in that order (see the parser description)."""
    from sra_seg_core.config import RunConfig, load_config_file, preset

    if args.resume:
        saved = Path(args.resume) / "config.yaml"
        if not saved.exists():
            raise ConfigError(f"cannot resume: {saved} not found (is {args.resume} a run folder?)")
        config = load_config_file(saved)
    else:
        config = preset(args.preset) if args.preset else RunConfig()
        if args.config:
            config = load_config_file(args.config, base=config)
    options = {
        "train.method": args.method, "data.root": args.data, "data.synthetic": args.synthetic,
        "data.labeled_fraction": args.labeled_fraction, "train.pretrain_iters": args.pretrain_iters,
        "train.selftrain_iters": args.selftrain_iters, "train.batch_size": args.batch_size,
        "data.image_size": args.image_size, "train.device": args.device, "train.protocol": args.protocol,
        "train.validate_every": args.validate_every, "alignment.weights_file": args.dinov2_weights,
    }
    if args.resume:
        changed = [k for k, v in options.items()
                   if v is not None and k not in ("train.pretrain_iters", "train.selftrain_iters", "train.device")]
        if changed or args.set or args.no_sa or args.hard_blend:
            raise ConfigError("--resume continues a run with its saved config; only --pretrain-iters, "
                              "--selftrain-iters, --device and --events may change")
    flags = {"train.method": "--method", "data.root": "--data", "data.synthetic": "--synthetic",
             "alignment.weights_file": "--dinov2-weights"}
    for key, value in options.items():
        if value is not None:  # a bad value is refused naming the option as typed, e.g. "--batch-size: train.…"
            config.set(key, value, source=flags.get(key, "--" + key.partition(".")[2].replace("_", "-")))
    if args.no_sa:
        config.alignment.enabled = False
    if args.hard_blend:
        config.blend.hard = True
    if args.allow_untrained_encoder:
        config.alignment.allow_untrained = True
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
        config.set(key.strip(), value.strip())
    for key in ("root", "synthetic"):
        value = getattr(config.data, key)
        if value:
            setattr(config.data, key, str(Path(value).expanduser().resolve()))
    return config.validate()


def _check_outputs(args: argparse.Namespace, config, run_dir: Path) -> None:
    """A new run goes to a folder that is no run yet, outside the data and outside projects (but a project's own
    ``runs/``); see :mod:`sra_seg_core.outputs`. A resumed run's single writer is ensured by the trainer's lock."""
    from sra_seg_core.outputs import check_events_file, check_not_a_run, check_not_input, check_outside, \
        check_outside_projects, project_containing

    d = config.data
    inputs = [p for p in (d.root, d.synthetic, args.config, config.alignment.weights_file) if p]
    check_events_file(args.events, inputs + [run_dir / "config.yaml", run_dir / "run.json"])
    if args.resume:
        return
    check_not_input(run_dir, inputs, option="--out")
    check_not_a_run(run_dir, option="--out")
    check_outside_projects(run_dir, option="--out", runs_allowed=True)
    check_outside(run_dir, [p for p in (d.synthetic, d.root) if p and project_containing(p) is None], option="--out")


def run(args: argparse.Namespace) -> int:
    from sra_seg_core import distributed
    from sra_seg_core.inference import resolve_device

    config = resolve_config(args)
    # Under torchrun: join the job; rank 0 names the run folder and alone reports (see sra_seg_core/distributed.py).
    dist = distributed.init_from_env(resolve_device(config.train.device))
    try:
        return _run(args, config, dist)
    finally:
        distributed.shutdown()


def _run(args: argparse.Namespace, config, dist) -> int:
    from sra_seg_core.events import JsonLinesSink, fan_out, format_event
    from sra_seg_core.trainer import Trainer

    run_dir = Path(args.resume or args.out or Path("runs") / f"{config.train.method}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = dist.broadcast(run_dir.expanduser().resolve())
    _check_outputs(args, config, run_dir)  # every rank sees the same files: none has written yet
    dist.barrier()
    if not dist.is_main:
        args.events, args.quiet = None, True
    sink = JsonLinesSink(args.events) if args.events else None
    human = None
    if not args.quiet:
        def human(event):
            if event.event != "error":  # cli.main prints the one error line itself
                print(format_event(event), file=sys.stderr, flush=True)
    try:
        result = Trainer(config, run_dir, emit=fan_out(sink, human)).run(resume=bool(args.resume))
    finally:
        if sink:
            sink.close()
    if not args.quiet:
        print(f"run folder: {run_dir}", file=sys.stderr)
    return 0 if result.status in ("finished", "stopped") else 1
