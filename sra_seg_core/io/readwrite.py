"""``read_image`` / ``write_image``: pick the reader or writer from the path and apply the checks every format shares.

Reading never modifies the input. Writing is atomic: on any error the destination is left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io.dicom import DICOM_DTYPES, dicom_pixels, open_dicom_series, write_dicom
from sra_seg_core.io.dtypes import cast, parse_dtype, storable
from sra_seg_core.io.formats import DICOM_SERIES, RASTER_FORMATS, format_name, suffix_of
from sra_seg_core.io.grey import check_grey_rule, to_grey
from sra_seg_core.io.info import ImageInfo, Loader, check_finite, check_geometry
from sra_seg_core.io.itk import open_itk, to_sitk, write_itk
from sra_seg_core.io.nifti import open_nifti, write_nifti
from sra_seg_core.io.raster import raster_pixels
from sra_seg_core.regular_files import check_regular

MAX_PIXELS = 100_000_000
# volume formats store every numeric type numpy and the formats share
VOLUME_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64")


def _open(path: str | os.PathLike, series: str | None, indexed: bool = False) -> tuple[Path, ImageInfo, Loader]:
    path = Path(path)
    if not path.exists():
        raise InputError("does not exist", path)
    fmt = format_name(path, is_folder=path.is_dir())
    if series is not None and fmt != DICOM_SERIES:
        raise InputError("is not a folder, so there is no DICOM series to choose (series= / --series)", path)
    if fmt == DICOM_SERIES:
        return path, *open_dicom_series(path, series)
    check_regular(path, follow_links=True)  # a FIFO or device would block the reader, or never end
    if path.stat().st_size == 0:
        raise InputError(f"is empty (0 bytes), not a {fmt} image", path)
    return path, *(open_nifti(path) if fmt == "NIfTI" else open_itk(path, fmt, indexed=indexed))


def read_info(path: str | os.PathLike, *, series: str | None = None) -> ImageInfo:
    """What the header of an image file (or DICOM series folder) says, without decoding any pixel."""
    return _open(path, series)[1]


def read_pixels(
    path: str | os.PathLike,
    to_scalar: Callable[[np.ndarray, Path], np.ndarray],
    *,
    frame: int | None,
    series: str | None,
    max_pixels: int,
    indexed: bool = False,
) -> Image:
    """The one reading path behind :func:`read_image` and :func:`~sra_seg_core.io.labels.read_label`:
    ``to_scalar`` turns ``(..., C)`` multi-channel pixels into one value per pixel; ``indexed`` reads a palette
    picture's indices instead of its colours."""
    path, info, load = _open(path, series, indexed)
    info.check_size(max_pixels, path)
    t = info.frame_index(frame, path)
    array, affine, meta = load(t)
    if array.ndim == 4:
        array = to_scalar(array, path)
    check_finite(array, path)
    check_geometry(affine, path)
    if t is not None:
        meta["frame"] = t
    return Image(array, affine, path, {"format": info.format, **meta})


def read_image(
    path: str | os.PathLike,
    *,
    frame: int | None = None,
    grey: str = "luminance",
    max_pixels: int = MAX_PIXELS,
    series: str | None = None,
) -> Image:
    """Read an image file or DICOM series folder as an :class:`Image`, array ``(Z, Y, X)`` = ``[k, j, i]``.

    path:       .nii / .nii.gz (NIfTI-1, NIfTI-2), .nrrd / .nhdr / .mha / .mhd, a DICOM series folder, a .dcm file,
                .png / .jpg / .jpeg / .tif / .tiff (2-D: shape ``(1, H, W)``, ``meta["dims"] == 2``).
    frame:      which 3-D frame of a 4-D file (``meta["frame"]``); required for 4-D files, 0 or None otherwise.
    grey:       colour -> grey rule, one of ``GREY_RULES`` (see :mod:`sra_seg_core.io.grey`).
    max_pixels: refuse images with more pixels per frame, judged from the header before decoding.
    series:     Series Instance UID, to pick one series of a DICOM folder that holds several.

    Integer data keeps its stored dtype; real data is float32 or float64 (NIfTI scaling applied). Every problem with
    the file raises :class:`InputError` naming it: missing, empty, unreadable, too large, 4-D without ``frame``,
    an empty dimension, or NaN / Inf values.
    """
    check_grey_rule(grey)
    return read_pixels(
        path, lambda pixels, p: to_grey(pixels, grey, p), frame=frame, series=series, max_pixels=max_pixels
    )


def write_image(image: Image, path: str | os.PathLike, *, dtype=None, reference: Image | None = None) -> Path:
    """Write ``image`` atomically in the format named by ``path``; returns the path written.

    path:      any suffix :func:`read_image` reads; a path with no suffix or a trailing ``/`` (or an existing folder)
               is written as a DICOM series folder.
    dtype:     the data type to store (floats rounded to integers; values that do not fit raise InputError). By
               default the image's own type where the format holds it; see :mod:`~sra_seg_core.io.raster` for
               pictures and :mod:`~sra_seg_core.io.dicom` for DICOM.
    reference: take the geometry (affine, and the NIfTI header if it has one) from this image instead, e.g. to write
               a label with its source image's geometry; shapes must match.

    ``image.meta["label"]`` marks a label map: never rescaled, and refused by JPEG. For NIfTI output a
    ``meta["nifti_header"]`` is reused (see :mod:`~sra_seg_core.io.nifti`).
    """
    is_folder = str(path).endswith(("/", os.sep)) or Path(path).is_dir() or not suffix_of(path)
    path = Path(path)
    fmt = format_name(path, is_folder=is_folder)
    geometry = image if reference is None else reference
    if geometry.shape != image.shape:
        raise InputError(
            f"cannot take the geometry of {reference.source or 'the reference image'}: "
            f"its shape {reference.shape} differs from the image's {image.shape} (slices, rows, columns)",
            path,
        )
    is_label = bool(image.meta.get("label"))
    array = storable(image.array)
    if fmt in RASTER_FORMATS:
        pixels = raster_pixels(array, fmt, is_label=is_label, dtype=dtype, path=path)
        write_itk(to_sitk(pixels, geometry, two_d=True), path, fmt)
    elif fmt in (DICOM_SERIES, "DICOM"):
        if fmt == "DICOM" and array.shape[0] != 1:
            raise InputError(
                f"would hold {array.shape[0]} slices, but a .dcm file holds one; give a folder path (no suffix) to "
                "write a DICOM series",
                path,
            )
        if dtype is not None:
            pixels, tags = cast(array, parse_dtype(dtype, DICOM_DTYPES, fmt), path), {}
        else:
            pixels, tags = dicom_pixels(array, is_label=is_label, path=path)
        write_dicom(pixels, geometry, path, series=fmt == DICOM_SERIES, extra_tags=tags)
    else:
        if dtype is not None:
            array = cast(array, parse_dtype(dtype, VOLUME_DTYPES, fmt), path)
        if fmt == "NIfTI":
            header = geometry.meta.get("nifti_header", image.meta.get("nifti_header"))
            write_nifti(array, geometry.affine, path, header)
        else:
            write_itk(to_sitk(array, geometry), path, fmt)
    return path
