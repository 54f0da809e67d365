"""The pixel logic of manual labelling: brush, eraser, flood fill, polygon, copy and interpolation between slices.

Every tool returns a :class:`SliceEdit` — the flat indices of the pixels it changes on one (Y, X) slice with their
values before and after — and leaves the label volume alone; the caller applies it, journals it
(``Project.append_stroke``) and keeps it as one undo step. Nothing here loops over pixels in Python, so a 2048 x 2048
fundus slice paints and fills at interactive speed.

Conventions
-----------
- Label slices are (Y, X) uint8 and volumes (Z, Y, X) uint8; 0 is background.
- Coordinates are (y, x) in pixels, pixel ``(j, i)`` being the unit square centred on ``(j, i)``: a shape covers a
  pixel when it covers the pixel's centre.
- ``spacing_yx`` is the pixel size in mm; brushes and distances are round in mm, not in pixels.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from sra_seg_core.lazy import lazy_module
from sra_seg_core.project.manifest import SliceStatus

ndimage = lazy_module("scipy.ndimage")  # imported on first use (start-up time)


def _strictly_increasing(values: np.ndarray) -> bool:
    return bool(np.all(values[1:] > values[:-1]))


def _frozen(values, dtype) -> np.ndarray:
    """A read-only (N,) view, so an edit kept for undo cannot be changed behind the history's back."""
    view = np.asarray(values, dtype=dtype).reshape(-1).view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class SliceEdit:
    """One undoable change to one slice: flat indices into the (Y, X) slice and the values before and after.

    indices: (N,) int64, sorted and unique; old, new: (N,) uint8. The arrays are read-only.
    """

    z: int
    indices: np.ndarray
    old: np.ndarray
    new: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "z", int(self.z))
        for name, dtype in (("indices", np.int64), ("old", np.uint8), ("new", np.uint8)):
            object.__setattr__(self, name, _frozen(getattr(self, name), dtype))
        if self.z < 0:
            raise ValueError(f"slice index must be >= 0, got {self.z}")
        if not self.indices.shape == self.old.shape == self.new.shape:
            raise ValueError(
                f"indices, old and new must have one length, got {self.indices.size}, {self.old.size}, {self.new.size}"
            )
        if self.indices.size and (self.indices[0] < 0 or not _strictly_increasing(self.indices)):
            raise ValueError("indices must be non-negative, sorted and unique")

    @property
    def nbytes(self) -> int:
        """Memory held by the pixel arrays, in bytes (17 per pixel)."""
        return self.indices.nbytes + self.old.nbytes + self.new.nbytes

    def inverse(self) -> SliceEdit:
        """The edit that undoes this one."""
        return SliceEdit(self.z, self.indices, self.new, self.old)

    def apply(self, volume: np.ndarray) -> None:
        """Write ``new`` into ``volume`` (Z, Y, X) uint8, in place."""
        if volume.ndim != 3:  # a (Y, X) slice would take the edit as a row index and write the wrong pixels
            raise ValueError(f"an edit applies to a (Z, Y, X) volume, got shape {volume.shape}")
        volume[self.z].flat[self.indices] = self.new

    def merged(self, other: SliceEdit) -> SliceEdit:
        """One edit with the effect of this edit followed by ``other`` (made on top of it, on the same slice).

        Where both touch a pixel, ``old`` comes from this edit and ``new`` from ``other``; pixels that end at the value
        they started with are left out, so the result may hold no pixels (``other`` undid this edit).
        """
        if other.z != self.z:
            raise ValueError(f"cannot merge edits of different slices ({self.z} and {other.z})")
        _, mine, theirs = np.intersect1d(self.indices, other.indices, assume_unique=True, return_indices=True)
        if np.any(self.new[mine] != other.old[theirs]):
            raise ValueError("the second edit was not made on top of the first: their shared pixels disagree")
        indices = np.union1d(self.indices, other.indices)
        at_mine, at_theirs = np.searchsorted(indices, self.indices), np.searchsorted(indices, other.indices)
        old, new = np.empty(indices.size, np.uint8), np.empty(indices.size, np.uint8)
        old[at_theirs], old[at_mine] = other.old, self.old
        new[at_mine], new[at_theirs] = self.new, other.new
        changed = old != new
        return SliceEdit(self.z, indices[changed], old[changed], new[changed])


def _check_slice(slice_labels: np.ndarray) -> None:
    if slice_labels.ndim != 2 or slice_labels.dtype != np.uint8:
        raise ValueError(f"a label slice must be (Y, X) uint8, got {slice_labels.shape} {slice_labels.dtype}")


def _check_volume(volume: np.ndarray, *zs: int) -> None:
    if volume.ndim != 3 or volume.dtype != np.uint8:
        raise ValueError(f"a label volume must be (Z, Y, X) uint8, got {volume.shape} {volume.dtype}")
    for z in zs:
        if not 0 <= z < volume.shape[0]:
            raise ValueError(f"slice {z} is outside the volume, which has {volume.shape[0]} slices")


def _label_value(value) -> int:
    if not (float(value).is_integer() and 0 <= value <= 255):
        raise ValueError(f"a label value must be an integer in 0..255, got {value!r}")
    return int(value)


def make_edit(slice_labels: np.ndarray, z: int, indices, new_values) -> SliceEdit | None:
    """The edit that writes ``new_values`` at ``indices`` of ``slice_labels``, keeping only pixels that change.

    slice_labels: (Y, X) uint8, the slice as it is now (not modified). indices: (N,) integer flat indices into it, in
    any order; a repeated index keeps its last value, as assignment would. new_values: a label or (N,) labels.
    Returns None when no pixel changes.
    """
    _check_slice(slice_labels)
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    new = np.asarray(new_values)
    if new.size and (new.min() < 0 or new.max() > 255 or (new.dtype.kind == "f" and np.any(new % 1))):
        raise ValueError("new label values must be integers in 0..255")
    if new.ndim and new.shape != indices.shape:
        raise ValueError(f"got {indices.size} indices but {new.size} new values")
    new = np.broadcast_to(new.astype(np.uint8), indices.shape)
    if indices.size and (indices.min() < 0 or indices.max() >= slice_labels.size):
        raise ValueError(f"indices must be in 0..{slice_labels.size - 1} (flat in a {slice_labels.shape} slice)")
    if not _strictly_increasing(indices):  # the tools pass sorted indices: skip the sort for them
        last = indices.size - 1 - np.unique(indices[::-1], return_index=True)[1]
        indices, new = indices[last], new[last]
    old = np.take(slice_labels, indices)
    changed = old != new
    if not changed.all():  # a fill that changes every pixel it covers skips three copies of millions of values
        indices, old, new = indices[changed], old[changed], new[changed]
    return SliceEdit(z, indices, old, new) if indices.size else None


def _masked_edit(slice_labels: np.ndarray, z: int, where: np.ndarray | None, new) -> SliceEdit | None:
    """The edit that writes ``new`` (a label or (Y, X) uint8 labels) where the (Y, X) bool mask ``where`` is set
    (everywhere when None) — :func:`make_edit` for tools that produce a mask, without sorting or gathering twice."""
    changed = slice_labels != new
    indices = np.flatnonzero(changed if where is None else changed & where)
    if not indices.size:
        return None
    new_values = np.full(indices.size, new, np.uint8) if np.ndim(new) == 0 else np.take(new, indices)
    return SliceEdit(z, indices, np.take(slice_labels, indices), new_values)


def _semi_axes(radius: float, spacing_yx) -> tuple[float, float]:
    """Semi-axes (ry, rx) in pixels of a disc of ``radius`` pixels of the finer axis, round in mm."""
    sy, sx = (float(s) for s in spacing_yx)
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"brush radius must be a finite number >= 0, got {radius!r}")
    if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
        raise ValueError(f"pixel spacing must be positive, got {tuple(spacing_yx)}")
    finer = min(sy, sx)
    return radius * finer / sy, radius * finer / sx


def _count_runs(shape: tuple[int, int], rows: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """(H, W) int32: how many runs cover each pixel, run n being columns ``starts[n]`` to ``stops[n]`` (exclusive) of
    row ``rows[n]``; columns are clipped to the width. Rasterises brushes and polygons as row spans, so the work is
    one entry per span plus one cumulative sum over the canvas, never one per pixel per shape."""
    height, width = shape
    starts, stops = np.clip(starts, 0, width), np.clip(stops, 0, width)
    keep = starts < stops
    edges = np.zeros((height, width + 1), np.int32)
    np.add.at(edges, (rows[keep], starts[keep]), 1)
    np.add.at(edges, (rows[keep], stops[keep]), -1)
    return np.cumsum(edges[:, :width], axis=1, dtype=np.int32)


def _disc_spans(centres: np.ndarray, ry: float, rx: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row spans (rows, first column, last column; (S * h,) int64, empty spans dropped) of an ellipse of semi-axes
    (ry, rx) pixels around each of ``centres`` (S, 2) (y, x), with the pixel holding each centre: a thin ellipse, or a
    radius under 1, may cover no pixel centre."""
    cy, cx = centres[:, :1], centres[:, 1:]
    ny, nx = np.floor(cy + 0.5), np.floor(cx + 0.5)  # the centre's pixel, half-up: pixel j covers [j - 0.5, j + 0.5)
    rows = ny + np.arange(-math.ceil(ry) - 1, math.ceil(ry) + 2)  # (S, h), a margin over the ellipse
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero semi-axis leaves only the centre's pixel
        dy2 = ((rows - cy) / ry) ** 2
    inside = dy2 <= 1.0
    # A small allowance keeps centres exactly on the ellipse (e.g. (3, 4) from a radius-5 centre) in, despite rounding.
    half = rx * np.sqrt(np.where(inside, 1.0 - dy2, 0.0)) + 1e-9
    first = np.where(inside, np.ceil(cx - half), np.inf)
    last = np.where(inside, np.floor(cx + half), -np.inf)
    centre_row = rows == ny
    first = np.where(centre_row, np.minimum(first, nx), first)
    last = np.where(centre_row, np.maximum(last, nx), last)
    keep = first <= last
    return rows[keep].astype(np.int64), first[keep].astype(np.int64), last[keep].astype(np.int64)


def stroke_indices(points_yx: Sequence[tuple[float, float]], radius: float, shape: tuple[int, int],
                   spacing_yx=(1.0, 1.0)) -> np.ndarray:
    """Flat indices (sorted, unique, int64) of a brush dragged along the polyline ``points_yx`` (y, x in pixels).

    The brush is :func:`disk_indices`' disc. Discs are stamped along each segment at most half a semi-axis apart (half
    a pixel for brushes under one pixel), so a fast mouse move leaves no gap; a one-pixel brush draws an 8-connected
    line. Clipped to ``shape`` (Y, X).
    """
    points = np.asarray(points_yx, dtype=np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(points)):
        raise ValueError("brush positions must be finite")
    height, width = shape
    ry, rx = _semi_axes(radius, spacing_yx)
    if points.shape[0] == 0:
        return np.empty(0, np.int64)
    # Stamp centres: each segment cut into steps of at most half a semi-axis (in units of the semi-axes).
    steps = np.diff(points, axis=0) / [max(ry, 1.0), max(rx, 1.0)]
    pieces = np.ceil(np.hypot(steps[:, 0], steps[:, 1]) / 0.5).astype(np.int64)
    segment = np.repeat(np.arange(pieces.size), pieces)  # the segment of each stamp after the first point
    step = np.arange(segment.size) - np.repeat(np.cumsum(pieces) - pieces, pieces) + 1  # 1..n within its segment
    start, end = points[segment], points[segment + 1]
    centres = np.concatenate([points[:1], start + (step / pieces[segment])[:, None] * (end - start)])
    # Paint on a canvas covering the stroke's bounding box only.
    top = max(math.floor(centres[:, 0].min() - ry) - 1, 0)
    left = max(math.floor(centres[:, 1].min() - rx) - 1, 0)
    bottom = min(math.ceil(centres[:, 0].max() + ry) + 1, height - 1)
    right = min(math.ceil(centres[:, 1].max() + rx) + 1, width - 1)
    if top > bottom or left > right:
        return np.empty(0, np.int64)
    rows, first, last = _disc_spans(centres, ry, rx)
    on_slice = (rows >= top) & (rows <= bottom)
    rows, first, last = rows[on_slice] - top, first[on_slice] - left, last[on_slice] - left
    covered = _count_runs((bottom - top + 1, right - left + 1), rows, first, last + 1)
    rows, cols = np.nonzero(covered)
    return (rows + top).astype(np.int64) * width + (cols + left)


def disk_indices(center_yx: tuple[float, float], radius: float, shape: tuple[int, int],
                 spacing_yx=(1.0, 1.0)) -> np.ndarray:
    """Flat indices (sorted, unique, int64) of a filled brush disc on a slice of ``shape`` (Y, X), clipped to it.

    center_yx in pixels; radius in pixels of the finer axis. Under anisotropic ``spacing_yx`` (mm) the disc is an
    ellipse in pixels and round in mm. Pixels whose centre is within the radius are in, and so always is the pixel
    holding ``center_yx``: a radius below 1 paints that one pixel.
    """
    return stroke_indices([center_yx], radius, shape, spacing_yx)


def paint(slice_labels: np.ndarray, z: int, indices, value: int, *,
          overwrite: bool | Collection[int] = True) -> SliceEdit | None:
    """Brush (``value`` = a class) or eraser (``value`` = 0) on ``indices`` of ``slice_labels`` (Y, X) uint8.

    overwrite: True paints every pixel; False paints only background pixels (don't paint over other classes); a set of
    classes paints background and those classes. Returns the edit of the pixels that change, or None.
    """
    _check_slice(slice_labels)
    value = _label_value(value)
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if overwrite is not True:
        may_change = [0, *(overwrite or ())]
        current = np.take(slice_labels, indices)
        indices = indices[np.isin(current, may_change)]
    return make_edit(slice_labels, z, indices, value)


_STRUCTURE = {4: np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool), 8: np.ones((3, 3), bool)}  # 4- / 8-connectivity


def flood_fill(slice_labels: np.ndarray, z: int, seed_yx: tuple[int, int], value: int, *,
               image: np.ndarray | None = None, tolerance: float | None = None,
               connectivity: int = 4) -> SliceEdit | None:
    """Fill the region around ``seed_yx`` (y, x pixel) with ``value``.

    Without ``image``: the connected region of the seed's label. With ``image`` (Y, X, any real dtype, e.g. the slice's
    grey values) and ``tolerance`` (same units): region growing — the connected pixels whose intensity is within
    ``tolerance`` of the seed's, whatever their label. connectivity: 4 (edges) or 8 (edges and corners).
    Returns the edit, or None when nothing changes (e.g. filling a region with its own label).
    """
    _check_slice(slice_labels)
    value = _label_value(value)
    if connectivity not in _STRUCTURE:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    if (image is None) != (tolerance is None):
        raise ValueError("region growing needs both an image and a tolerance; give neither to fill a label region")
    y, x = (int(v) for v in seed_yx)
    if not (0 <= y < slice_labels.shape[0] and 0 <= x < slice_labels.shape[1]):
        raise ValueError(f"seed {(y, x)} is outside the {slice_labels.shape} slice")
    if image is None:
        if slice_labels[y, x] == value:
            return None
        candidates = slice_labels == slice_labels[y, x]
    else:
        image = np.asarray(image)
        if image.shape != slice_labels.shape:
            raise ValueError(f"image {image.shape} and label slice {slice_labels.shape} differ in shape")
        if not tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
        seed_value = image[y, x].astype(np.float64)
        candidates = np.abs(image.astype(np.float64, copy=False) - seed_value) <= tolerance
    components, _ = ndimage.label(candidates, structure=_STRUCTURE[connectivity])
    return _masked_edit(slice_labels, z, components == components[y, x], value)


def polygon_indices(vertices_yx: Sequence[tuple[float, float]], shape: tuple[int, int]) -> np.ndarray:
    """Flat indices (sorted, int64) of the pixels of a slice of ``shape`` (Y, X) whose centre is inside the polygon.

    vertices_yx: (y, x) in pixels, the polygon closing itself; even-odd rule, so a self-crossing polygon has holes. A
    centre on a top or left edge is in, on a bottom or right edge out, so polygons that share an edge share no pixel
    and an axis-aligned rectangle of corners (y0, x0), (y1, x1) at integer positions holds (y1-y0)(x1-x0) pixels.
    Fewer than 3 vertices: no pixels.
    """
    vertices = np.asarray(vertices_yx, dtype=np.float64).reshape(-1, 2)
    height, width = shape
    if vertices.shape[0] < 3:
        return np.empty(0, np.int64)
    if not np.all(np.isfinite(vertices)):
        raise ValueError("polygon vertices must be finite")
    rows = np.arange(max(math.ceil(vertices[:, 0].min()), 0), min(math.floor(vertices[:, 0].max()), height - 1) + 1)
    left = max(math.ceil(vertices[:, 1].min()), 0)
    right = min(math.floor(vertices[:, 1].max()), width - 1)
    if rows.size == 0 or left > right:
        return np.empty(0, np.int64)
    # Scanline: where each row of centres crosses each edge; half-open in y so a vertex is counted once.
    (y0, x0), (y1, x1) = vertices.T, np.roll(vertices, -1, axis=0).T
    crosses = (np.minimum(y0, y1) <= rows[:, None]) & (rows[:, None] < np.maximum(y0, y1))
    row, edge = np.nonzero(crosses)
    x_cross = x0[edge] + (rows[row] - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
    # A centre is inside when an odd number of crossings lie strictly to its right: each crossing toggles the run of
    # centres x < ceil(x_cross).
    stops = np.ceil(x_cross).astype(np.int64) - left
    toggles = _count_runs((rows.size, right - left + 1), row, np.zeros_like(stops), stops)
    r, c = np.nonzero(toggles % 2 == 1)
    return rows[r].astype(np.int64) * width + (c + left)


def _replace_layers(current: np.ndarray, source: np.ndarray, classes: Collection[int] | None,
                    overwrite: bool = True) -> np.ndarray:
    """``current`` (Y, X) uint8 with its layer of ``classes`` replaced by ``source``'s (all classes when None).

    overwrite=False only adds ``source``'s pixels of those classes onto background and clears nothing.
    """
    if classes is None:
        layer_here, layer_there = current != 0, source != 0
    else:
        wanted = [c for c in classes if c != 0]
        layer_here, layer_there = np.isin(current, wanted), np.isin(source, wanted)
    result = current.copy()
    if overwrite:
        result[layer_here] = 0
        result[layer_there] = source[layer_there]
    else:
        onto = layer_there & (current == 0)
        result[onto] = source[onto]
    return result


def copy_slice(volume: np.ndarray, source_z: int, target_z: int, *,
               classes: Collection[int] | None = None) -> SliceEdit | None:
    """The edit that makes slice ``target_z`` of ``volume`` (Z, Y, X) uint8 a copy of slice ``source_z``.

    classes: copy only these classes — the target's pixels of these classes are replaced by the source's, which are
    written over whatever the target holds there; its other classes stay. Returns None when nothing changes.
    """
    _check_volume(volume, source_z, target_z)
    target = volume[target_z]
    return _masked_edit(target, target_z, None, _replace_layers(target, volume[source_z], classes))


def _signed_distance(mask: np.ndarray, spacing_yx) -> np.ndarray:
    """(Y, X) float64 mm: distance to the mask outside it, minus the distance to the background inside it."""
    if mask.all():  # no border on the slice: deeper than any distance on it
        return np.full(mask.shape, -float(np.hypot(*(np.asarray(mask.shape) * spacing_yx))))
    return (ndimage.distance_transform_edt(~mask, sampling=spacing_yx)
            - ndimage.distance_transform_edt(mask, sampling=spacing_yx))


def interpolate_slices(volume: np.ndarray, z_a: int, z_b: int, *, classes: Collection[int] | None = None,
                       spacing_zyx=(1.0, 1.0, 1.0), overwrite: bool = False) -> list[SliceEdit]:
    """Edits filling every slice strictly between the labelled slices ``z_a`` and ``z_b`` (either order) of ``volume``.

    volume: (Z, Y, X) uint8, not modified. Each class (``classes``, default: every class on either end slice) is
    interpolated linearly, slice by slice, between its signed distance maps on the two end slices (mm, in-plane spacing
    ``spacing_zyx[1:]``; slices are evenly spaced, so the z spacing does not matter). A pixel takes the class with the
    most negative interpolated distance, the lowest class on a tie, and stays background when no class is below 0.

    A class on only one end slice shrinks towards the other: the empty side's distance is the class's greatest depth D
    (mm from its deepest pixel to its border), so at a fraction t of the way it is the class eroded by D·t/(1-t) mm and
    it is gone half way.

    overwrite=False writes interpolated pixels onto background only; True replaces the in-between slices' layer of
    these classes (their pixels the interpolation leaves out become background). Returns one edit per changed slice.
    Raises ValueError when an end slice has no labels.
    """
    _check_volume(volume, z_a, z_b)
    if z_a == z_b:
        raise ValueError(f"interpolation needs two different slices, got {z_a} twice")
    z_a, z_b = sorted((int(z_a), int(z_b)))
    end_a, end_b = volume[z_a], volume[z_b]
    for z, end in ((z_a, end_a), (z_b, end_b)):
        if not end.any():
            raise ValueError(f"slice {z} has no labels: label both end slices before interpolating between them")
    present = np.union1d(np.unique(end_a), np.unique(end_b))
    wanted = present[present != 0] if classes is None else [c for c in sorted(set(classes)) if c in present and c]
    if z_b - z_a < 2 or len(wanted) == 0:
        return []
    spacing_yx = tuple(float(s) for s in spacing_zyx[1:])
    distances = []  # per class: (distance on z_a, distance on z_b)
    for c in wanted:
        on_a, on_b = end_a == c, end_b == c
        if on_a.any() and on_b.any():
            distances.append((_signed_distance(on_a, spacing_yx), _signed_distance(on_b, spacing_yx)))
        else:
            present_side = _signed_distance(on_a if on_a.any() else on_b, spacing_yx)
            empty_side = np.full_like(present_side, -present_side.min())
            distances.append((present_side, empty_side) if on_a.any() else (empty_side, present_side))
    at_a = np.stack([d[0] for d in distances])
    at_b = np.stack([d[1] for d in distances])
    class_values = np.asarray(wanted, dtype=np.uint8)
    edits = []
    for z in range(z_a + 1, z_b):
        t = (z - z_a) / (z_b - z_a)
        blended = (1.0 - t) * at_a + t * at_b
        nearest = blended.argmin(axis=0)
        labels = np.where(np.take_along_axis(blended, nearest[None], 0)[0] < 0, class_values[nearest], 0)
        labels = labels.astype(np.uint8)
        edit = _masked_edit(volume[z], z, None, _replace_layers(volume[z], labels, wanted, overwrite))
        if edit is not None:
            edits.append(edit)
    return edits


def next_unlabelled(status: str, start: int, *, direction: int = 1) -> int | None:
    """The first slice after ``start`` (going ``direction`` +1 or -1, wrapping round, ``start`` itself last) whose
    status is not done.

    status: the project's per-slice string, one :class:`~sra_seg_core.project.SliceStatus` character per slice.
    start: any integer, taken modulo the slice count (-1 with direction +1 starts at slice 0). None when all are done.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be 1 or -1, got {direction!r}")
    count = len(status)
    for step in range(1, count + 1):
        z = (start + direction * step) % count
        if status[z] != SliceStatus.DONE.value:
            return z
    return None


class UndoBudget:
    """Byte bookkeeping for an undo history capped in memory; the history (a ``QUndoStack`` in the app) owns the edits.

    Records one size per undo step, oldest first. The newest step is always kept, even when it alone is over the cap,
    so the last edit can always be undone.
    """

    def __init__(self, cap_bytes: int = 256 * 2**20):
        if cap_bytes <= 0:
            raise ValueError(f"the undo memory cap must be positive, got {cap_bytes}")
        self.cap_bytes = cap_bytes
        self._sizes: deque[int] = deque()
        self.used_bytes = 0

    def __len__(self) -> int:
        return len(self._sizes)

    def push(self, nbytes: int) -> int:
        """Record a new step of ``nbytes``; return how many of the oldest steps to drop to stay under the cap (they are
        forgotten here too)."""
        if nbytes < 0:
            raise ValueError(f"an undo step cannot hold {nbytes} bytes")
        self._sizes.append(int(nbytes))
        self.used_bytes += int(nbytes)
        dropped = 0
        while self.used_bytes > self.cap_bytes and len(self._sizes) > 1:
            self.used_bytes -= self._sizes.popleft()
            dropped += 1
        return dropped

    def pop(self) -> None:
        """Forget the newest step (the history discarded it, e.g. a redo branch replaced by a new edit)."""
        if not self._sizes:
            raise IndexError("the undo budget records no steps")
        self.used_bytes -= self._sizes.pop()

    def clear(self) -> None:
        self._sizes.clear()
        self.used_bytes = 0
