"""PNG, JPEG and TIFF output: which pixel values a 2-D picture stores.

- Only one-slice images (``Z == 1``); a volume must be written slice by slice or in a volume format.
- Label maps (``Image.meta["label"]``) keep their values (uint8 or uint16 in PNG). JPEG refuses them, because its
  lossy compression would change class numbers at every edge.
- Other images keep their values when the format holds them exactly — PNG: integers 0..65 535 (uint8 or uint16);
  JPEG: uint8; TIFF: (u)int8/16/32 and float32 (float64 is stored as float32). Anything else (e.g. a float PNG) is
  min-max rescaled to uint8 0..255: a picture for viewing, not data to compute on.
- An explicit ``dtype`` is used instead (floats rounded; values that do not fit are an error, never wrapped).

Reading pictures goes through :mod:`sra_seg_core.io.itk` like any file SimpleITK reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sra_seg_core.errors import InputError
from sra_seg_core.io.dtypes import cast, parse_dtype, rescale_to_uint8, smallest_integer_dtype

RASTER_DTYPES = {
    "PNG": ("uint8", "uint16"),
    "JPEG": ("uint8",),
    "TIFF": ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32"),
}


def raster_pixels(array: np.ndarray, fmt: str, *, is_label: bool, dtype, path: Path) -> np.ndarray:
    """The ``(1, H, W)`` pixels a ``fmt`` picture stores for ``(Z, Y, X)`` data (see the module docstring)."""
    if array.shape[0] != 1:
        raise InputError(
            f"would hold a volume of {array.shape[0]} slices, but a {fmt} file holds one 2-D image; pick a slice, or "
            "write a volume format (.nii.gz, .nrrd, .mha, or a folder for a DICOM series)",
            path,
        )
    allowed = RASTER_DTYPES[fmt]
    if dtype is not None:
        return cast(array, parse_dtype(dtype, allowed, fmt), path)
    if is_label and fmt == "JPEG":
        raise InputError("is a label map; JPEG's lossy compression would change its values, write PNG or TIFF", path)
    if array.dtype.kind in "iu":
        exact = smallest_integer_dtype(array, tuple(map(np.dtype, allowed)))
        if exact is not None:
            return array if array.dtype.name in allowed else array.astype(exact)
    elif array.dtype.kind == "f" and "float32" in allowed:
        return array.astype(np.float32, copy=False)
    if is_label:
        raise InputError(f"is a label map whose values do not fit in {' or '.join(allowed)} {fmt} pixels", path)
    return rescale_to_uint8(array)
