"""Axial, coronal and sagittal planes of a (Z, Y, X) volume: which array axes each shows, how they are flipped so the
patient appears the way radiologists read it, the true pixel size, and the orientation markers of each edge.

Which array axis is "axial" comes from the affine with nibabel's ``io_orientation`` semantics: each voxel axis is
matched to the world (RAS+) axis it is closest to, so an oblique acquisition (a cardiac short-axis stack) is shown on
its own voxel grid, without resampling, in the plane nearest to each anatomical one. The display convention is
ITK-SNAP's / the radiological one:

==========  ==========  =============  ==============
plane       normal      top of screen  left of screen
==========  ==========  =============  ==============
axial       S/I         anterior (A)   patient right (R)
coronal     A/P         superior (S)   patient right (R)
sagittal    R/L         superior (S)   anterior (A)
==========  ==========  =============  ==============

Markers are computed from the affine for the displayed axes themselves (the dominant RAS component of each screen
direction), so an oblique plane whose "up" is mostly anterior is marked A even when it leans.

Axis order reminder (:mod:`sra_seg_core.image`): ``array[k, j, i]``; voxel axis i (affine column 0) is array axis 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLANES = ("axial", "coronal", "sagittal")
_LETTERS = (("R", "L"), ("A", "P"), ("S", "I"))  # (+, -) of world axes 0, 1, 2

# plane -> (world axis of the normal, world axis running down the screen, world axis running right on the screen);
# rows and columns increase toward the negative world direction (down = P or I, right = L or P), see the table above.
_LAYOUT = {"axial": (2, 1, 0), "coronal": (1, 2, 0), "sagittal": (0, 2, 1)}


@dataclass(frozen=True)
class PlaneGeometry:
    """How one plane is cut out of a (Z, Y, X) array and shown.

    normal, rows, cols:   array axes (0 = Z/k, 1 = Y/j, 2 = X/i) held fixed, running down and running right.
    flip_rows, flip_cols: whether that array axis runs against the screen direction.
    shape:                (rows, cols) of a displayed slice; depth: number of slices along ``normal``.
    pixel_mm:             (row height, column width) in mm: the display aspect (thick slices look thick).
    markers:              the letter (R, L, A, P, S, I) at each edge: keys "top", "bottom", "left", "right".
    """

    name: str
    normal: int
    rows: int
    cols: int
    flip_rows: bool
    flip_cols: bool
    shape: tuple[int, int]
    depth: int
    pixel_mm: tuple[float, float]
    markers: dict

    @property
    def is_acquisition(self) -> bool:
        """True for the plane of the stored slices (``array[k]``), the one a label can be painted in."""
        return self.normal == 0

    def slice(self, volume: np.ndarray, index: int) -> np.ndarray:
        """Slice ``index`` along the normal of a (Z, Y, X[, C]) array as (rows, cols[, C]): a view, not a copy."""
        plane = volume[(slice(None),) * self.normal + (int(index),)]  # basic indexing: a view (np.take copies)
        rest = [a for a in range(3) if a != self.normal]
        order = [rest.index(self.rows), rest.index(self.cols), *range(2, plane.ndim)]
        plane = plane.transpose(order)
        if self.flip_rows:
            plane = plane[::-1]
        if self.flip_cols:
            plane = plane[:, ::-1]
        return plane

    def voxel(self, index: int, row: float, col: float) -> tuple[int, int, int]:
        """The (z, y, x) voxel shown at (row, col) of slice ``index``; row and col in pixels (floats are floored)."""
        r, c = int(np.floor(row)), int(np.floor(col))
        zyx = [0, 0, 0]
        zyx[self.normal] = int(index)
        zyx[self.rows] = self.shape[0] - 1 - r if self.flip_rows else r
        zyx[self.cols] = self.shape[1] - 1 - c if self.flip_cols else c
        return tuple(zyx)  # type: ignore[return-value]

    def position(self, index: int, row: float, col: float) -> tuple[float, float, float]:
        """Continuous voxel coordinates (z, y, x) (voxel centres at whole numbers) of the point (row, col) in pixel
        units of slice ``index`` (pixel (r, c) covers [r, r+1) x [c, c+1)): for measuring between clicked points."""
        zyx = [0.0, 0.0, 0.0]
        zyx[self.normal] = float(index)
        zyx[self.rows] = self.shape[0] - 0.5 - row if self.flip_rows else row - 0.5
        zyx[self.cols] = self.shape[1] - 0.5 - col if self.flip_cols else col - 0.5
        return tuple(zyx)  # type: ignore[return-value]

    def locate(self, zyx) -> tuple[int, int, int]:
        """(slice index, row, col) at which voxel (z, y, x) is shown: the inverse of :meth:`voxel`."""
        index, r, c = int(zyx[self.normal]), int(zyx[self.rows]), int(zyx[self.cols])
        return (index, self.shape[0] - 1 - r if self.flip_rows else r, self.shape[1] - 1 - c if self.flip_cols else c)


def _letter(direction: np.ndarray, axis: int) -> str:
    """The letter of world ``axis`` on the side ``direction`` points to. The axis is the one nibabel's io_orientation
    assigned to the voxel axis, not the direction's own largest component: in a double-oblique short-axis scan both
    in-plane directions can lie nearest to R, and two edges reading R tell a clinician nothing."""
    return _LETTERS[axis][0 if direction[axis] > 0 else 1]


def plane_geometries(affine: np.ndarray, shape, *, stored: bool = False) -> dict[str, PlaneGeometry]:
    """The three planes of a (Z, Y, X) volume with the (4, 4) voxel (i, j, k) -> RAS+ mm ``affine``.

    stored: show the array as stored instead (the plane of ``array[k]`` with row 0 on top and column 0 on the left,
    the others with rows along k; no flips; which plane is called axial, coronal or sagittal and the markers still
    come from the affine) — for pictures (PNG, a fundus photograph) whose identity affine says nothing about a
    patient, and for views that must agree pixel for pixel with a painting canvas showing ``array[k]``.
    """
    from nibabel.orientations import io_orientation

    affine = np.asarray(affine, dtype=np.float64)
    ornt = io_orientation(affine)  # per voxel axis i, j, k: (nearest world axis, +1/-1)
    array_axis_of_world = {int(world): 2 - voxel for voxel, (world, _) in enumerate(ornt)}
    world_of_array_axis = {array: world for world, array in array_axis_of_world.items()}
    spacing_zyx = np.linalg.norm(affine[:3, :3], axis=0)[::-1]
    planes = {}
    for name, (normal_w, rows_w, cols_w) in _LAYOUT.items():
        normal, rows, cols = (array_axis_of_world[w] for w in (normal_w, rows_w, cols_w))
        if stored:  # axial (k fixed): rows j, columns i; the others: rows k, columns the remaining axis
            rows, cols = (1, 2) if normal == 0 else (0, 2 if normal == 1 else 1)
        # the voxel axis's true world direction (affine column), and whether it points to the + side of its world axis
        rows_dir, cols_dir = affine[:3, 2 - rows], affine[:3, 2 - cols]
        flip_rows = False if stored else bool(rows_dir[rows_w] > 0)
        flip_cols = False if stored else bool(cols_dir[cols_w] > 0)
        down, right = -rows_dir if flip_rows else rows_dir, -cols_dir if flip_cols else cols_dir
        down_w, right_w = world_of_array_axis[rows], world_of_array_axis[cols]
        markers = {"top": _letter(-down, down_w), "bottom": _letter(down, down_w),
                   "left": _letter(-right, right_w), "right": _letter(right, right_w)}
        planes[name] = PlaneGeometry(
            name, normal, rows, cols, flip_rows, flip_cols, (int(shape[rows]), int(shape[cols])), int(shape[normal]),
            (float(spacing_zyx[rows]), float(spacing_zyx[cols])), markers,
        )
    return planes


def acquisition_plane(planes: dict[str, PlaneGeometry]) -> str:
    """The name of the plane that shows the stored slices (the one labels are painted in)."""
    return next(name for name, plane in planes.items() if plane.is_acquisition)
