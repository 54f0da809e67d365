"""How long the annotation tools take on one slice, at 512 x 512 and at fundus resolution 2048 x 2048.

Each tool is timed as the app runs it on a mouse event, including :func:`make_edit`'s diff against the slice: a brush
dab (disc + paint), a brush segment of a fast drag, a flood fill of the background around a labelled disc (most of
the slice: the worst case), region growing on a noisy image, and a polygon covering a quarter of the slice. The
budgets the app needs are a dab well under 5 ms and a fill well under 100 ms. Median and min over repeats, in ms.

    python benchmarks/annotation_speed.py [--repeats 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import scipy

from sra_seg_core.annotation import disk_indices, flood_fill, paint, polygon_indices, stroke_indices


def timed(fn, repeats: int) -> tuple[float, float]:
    """(median, min) in ms of ``fn()`` over ``repeats`` calls after one warm-up."""
    fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1e3, min(seconds) * 1e3


def cases(size: int, rng: np.random.Generator) -> list[tuple[str, object]]:
    yy, xx = np.indices((size, size))
    labels = np.zeros((size, size), np.uint8)
    labels[np.hypot(yy - size / 2, xx - size / 2) < size / 8] = 1
    image = (labels * 80.0 + rng.normal(100, 5, labels.shape)).astype(np.float32)
    c = size / 2
    quarter = [(size / 4, size / 4), (size / 4, 3 * size / 4), (3 * size / 4, 3 * size / 4), (3 * size / 4, size / 4)]
    return [
        ("brush dab r=10", lambda: paint(labels, 0, disk_indices((c + 0.3, c - 0.4), 10, labels.shape), 2)),
        ("brush dab r=50", lambda: paint(labels, 0, disk_indices((c + 0.3, c - 0.4), 50, labels.shape), 2)),
        ("brush segment 200 px r=10",
         lambda: paint(labels, 0, stroke_indices([(c, c - 100), (c + 20, c + 100)], 10, labels.shape), 2)),
        ("flood fill background", lambda: flood_fill(labels, 0, (0, 0), 3)),
        ("region growing", lambda: flood_fill(labels, 0, (int(c), int(c)), 3, image=image, tolerance=15)),
        ("polygon quarter slice", lambda: paint(labels, 0, polygon_indices(quarter, labels.shape), 2)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(7)
    print(f"annotation tools, {args.repeats} repeats, {os.cpu_count()} CPUs, "
          f"numpy {np.__version__}, scipy {scipy.__version__}")
    print(f"{'tool':<28}{'slice':>11}{'median ms':>11}{'min ms':>9}")
    for size in (512, 2048):
        for name, fn in cases(size, rng):
            median, fastest = timed(fn, args.repeats)
            print(f"{name:<28}{f'{size}x{size}':>11}{median:>11.2f}{fastest:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
