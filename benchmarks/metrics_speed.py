"""How long ``case_metrics`` takes on realistic label maps.

Builds ground truths that look like the data the product scores — cardiac short-axis stacks (RV, Myo, LV; ACDC-like
spacing) and a fundus vessel tree at FIVES resolution — and predictions that are the ground truth warped by a smooth
random displacement of a few voxels (boundary errors like a network's), then times ``case_metrics`` over repeats.

    python benchmarks/metrics_speed.py [--repeats 7] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import scipy
from scipy import ndimage

from sra_seg_core.metrics import case_metrics


def cardiac_stack(slices: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(slices, size, size) uint8: 0 background, 1 RV, 2 Myo, 3 LV, shrinking from base to apex."""
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    labels = np.zeros((slices, size, size), np.uint8)
    for k in range(slices):
        scale = 1.0 - 0.6 * k / max(slices - 1, 1)
        cy, cx = size * 0.5 + rng.normal(0, 1.5), size * 0.47 + rng.normal(0, 1.5)
        radius = np.hypot(yy - cy, (xx - cx) * 0.9)
        lv, wall = 0.11 * size * scale, 0.16 * size * scale
        rv = np.hypot(yy - cy, (xx - cx - 0.17 * size * scale) * 0.7) < 0.15 * size * scale
        labels[k][rv & (radius >= wall)] = 1
        labels[k][(radius >= lv) & (radius < wall)] = 2
        labels[k][radius < lv] = 3
    return labels


def vessel_tree(size: int, rng: np.random.Generator) -> np.ndarray:
    """(1, size, size) uint8 curvilinear network (1 vessel, 0 background) inside a circular field of view."""
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 200)
    yy, xx = np.mgrid[:size, :size]
    inside = np.hypot(yy - size / 2, xx - size / 2) < 0.46 * size
    return ((np.abs(field) < 0.03 * field.std() * 4) & inside)[None].astype(np.uint8)


def warped(labels: np.ndarray, amplitude: float, smoothness: float, rng: np.random.Generator) -> np.ndarray:
    """``labels`` resampled (nearest neighbour) through a smooth in-plane displacement of about ``amplitude`` voxels."""
    grid = np.indices(labels.shape, dtype=np.float32)
    for axis in (1, 2):
        noise = rng.standard_normal(labels.shape).astype(np.float32)
        shift = ndimage.gaussian_filter(noise, (0, smoothness, smoothness))
        grid[axis] += shift * (amplitude / (shift.std() + 1e-12))
    return ndimage.map_coordinates(labels, grid, order=0, mode="nearest")


def time_case(pred: np.ndarray, gt: np.ndarray, labels, spacing, repeats: int) -> dict:
    case_metrics(pred, gt, labels, spacing)  # warm-up: imports, allocator
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        case_metrics(pred, gt, labels, spacing)
        seconds.append(time.perf_counter() - start)
    return {"median_s": statistics.median(seconds), "min_s": min(seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(1337)
    cases = []
    for slices in (10, 20):
        gt = cardiac_stack(slices, 256, rng)
        cases.append((f"cardiac {slices}x256x256", gt, warped(gt, 2.0, 12.0, rng), (1, 2, 3), (10.0, 1.5, 1.5)))
    gt = vessel_tree(2048, rng)
    cases.append(("vessels 1x2048x2048", gt, warped(gt, 1.5, 40.0, rng), (1,), (1.0, 1.0, 1.0)))

    results = []
    for name, gt, pred, labels, spacing in cases:
        timing = time_case(pred, gt, labels, spacing, args.repeats)
        dice = [round(m.dice, 4) for m in case_metrics(pred, gt, labels, spacing)]
        results.append({"case": name, "shape": list(gt.shape), "labels": list(labels), "spacing_zyx": list(spacing),
                        "dice": dice, "repeats": args.repeats, **timing})

    print(f"case_metrics, {args.repeats} repeats, {os.cpu_count()} CPUs, "
          f"numpy {np.__version__}, scipy {scipy.__version__}")
    print(f"{'case':<22}{'labels':>8}{'spacing mm':>18}{'dice':>26}{'median s':>10}{'min s':>8}")
    for r in results:
        spacing = "x".join(f"{s:g}" for s in r["spacing_zyx"])
        dice = ",".join(f"{d:.3f}" for d in r["dice"])
        print(f"{r['case']:<22}{len(r['labels']):>8}{spacing:>18}{dice:>26}{r['median_s']:>10.3f}{r['min_s']:>8.3f}")
    if args.json:
        meta = {"python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
                "numpy": np.__version__, "scipy": scipy.__version__}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
