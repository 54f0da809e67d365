"""Triangle meshes of a label map's classes, in world millimetres, for a 3-D view.

Each class is meshed with scikit-image's marching cubes (Lewiner) on its own bounding box (plus a one-voxel margin so
the surface closes), at iso-level 0.5 of the binary mask — or of the mask smoothed by a small Gaussian, which rounds
the staircase that thick slices leave. Vertices are mapped through the affine, so the mesh lies where the scan does
in RAS+ space, and thick slices are as thick as they are. ``step`` > 1 takes every step-th voxel for a coarser, faster
mesh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sra_seg_core.lazy import lazy_module

ndimage = lazy_module("scipy.ndimage")  # imported on first use (start-up time)


@dataclass(frozen=True)
class Mesh:
    """One class's surface. vertices: (N, 3) float32 RAS+ mm; faces: (M, 3) int32 vertex indices."""

    label: int
    vertices: np.ndarray
    faces: np.ndarray


def label_mesh(labels: np.ndarray, value: int, affine: np.ndarray, *, step: int = 1,
               smooth_sigma: float = 0.0) -> Mesh | None:
    """The surface of the voxels equal to ``value`` in a (Z, Y, X) label map, or None if there are none.

    affine:       (4, 4) voxel (i, j, k) -> RAS+ mm.
    step:         marching-cubes step size in voxels (1 = full resolution).
    smooth_sigma: Gaussian sigma in voxels applied to the mask first (0 = none).
    """
    from skimage.measure import marching_cubes

    mask = np.asarray(labels) == value
    boxes = ndimage.find_objects(mask.view(np.uint8))
    if not boxes or boxes[0] is None:
        return None
    box = boxes[0]
    crop = np.pad(mask[box], 1).astype(np.float32)  # the margin closes surfaces at the array edge too
    start = np.array([s.start for s in box]) - 1  # the padded crop begins one voxel before the box
    if smooth_sigma > 0:
        crop = ndimage.gaussian_filter(crop, smooth_sigma)
    if crop.max() <= 0.5:  # smoothing can dissolve a single voxel
        return None
    verts_zyx, faces, _, _ = marching_cubes(crop, level=0.5, step_size=max(int(step), 1),
                                            allow_degenerate=False)
    ijk = (verts_zyx + start)[:, ::-1]
    affine = np.asarray(affine, dtype=np.float64)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    return Mesh(int(value), world.astype(np.float32), faces.astype(np.int32))


def label_meshes(labels: np.ndarray, affine: np.ndarray, values: Iterable[int] | None = None, *, step: int = 1,
                 smooth_sigma: float = 0.0) -> dict[int, Mesh]:
    """:func:`label_mesh` of each class value (default: every non-zero value present); classes absent are left out."""
    labels = np.asarray(labels)
    values = [int(v) for v in np.unique(labels) if v != 0] if values is None else list(values)
    meshes = {}
    for value in values:
        mesh = label_mesh(labels, value, affine, step=step, smooth_sigma=smooth_sigma)
        if mesh is not None:
            meshes[int(value)] = mesh
    return meshes


def mesh_volume_mm3(mesh: Mesh) -> float:
    """Enclosed volume of a closed mesh in mm³ (divergence theorem; sign-independent)."""
    v = mesh.vertices.astype(np.float64)[mesh.faces]
    return float(abs(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum()) / 6.0)
