"""Measurements on a volume in millimetres: a ruler between two voxels, the area and intensity of a rectangle or
ellipse on a displayed plane, and per-label statistics of a case.

Everything comes from the voxel geometry: the ruler uses the full affine (so it is right on oblique and anisotropic
grids, in any plane), ROIs use the plane's pixel size (:attr:`sra_seg_core.planes.PlaneGeometry.pixel_mm`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

ROI_SHAPES = ("rectangle", "ellipse")


def ruler_mm(affine: np.ndarray, a_zyx: Sequence[float], b_zyx: Sequence[float]) -> float:
    """Distance in mm between two voxel positions (z, y, x) (fractional allowed) of a grid with this (4, 4) affine."""
    delta_ijk = (np.asarray(b_zyx, dtype=np.float64) - np.asarray(a_zyx, dtype=np.float64))[::-1]
    return float(np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :3] @ delta_ijk))


@dataclass(frozen=True)
class RoiStats:
    """A region on one slice. area_mm2: the drawn shape's area; pixels: pixel centres inside it; mean, sd: their
    intensity (population SD; NaN when no pixel centre is inside)."""

    area_mm2: float
    pixels: int
    mean: float
    sd: float


def roi_mask(shape: tuple[int, int], corner_a: Sequence[float], corner_b: Sequence[float], kind: str) -> np.ndarray:
    """(rows, cols) bool: pixels whose centre lies in the rectangle, or the ellipse inscribed in it, spanned by two
    corners (row, col) in pixel coordinates (pixel (r, c) covers [r, r+1) x [c, c+1))."""
    if kind not in ROI_SHAPES:
        raise ValueError(f"ROI kind must be one of {ROI_SHAPES}, got {kind!r}")
    (r0, r1), (c0, c1) = sorted((corner_a[0], corner_b[0])), sorted((corner_a[1], corner_b[1]))
    rows = np.arange(shape[0])[:, None] + 0.5
    cols = np.arange(shape[1])[None, :] + 0.5
    if kind == "rectangle":
        return (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
    half_r, half_c = (r1 - r0) / 2, (c1 - c0) / 2
    if half_r <= 0 or half_c <= 0:
        return np.zeros(shape, bool)
    return ((rows - (r0 + half_r)) / half_r) ** 2 + ((cols - (c0 + half_c)) / half_c) ** 2 <= 1.0


def roi_stats(plane: np.ndarray, pixel_mm: Sequence[float], corner_a, corner_b, kind: str = "rectangle") -> RoiStats:
    """Area (mm²) and intensity of a rectangle / ellipse on a (rows, cols) slice with pixel size (row mm, col mm)."""
    height = abs(corner_b[0] - corner_a[0]) * pixel_mm[0]
    width = abs(corner_b[1] - corner_a[1]) * pixel_mm[1]
    area = height * width if kind == "rectangle" else math.pi * height * width / 4
    values = np.asarray(plane)[roi_mask(np.shape(plane), corner_a, corner_b, kind)].astype(np.float64)
    if values.size == 0:
        return RoiStats(float(area), 0, math.nan, math.nan)
    return RoiStats(float(area), int(values.size), float(values.mean()), float(values.std()))


@dataclass(frozen=True)
class LabelStats:
    """One label of a case: voxel count, volume in mL and the image intensity inside (population SD)."""

    label: int
    voxels: int
    volume_ml: float
    mean: float
    sd: float


def label_statistics(image: np.ndarray, labels: np.ndarray, spacing_zyx: Sequence[float],
                     values: Iterable[int] | None = None) -> list[LabelStats]:
    """Per-label statistics of a (Z, Y, X) label map on its (Z, Y, X) image; ``spacing_zyx`` in mm.

    values: the labels to report (default: every non-zero value present), in that order; an absent one has 0 voxels.
    """
    image, labels = np.asarray(image), np.asarray(labels)
    if image.shape != labels.shape:
        raise ValueError(f"image {image.shape} and labels {labels.shape} must have the same shape")
    values = sorted(int(v) for v in np.unique(labels) if v != 0) if values is None else [int(v) for v in values]
    voxel_ml = float(np.prod(np.asarray(spacing_zyx, dtype=np.float64))) / 1000.0
    flat_labels = labels.ravel()
    flat_image = image.ravel().astype(np.float64)
    size = max([int(flat_labels.max(initial=0)), *values]) + 1
    # one pass for all labels: counts, sums and sums of squares by label value
    counts = np.bincount(flat_labels, minlength=size)
    sums = np.bincount(flat_labels, weights=flat_image, minlength=size)
    squares = np.bincount(flat_labels, weights=flat_image * flat_image, minlength=size)
    rows = []
    for value in values:
        n = int(counts[value])
        mean = sums[value] / n if n else math.nan
        sd = math.sqrt(max(squares[value] / n - mean * mean, 0.0)) if n else math.nan
        rows.append(LabelStats(value, n, n * voxel_ml, float(mean), float(sd)))
    return rows
