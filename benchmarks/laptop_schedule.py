"""How the ``laptop`` preset was chosen: time real training iterations of candidate sizes, extrapolate to one hour.

For each candidate (slice size, batch) the trainer runs a few stage-1 and stage-2 iterations of SRA-Seg (without SA,
whose bank is built once and costs no loop time) on phantom data; the median seconds per iteration of each stage
(progress events, the first window dropped as warm-up) give how many iterations fit ``--budget-min`` minutes when
stage 1 takes ``--stage1-share`` of the iterations. Validation time is added from one timed validation pass at the
preset's ``validate_every``. Prints one line per candidate.

    python benchmarks/laptop_schedule.py --threads 2            # on the laptop itself
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ((64, 12), (96, 12), (128, 8), (128, 12), (160, 8))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=12, help="timed iterations per stage and candidate")
    p.add_argument("--budget-min", type=float, default=60.0)
    p.add_argument("--stage1-share", type=float, default=0.5)
    p.add_argument("--validate-every", type=int, default=100)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "laptop-schedule")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from sra_seg_core.config import preset
    from sra_seg_core.phantoms import write_acdc
    from sra_seg_core.trainer import Trainer

    args = parse_args(argv)
    real, pool = args.work / "real", args.work / "synthetic"
    if not (real / ".complete").exists():
        write_acdc(real, cases=30, seed=0, style="real")
        write_acdc(pool, cases=16, seed=0, style="synthetic", first_id=1001, labels=False)
        (real / ".complete").touch()
    print(f"threads {args.threads}, budget {args.budget_min} min, stage-1 share {args.stage1_share}", flush=True)
    for size, batch in CANDIDATES:
        c = preset("demo")
        c.data.root, c.data.synthetic = str(real), str(pool)
        c.data.image_size, c.train.batch_size, c.train.num_threads = size, batch, args.threads
        c.alignment.enabled = False
        c.train.pretrain_iters = c.train.selftrain_iters = args.iters
        c.train.log_every, c.train.validate_every, c.train.checkpoint_every = 2, args.iters, args.iters
        events = []
        t0 = time.time()
        Trainer(c, args.work / "runs" / f"{size}-{batch}", emit=events.append).run()
        wall = time.time() - t0
        per_iter = {}
        for stage in ("pretrain", "selftrain"):
            rates = [e.throughput for e in events if e.event == "progress" and e.stage == stage and e.throughput]
            per_iter[stage] = 1.0 / statistics.median(rates[1:] or rates)
        vals = [e for e in events if e.event == "validation"]
        # one validation per validate_every: estimate its cost from the run's wall time minus the timed iterations
        val_s = max(0.0, (wall - args.iters * sum(per_iter.values())) / max(len(vals), 1))
        share = args.stage1_share
        per_mean = share * per_iter["pretrain"] + (1 - share) * per_iter["selftrain"] + val_s / args.validate_every
        total = int(args.budget_min * 60 / per_mean)
        print(json.dumps({"size": size, "batch": batch, "s_per_iter_stage1": round(per_iter["pretrain"], 3),
                          "s_per_iter_stage2": round(per_iter["selftrain"], 3), "s_per_validation": round(val_s, 1),
                          "iterations_in_budget": total, "stage1": int(total * share),
                          "stage2": total - int(total * share)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
