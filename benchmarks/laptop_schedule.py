"""How the ``laptop`` preset was chosen: time real training iterations of candidate sizes, extrapolate to one hour.

For each candidate (slice size, batch) the trainer runs a few stage-1 and stage-2 iterations of SRA-Seg (without SA,
whose bank is built once and costs no loop time) on phantom data with ONE thread, and the process CPU time between
progress events (the first window dropped as warm-up) gives the seconds per iteration of each stage. CPU time, not
wall time, because the machine this was chosen on was shared (load average above 10 on 2 cores): one thread's CPU
seconds are what an idle core needs. Two threads are assumed to give ``--two-thread-speedup`` (1.8:
benchmarks/results/speed_cpu.txt has stage 1 at 3.30 CPU seconds per 1.72 s of wall time on 2 threads, 1.9; a little
less for threading overhead). From that, how many iterations fit ``--budget-min`` minutes when stage 1 takes
``--stage1-share`` of them, counting one validation every ``--validate-every`` iterations (its CPU
time measured the same way). Prints one JSON line per candidate.

    python benchmarks/laptop_schedule.py --iters 8 --data accuracy-work/data   # phantoms of accuracy_phantom.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ((96, 12), (128, 8), (128, 12))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--two-thread-speedup", type=float, default=1.8)
    p.add_argument("--iters", type=int, default=12, help="timed iterations per stage and candidate")
    p.add_argument("--budget-min", type=float, default=60.0)
    p.add_argument("--stage1-share", type=float, default=0.5)
    p.add_argument("--validate-every", type=int, default=100)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "laptop-schedule")
    p.add_argument("--data", type=Path, help="a folder with real/ and synthetic/ phantoms (default: write them)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from sra_seg_core.config import preset
    from sra_seg_core.phantoms import write_acdc
    from sra_seg_core.trainer import Trainer

    args = parse_args(argv)
    real, pool = (args.data or args.work) / "real", (args.data or args.work) / "synthetic"
    if not (real / ".complete").exists():
        write_acdc(real, cases=30, seed=0, style="real")
        write_acdc(pool, cases=16, seed=0, style="synthetic", first_id=1001, labels=False)
        (real / ".complete").touch()
    print(f"budget {args.budget_min} min on 2 threads (speed-up {args.two_thread_speedup}), stage-1 share "
          f"{args.stage1_share}", flush=True)
    for size, batch in CANDIDATES:
        c = preset("demo")
        c.data.root, c.data.synthetic = str(real), str(pool)
        c.data.image_size, c.train.batch_size, c.train.num_threads = size, batch, 1
        c.alignment.enabled = False
        c.train.pretrain_iters = c.train.selftrain_iters = args.iters
        c.train.log_every, c.train.validate_every, c.train.checkpoint_every = 2, args.iters, 10**9
        marks = []  # (event, stage, iteration, process CPU seconds)

        def emit(event, marks=marks):
            marks.append((event.event, event.stage, event.iteration, time.process_time()))

        Trainer(c, args.work / "runs" / f"{size}-{batch}", emit=emit).run()
        per_iter, val_cpu = {}, []
        for stage in ("pretrain", "selftrain"):
            ticks = [(it, t) for kind, st, it, t in marks if kind == "progress" and st == stage]
            steps = [(t1 - t0) / (i1 - i0) for (i0, t0), (i1, t1) in zip(ticks, ticks[1:])]
            per_iter[stage] = statistics.median(steps) / args.two_thread_speedup
            # the validation event follows the stage's last progress event
            last = next(t for kind, st, it, t in marks if kind == "validation" and st == stage)
            val_cpu.append((last - ticks[-1][1]) / args.two_thread_speedup)
        val_s = statistics.mean(val_cpu)
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
