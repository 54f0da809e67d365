"""``sra-seg demo``: the whole method on this machine in a few minutes, with nothing downloaded.

Cardiac phantoms (real-style patients, 10 % of the training patients labelled) and a pool of synthetic-style
patients -> SRA-Seg training on the CPU (or GPU) -> the supervised-only baseline on the same labelled slices ->
both scored on the held-out real-style test patients -> a table, a CSV and predicted label maps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("demo", help="phantoms -> SRA-Seg and supervised training -> test metrics, in minutes",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--out", type=Path, default=Path("sra-seg-demo"), help="folder for data, runs and results "
                   "(default ./sra-seg-demo; phantoms are reused when present)")
    # 30 patients as in benchmarks/accuracy_phantom.py: 10 % of 21 training patients = 2 labelled, 6 test patients.
    # With 20 the demo labels one patient and tests on four, and the SRA-Seg / supervised verdict is a coin toss.
    p.add_argument("--patients", type=int, default=30, help="real-style patients (default 30: 21 train, "
                   "3 validation, 6 test; 10 %% of the training patients, i.e. 2, are labelled)")
    p.add_argument("--synthetic", type=int, default=16, help="synthetic-style patients in the unlabelled pool")
    p.add_argument("--seed", type=int, default=0, help="phantom seed")
    p.add_argument("--no-baseline", action="store_true", help="skip the supervised-only comparison")
    p.add_argument("--dinov2-weights", metavar="FILE", help="DINOv2 weights for the alignment term (without "
                   "them the demo uses an untrained encoder and says so)")
    p.add_argument("--device", default="auto")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    p.set_defaults(func=run)


def make_data(out: Path, patients: int, synthetic: int, seed: int) -> tuple[Path, Path]:
    from sra_seg_core.phantoms import write_acdc

    real, pool = out / "data" / "real", out / "data" / "synthetic"
    if not real.exists():
        print(f"writing {patients} real-style cardiac phantom patients to {real}", file=sys.stderr)
        write_acdc(real, cases=patients, seed=seed, style="real")
    if not pool.exists():
        print(f"writing {synthetic} synthetic-style patients to {pool}", file=sys.stderr)
        write_acdc(pool, cases=synthetic, seed=seed, style="synthetic", first_id=1001, labels=False)
    return real, pool


def run(args: argparse.Namespace) -> int:
    from sra_seg_core.config import preset
    from sra_seg_core.evaluation import score_checkpoint
    from sra_seg_core.events import format_event
    from sra_seg_core.metrics import format_summary, summarise, write_metrics_csv
    from sra_seg_core.trainer import Trainer

    from sra_seg_core.outputs import check_outside_projects

    out = args.out.expanduser().resolve()
    check_outside_projects(out, option="--out")
    real, pool = make_data(out, args.patients, args.synthetic, args.seed)
    methods = ["sra-seg"] + ([] if args.no_baseline else ["supervised"])
    results = {}
    for method in methods:
        config = preset("demo")
        config.data.root, config.data.synthetic = str(real), str(pool)
        config.train.method, config.train.device = method, args.device
        if args.dinov2_weights:
            config.alignment.weights_file = str(Path(args.dinov2_weights).expanduser().resolve())
        else:
            config.alignment.allow_untrained, config.alignment.download = True, False
        for item in args.set:
            key, _, value = item.partition("=")
            config.set(key.strip(), value.strip())
        print(f"\n=== training {method} ===", file=sys.stderr)
        t0 = time.time()
        result = Trainer(config, out / "runs" / method,
                         emit=lambda e: e.event != "checkpoint" and print(format_event(e), file=sys.stderr)).run()
        minutes = (time.time() - t0) / 60
        labels, rows, names = score_checkpoint(result.best_path, real, split="test",
                                               predictions=out / "predictions" / method, on_case=lambda _c: None)
        write_metrics_csv(out / f"metrics-{method}.csv", rows)
        results[method] = (summarise(rows), minutes, dict(zip(labels, names)))
    print()
    for method, (summary, minutes, names) in results.items():
        print(f"{method} (trained in {minutes:.1f} min) — test patients, real-style phantoms:")
        print(format_summary(summary, names))
        print()
    if len(results) == 2:
        a, b = (results[m][0]["overall"]["dice"]["mean"] for m in methods)
        verdict = "beats" if a > b else "does not beat"
        print(f"SRA-Seg mean Dice {100 * a:.2f} % {verdict} supervised-only {100 * b:.2f} % on the same labelled "
              "slices.")
    print(f"Results, runs and predicted label maps: {out}")
    return 0
