"""Smart fill: region growing from a click, bounded by intensity, that never crosses other labels.

The tolerance comes from the local statistics around the seed: the grown region holds the connected pixels whose
intensity lies within ``k`` standard deviations (measured in a small window around the seed) of the window's mean.
A plain label flood fill knows nothing of the image, so an outline with a one-pixel gap lets it flood the whole
slice; bounding by intensity keeps it inside the structure the click is in, and already labelled pixels are walls
unless ``paint_over`` is set.

Shapes: the image and the labels are (Z, Y, X) on the same grid; a seed is (z, y, x) in voxels. 2-D grows in slice
``z`` only, 3-D through the volume (6-connected, so a region cannot leak through a diagonal corner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sra_seg_core.annotation import SliceEdit, make_edit
from sra_seg_core.lazy import lazy_module

ndimage = lazy_module("scipy.ndimage")

DEFAULT_K = 2.5          # standard deviations: a structure's noisy pixels are in, the next tissue is out
WINDOW_RADIUS = 2        # px: a 5 x 5 (x 3 in 3-D) window, small enough to sit inside a thin structure
MIN_STD_FRACTION = 0.01  # of the image's intensity range, so a flat region still grows over its own pixels


@dataclass(frozen=True)
class FillPreview:
    """The region a fill would paint, before it is committed.

    mask:      (Z, Y, X) bool, True where the fill paints (only slice ``seed[0]`` in 2-D).
    seed:      (z, y, x) voxel the fill grew from.
    centre:    intensity the band is centred on (the window mean), image units.
    tolerance: half-width of the intensity band, image units.
    """

    mask: np.ndarray
    seed: tuple[int, int, int]
    centre: float
    tolerance: float

    @property
    def voxels(self) -> int:
        return int(self.mask.sum())


def local_statistics(image: np.ndarray, seed: tuple[int, int, int], *, three_d: bool = False,
                     radius: int = WINDOW_RADIUS) -> tuple[float, float]:
    """(mean, standard deviation) of ``image`` (Z, Y, X) in a window of ``radius`` px around ``seed`` (z, y, x).

    The deviation is at least ``MIN_STD_FRACTION`` of the image's range, so tolerance = k * std is never zero.
    """
    z, y, x = seed
    dz = radius if three_d else 0
    window = image[max(z - dz, 0):z + dz + 1, max(y - radius, 0):y + radius + 1, max(x - radius, 0):x + radius + 1]
    window = window.astype(np.float64, copy=False)
    floor = MIN_STD_FRACTION * float(image.max() - image.min())
    return float(window.mean()), max(float(window.std()), floor)


def smart_fill_preview(image: np.ndarray, labels: np.ndarray, seed: tuple[int, int, int], *, value: int,
                       k: float = DEFAULT_K, tolerance: float | None = None, paint_over: bool = False,
                       three_d: bool = False, fill_holes: bool = True) -> FillPreview:
    """The region a smart fill from ``seed`` would paint with class ``value``.

    image:      (Z, Y, X) any real dtype; labels: (Z, Y, X) uint8, the labels as they are now.
    k:          tolerance in local standard deviations (the slider / wheel); ignored when ``tolerance`` is given.
    tolerance:  half-width of the intensity band in image units, instead of ``k``.
    paint_over: False: pixels labelled with another class are walls and stay as they are; True: they are grown over.
    fill_holes: also paint unlabelled holes enclosed by the region (noise outliers, a papillary muscle in a cavity).
    The region never includes pixels that already hold ``value`` (nothing would change) but grows through them.
    """
    image, labels = np.asarray(image), np.asarray(labels)
    if image.shape != labels.shape or image.ndim != 3:
        raise ValueError(f"image {image.shape} and labels {labels.shape} must be the same (Z, Y, X) shape")
    z, y, x = (int(v) for v in seed)
    if not all(0 <= v < n for v, n in zip((z, y, x), image.shape)):
        raise ValueError(f"seed {(z, y, x)} is outside the {image.shape} volume")
    if not (0 <= value <= 255):
        raise ValueError(f"a label value must be in 0..255, got {value}")
    mean, std = local_statistics(image, (z, y, x), three_d=three_d)
    if tolerance is None:
        if not k >= 0:
            raise ValueError(f"k must be >= 0, got {k!r}")
        tolerance = k * std
    elif not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    zs = slice(None) if three_d else slice(z, z + 1)
    sub_image, sub_labels = image[zs].astype(np.float64, copy=False), labels[zs]
    candidates = np.abs(sub_image - mean) <= tolerance
    if not paint_over:
        candidates &= (sub_labels == 0) | (sub_labels == value)
    local_z = z if three_d else 0
    candidates[local_z, y, x] = True  # the clicked voxel is always part of its own region
    structure = ndimage.generate_binary_structure(3, 1)
    if not three_d:
        structure[0] = structure[2] = False
    components, _ = ndimage.label(candidates, structure=structure)
    region = components == components[local_z, y, x]
    if fill_holes:  # within the region's bounding box: a small fill on a 2048 x 2048 slice stays fast
        box = tuple(slice(int(idx[0]), int(idx[-1]) + 1) for idx in
                    (np.flatnonzero(region.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)))
        holes = ndimage.binary_fill_holes(region[box], structure=structure) & ~region[box]
        region[box] |= holes if paint_over else holes & (sub_labels[box] == 0)
    region &= sub_labels != value
    mask = np.zeros(image.shape, bool)
    mask[zs] = region
    return FillPreview(mask, (z, y, x), mean, float(tolerance))


def preview_edits(labels: np.ndarray, mask: np.ndarray, value) -> list[SliceEdit]:
    """The per-slice edits that write ``value`` where ``mask`` (Z, Y, X) bool is set into ``labels`` (Z, Y, X) uint8.

    value: one label, or a (Z, Y, X) label map whose values are written (a scribble or propagation preview).
    One edit per slice that changes, in slice order; together they are one undo step.
    """
    values = None if np.ndim(value) == 0 else np.asarray(value)
    edits = []
    for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1)):
        where = np.flatnonzero(mask[z])
        edit = make_edit(labels[z], int(z), where, value if values is None else values[z].flat[where])
        if edit is not None:
            edits.append(edit)
    return edits
