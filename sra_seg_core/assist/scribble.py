"""Scribble-to-segment: a few strokes per class (and background) -> the label map of a slice or a volume.

The algorithm is the seeded watershed on the gradient (the image foresting transform, ``scipy.ndimage.watershed_ift``):
every unmarked pixel takes the class of the scribble it can reach by the path whose highest gradient is lowest, so
regions meet where intensity edges are strongest. It was chosen over the random walker by a one-off measurement
while writing this module: a sparse random walker (warm-started conjugate gradients) took 3-10 s per 256 x 256 update
on two shared cores and its small seeds bled into the background (Myo Dice near 0 from one dab per structure), while
the watershed takes tens of milliseconds and reaches the Dice in ``benchmarks/assist.py``.

State kept between updates (one :class:`ScribbleSegmenter` per image while the user adds strokes): the normalised
image, its block-averaged copy and the quantised gradient, so an update is one foresting transform.

Multiscale: a slice wider than ``max_side`` is solved on a copy block-averaged by ``factor``; the coarse labels are
interpolated back to full resolution as soft class memberships, and pixels in the boundary band (membership below
1 - ``_BAND``) take the class that best combines that membership with how well their own intensity fits each
class's intensity (mean and spread measured on the confident pixels). A 2048 x 2048 fundus slice costs one 512 x 512
transform plus a vectorised pass over the band.

Scribble maps use the CLI's convention: (Z, Y, X) uint8, 0 = not marked, 1..254 = that class, 255 = background.
The result is a (Z, Y, X) uint8 label map with background 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sra_seg_core.lazy import lazy_module

ndimage = lazy_module("scipy.ndimage")

BACKGROUND = 255          # scribble value meaning "background" (0 means "not marked")
DEFAULT_SIGMA = 0.7       # px: Gaussian scale of the gradient; best of 0.7 / 1 / 2 on the cardiac phantoms
DEFAULT_MAX_SIDE = 512    # px: slices larger than this are solved coarse, then refined at full resolution
_BAND = 0.25              # full-resolution decision where the interpolated coarse membership is below 1 - _BAND
_LEVELS = 65535           # the transform takes uint16 costs


@dataclass
class ScribbleResult:
    """labels: (Z, Y, X) uint8, background 0; classes: the labels that had scribbles (0 = background first)."""

    labels: np.ndarray
    classes: tuple[int, ...]


def normalise(image: np.ndarray) -> np.ndarray:
    """(…) float32 in [0, 1] between the 1st and 99th percentile, so the same settings suit any scanner units."""
    image = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(image, (1, 99))
    if hi <= lo:
        return np.zeros(image.shape, np.float32)
    return np.clip((image - lo) / (hi - lo), 0.0, 1.0)


def check_scribbles(scribbles: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``scribbles`` as (Z, Y, X) uint8 on ``shape``; ValueError when the shape or a value is wrong."""
    scribbles = np.asarray(scribbles)
    if scribbles.ndim == 2:
        scribbles = scribbles[None]
    if scribbles.shape != tuple(shape):
        raise ValueError(f"scribbles {scribbles.shape} and image {tuple(shape)} must have the same shape")
    if scribbles.size and (scribbles.min() < 0 or scribbles.max() > 255 or
                           (scribbles.dtype.kind == "f" and np.any(scribbles % 1))):
        raise ValueError("scribble values must be 0 (unmarked), 1..254 (a class) or 255 (background)")
    return scribbles.astype(np.uint8, copy=False)


def scribble_classes(scribbles: np.ndarray) -> tuple[int, ...]:
    """Output labels present in ``scribbles``, background (scribble value 255) as 0, sorted."""
    return tuple(sorted(0 if v == BACKGROUND else int(v) for v in np.unique(scribbles) if v != 0))


def block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """(Z, Y, X) averaged over ``factor`` x ``factor`` in-plane blocks (edge-padded): (Z, ceil(Y/f), ceil(X/f))."""
    if factor == 1:
        return array
    z, y, x = array.shape
    padded = np.pad(array, ((0, 0), (0, -y % factor), (0, -x % factor)), mode="edge")
    return padded.reshape(z, padded.shape[1] // factor, factor, padded.shape[2] // factor, factor).mean(
        axis=(2, 4), dtype=np.float32)


class ScribbleSegmenter:
    """Scribble-to-segment on one image: a slice or, with ``three_d``, a whole volume.

    image:    (Z, Y, X) or (Y, X), any real dtype. Without ``three_d`` each slice is its own problem: a slice's
              scribbles label only that slice, and slices without scribbles come back 0.
    sigma:    Gaussian scale of the gradient in (coarse) pixels.
    max_side: in-plane size above which slices go through the multiscale scheme.
    """

    def __init__(self, image: np.ndarray, *, three_d: bool = False, sigma: float = DEFAULT_SIGMA,
                 max_side: int = DEFAULT_MAX_SIDE):
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[None]
        if image.ndim != 3 or min(image.shape) < 1:
            raise ValueError(f"image must be (Z, Y, X) or (Y, X), got shape {image.shape}")
        self.shape = image.shape
        self.three_d = three_d
        self.image = normalise(image)
        self.factor = max(1, math.ceil(max(self.shape[1:]) / max_side))
        self.coarse = block_mean(self.image, self.factor)
        # In-plane gradient only: across a short-axis stack's 6-10 mm slice gap a z-derivative measures anatomy
        # changing, not an edge; in 3-D the transform still connects slices, through voxels of low in-plane gradient.
        gradient = np.stack([ndimage.gaussian_gradient_magnitude(s, sigma) for s in self.coarse])
        top = float(gradient.max())
        self.cost = (np.round(gradient / top * _LEVELS) if top > 0 else np.zeros(gradient.shape)).astype(np.uint16)
        self.structure = ndimage.generate_binary_structure(3, 1)
        if not three_d:
            self.structure[[0, 2]] = False  # neighbours within the slice only

    def segment(self, scribbles: np.ndarray) -> ScribbleResult:
        """The label map for ``scribbles`` (Z, Y, X) uint8 (0 unmarked, 1..254 class, 255 background).

        A problem (the volume, or a slice in 2-D) with only one kind of mark is labelled all that kind; give a class
        and the background (or two classes) for a boundary.
        """
        scribbles = check_scribbles(scribbles, self.shape)
        classes = scribble_classes(scribbles)
        if not classes:
            raise ValueError("no scribbles: mark at least one class and the background")
        labels = np.zeros(self.shape, np.uint8)
        if self.three_d:
            labels[:] = self._solve(slice(None), scribbles)
        else:
            for z in np.flatnonzero(scribbles.reshape(self.shape[0], -1).any(axis=1)):
                labels[z:z + 1] = self._solve(slice(z, z + 1), scribbles[z:z + 1])
        return ScribbleResult(labels, classes)

    def _solve(self, zs: slice, scribbles: np.ndarray) -> np.ndarray:
        """Labels (z, Y, X) uint8 of one problem: the transform at the coarse scale, refined when coarse."""
        markers = scribbles.astype(np.int16)  # the transform wants signed markers; 255 stays a class of its own
        if self.factor > 1:
            markers = self._coarse_markers(markers)
        flooded = ndimage.watershed_ift(self.cost[zs], markers, structure=self.structure)
        if self.factor > 1:  # the band refinement decides boundary pixels by intensity already
            flooded = self._refine(flooded, self.image[zs], scribbles)
        else:
            flooded = settle_boundary(flooded, self.image[zs], scribbles)
        flooded[flooded == BACKGROUND] = 0
        return flooded.astype(np.uint8)

    def _coarse_markers(self, markers: np.ndarray) -> np.ndarray:
        """Each coarse block takes the mark most of its marked pixels carry (a thin stroke still marks its block)."""
        f, (z, y, x) = self.factor, markers.shape
        padded = np.pad(markers, ((0, 0), (0, -y % f), (0, -x % f)))
        blocks = padded.reshape(z, padded.shape[1] // f, f, padded.shape[2] // f, f).transpose(0, 1, 3, 2, 4)
        blocks = blocks.reshape(*blocks.shape[:3], f * f)
        values = np.unique(markers[markers != 0])
        if values.size == 0:
            return np.zeros(blocks.shape[:3], np.int16)
        counts = np.stack([(blocks == v).sum(axis=-1) for v in values])
        return np.where(counts.max(axis=0) > 0, values[counts.argmax(axis=0)], 0).astype(np.int16)

    def _refine(self, coarse: np.ndarray, image: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
        """Full-resolution labels (z, Y, X) int16 from coarse ones (z, Y/f, X/f), see the module docstring.

        Only pixels of coarse blocks next to a boundary are looked at: elsewhere the membership is 1 for the block's
        label, so the nearest block's label is the answer.
        """
        f, (z, y, x) = self.factor, image.shape
        labels = np.repeat(np.repeat(coarse, f, axis=1), f, axis=2)[:, :y, :x].copy()
        values = np.unique(coarse)
        if values.size > 1:
            edge = label_edges(coarse)
            # class intensities from full-resolution pixels of blocks away from any boundary (one pixel per block)
            stats = class_statistics(coarse, image[:, ::f, ::f], values)
            kz, ky, kx = np.nonzero(np.repeat(np.repeat(edge, f, axis=1), f, axis=2)[:, :y, :x])
            fy = np.clip((ky - (f - 1) / 2) / f, 0, coarse.shape[1] - 1)
            fx = np.clip((kx - (f - 1) / 2) / f, 0, coarse.shape[2] - 1)
            y0, x0 = fy.astype(np.int64), fx.astype(np.int64)
            y1, x1 = np.minimum(y0 + 1, coarse.shape[1] - 1), np.minimum(x0 + 1, coarse.shape[2] - 1)
            wy, wx = (fy - y0).astype(np.float32), (fx - x0).astype(np.float32)
            pixels = image[kz, ky, kx]
            member = np.zeros((values.size, pixels.size), np.float32)
            for yy, xx, w in ((y0, x0, (1 - wy) * (1 - wx)), (y0, x1, (1 - wy) * wx), (y1, x0, wy * (1 - wx)),
                              (y1, x1, wy * wx)):
                neighbour = np.searchsorted(values, coarse[kz, yy, xx])
                member[neighbour, np.arange(pixels.size)] += w
            score = member.copy()
            for i, (mean, std) in enumerate(stats):
                score[i] *= np.exp(-0.5 * ((pixels - mean) / std) ** 2) / std
            # a pixel whose interpolated membership is already near-certain keeps it
            certain = member.max(axis=0) >= 1.0 - _BAND
            labels[kz, ky, kx] = np.where(certain, values[member.argmax(axis=0)], values[score.argmax(axis=0)])
        marked = scribbles != 0  # a scribbled pixel is what the user said it is
        labels[marked] = scribbles[marked]
        return labels.astype(np.int16, copy=False)


def label_edges(labels: np.ndarray) -> np.ndarray:
    """(z, Y, X) bool: pixels with an in-plane 4-neighbour of another label."""
    edge = np.zeros(labels.shape, bool)
    for axis in (1, 2):
        step = np.diff(labels, axis=axis) != 0
        lo, hi = [slice(None)] * 3, [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        edge[tuple(lo)] |= step
        edge[tuple(hi)] |= step
    return edge


def class_statistics(labels: np.ndarray, image: np.ndarray, values: np.ndarray) -> list[tuple[float, float]]:
    """(mean, std) of ``image`` per label in ``values``, from pixels whose 4 in-plane neighbours share their label
    (0.5, 0.5 for a label with no such pixel). The std has a floor of 0.02, so a flat region still admits noise."""
    interior = ~label_edges(labels)
    stats = []
    for v in values:
        own = image[interior & (labels == v)]
        stats.append((float(own.mean()), float(own.std()) + 0.02) if own.size else (0.5, 0.5))
    return stats


def settle_boundary(labels: np.ndarray, image: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    """Move each pixel on a boundary to whichever label among itself and its 4 in-plane neighbours its intensity fits
    best. The transform puts the pixels on an edge's gradient ridge on either side at random; this decides them.

    labels: (z, Y, X) int; image: (z, Y, X) float32 in [0, 1]. Scribbled pixels keep their mark. Returns labels.
    """
    values = np.unique(labels)
    if values.size < 2:
        return labels
    stats = class_statistics(labels, image, values)
    index = np.searchsorted(values, labels)
    padded = np.pad(index, ((0, 0), (1, 1), (1, 1)), mode="edge")
    z, y, x = labels.shape
    neighbours = [padded[:, 1:-1, 1:-1], padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2],
                  padded[:, 1:-1, 2:]]
    boundary = np.zeros(labels.shape, bool)
    for n in neighbours[1:]:
        boundary |= n != neighbours[0]
    boundary &= scribbles == 0
    if not boundary.any():
        return labels
    pixels = image[boundary]
    means = np.array([m for m, _ in stats], np.float32)
    stds = np.array([s for _, s in stats], np.float32)
    best, best_score = None, None
    for n in neighbours:
        candidate = n[boundary]
        score = -0.5 * ((pixels - means[candidate]) / stds[candidate]) ** 2 - np.log(stds[candidate])
        if best is None:
            best, best_score = candidate, score
        else:
            better = score > best_score
            best, best_score = np.where(better, candidate, best), np.maximum(score, best_score)
    labels = labels.copy()
    labels[boundary] = values[best]
    return labels


def segment_scribbles(image: np.ndarray, scribbles: np.ndarray, *, three_d: bool = False, **options) -> np.ndarray:
    """One-shot :class:`ScribbleSegmenter`: the (Z, Y, X) uint8 label map for ``scribbles`` on ``image``."""
    return ScribbleSegmenter(image, three_d=three_d, **options).segment(scribbles).labels
