"""The one in-memory image type: a scalar array and the geometry that places it in the world.

Axis order
----------
``Image.array`` is indexed ``[k, j, i]`` — (slices, rows, columns) — where ``(i, j, k)`` are the voxel indices of the
NIfTI / ITK header (``i`` fastest in the file). This is SimpleITK's ``GetArrayFromImage`` order; nibabel's
``get_fdata()`` is ``[i, j, k]`` and is transposed on read. A 2-D image (PNG, one slice) has shape ``(1, H, W)``.
A slice for display or training is ``array[k]``, shape ``(rows, columns)``.

Geometry
--------
``Image.affine`` is the NIfTI affine: a (4, 4) float64 matrix mapping ``(i, j, k, 1)`` to RAS+ world millimetres. ITK's
LPS spacing / origin / direction are derived from it (and back) without loss, so a volume read from NIfTI and written to
NRRD / MHA / DICOM and back keeps the same world position of every voxel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# RAS <-> LPS: flip the first two world axes.
_LPS = np.diag([-1.0, -1.0, 1.0])


@dataclass
class Image:
    """A scalar image volume with world geometry.

    array:  (Z, Y, X) = [k, j, i]; any numeric dtype. 2-D images are (1, H, W).
    affine: (4, 4) float64, voxel (i, j, k, 1) -> RAS+ mm.
    source: the file or folder it was read from, if any.
    meta:   format extras that writers may use (``nifti_header``, ``dims`` = 2 for single 2-D images, ``frame``).
    """

    array: np.ndarray
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    source: Path | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim == 2:
            self.array = self.array[None]
        if self.array.ndim != 3:
            raise ValueError(f"Image.array must be (Z, Y, X), got shape {self.array.shape}")
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"Image.affine must be 4x4, got {self.affine.shape}")
        if self.source is not None:
            self.source = Path(self.source)

    # --- geometry -------------------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def is_2d(self) -> bool:
        return self.meta.get("dims") == 2 or self.array.shape[0] == 1

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along (i, j, k) — columns, rows, slices."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Voxel size in mm in array order (slices, rows, columns) — what scipy's ``sampling=`` wants."""
        sx, sy, sz = self.spacing
        return (sz, sy, sx)

    @property
    def origin_lps(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in _LPS @ self.affine[:3, 3])  # type: ignore[return-value]

    @property
    def direction_lps(self) -> np.ndarray:
        """(3, 3) ITK direction cosines (columns are the i, j, k axes in LPS)."""
        return _LPS @ self.affine[:3, :3] / np.asarray(self.spacing)[None, :]

    @staticmethod
    def affine_from_itk(spacing, origin, direction) -> np.ndarray:
        """NIfTI affine from ITK geometry (LPS origin, row-major 3x3 direction, spacing along i, j, k)."""
        spacing = np.asarray(spacing, dtype=np.float64)
        direction = np.asarray(direction, dtype=np.float64).reshape(3, 3)
        affine = np.eye(4)
        affine[:3, :3] = _LPS @ direction @ np.diag(spacing)
        affine[:3, 3] = _LPS @ np.asarray(origin, dtype=np.float64)
        return affine

    @classmethod
    def from_spacing(cls, array: np.ndarray, spacing=(1.0, 1.0, 1.0), **kwargs) -> Image:
        """An axis-aligned image with the given (i, j, k) voxel size in mm and origin 0."""
        return cls(array, np.diag([*map(float, spacing), 1.0]), **kwargs)

    def world(self, ijk) -> np.ndarray:
        """World RAS+ mm coordinates of voxel index (i, j, k) (any leading shape)."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def same_geometry(self, other: Image, atol: float = 1e-4) -> bool:
        return self.shape == other.shape and np.allclose(self.affine, other.affine, atol=atol)

    def with_array(self, array: np.ndarray, **meta) -> Image:
        """A new image on the same grid (a label map or prediction for this image)."""
        array = array[None] if array.ndim == 2 else array
        if array.shape != self.array.shape:
            raise ValueError(f"array shape {array.shape} does not match image shape {self.array.shape}")
        return Image(array, self.affine.copy(), None, {**self.meta, **meta})
