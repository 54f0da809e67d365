"""Files SimpleITK reads and writes: NRRD (``.nrrd``, ``.nhdr``), MetaImage (``.mha``, ``.mhd``), single DICOM files
and 2-D pictures (PNG, JPEG, TIFF).

ITK keeps geometry as LPS spacing / origin / direction; :class:`~sra_seg_core.image.Image` converts to and from the
NIfTI affine without loss. A 2-D ITK image is lifted to 3-D with z spacing 1, origin z 0 and an identity third axis.
A 4-D file is read one 3-D frame at a time (ITK extracts only that frame). Headers that name a data file must keep
it beside them (:mod:`.detached`); pictures get what ITK misses from :mod:`.pictures`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile
from pathlib import Path

import numpy as np

from sra_seg_core.atomic import atomic_write
from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io import pictures
from sra_seg_core.io.detached import HEADER_SUFFIXES, check_data_files
from sra_seg_core.io.formats import RASTER_FORMATS, suffix_of
from sra_seg_core.io.info import ImageInfo, Loader, cannot_read, short_reason
from sra_seg_core.lazy import lazy_module

sitk = lazy_module("SimpleITK")  # imported on first use (start-up time)

_SCALAR_TYPES = ("UInt8", "Int8", "UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64", "Float32", "Float64")


@functools.cache
def numpy_dtype_of_pixel() -> dict[int, np.dtype]:
    """SimpleITK pixel type -> numpy dtype of one channel; complex and label-map types are absent on purpose."""
    return {getattr(sitk, f"sitk{prefix}{name}"): np.dtype(name.lower())
            for name in _SCALAR_TYPES for prefix in ("", "Vector")}


# these keep pixels in a second file that the header names
_DETACHED_SUFFIXES = (".mhd", ".nhdr")
_LOSSY_SUFFIXES = (".jpg", ".jpeg")


def lift_geometry(image: sitk.Image) -> np.ndarray:
    """The (4, 4) RAS+ affine of a 2-D or 3-D SimpleITK image (2-D: z spacing 1, origin z 0)."""
    spacing, origin = list(image.GetSpacing()), list(image.GetOrigin())
    direction = np.eye(3)
    n = image.GetDimension()
    direction[:n, :n] = np.reshape(image.GetDirection(), (n, n))
    return Image.affine_from_itk(spacing + [1.0] * (3 - n), origin + [0.0] * (3 - n), direction)


def from_sitk(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """``(array, affine)``: array ``(Z, Y, X)`` or ``(Z, Y, X, C)`` for multi-channel pixels, affine (4, 4) RAS+."""
    array = sitk.GetArrayFromImage(image)
    if image.GetDimension() == 2:
        array = array[None]
    return array, lift_geometry(image)


def read_header(reader: sitk.ImageFileReader, path: Path, fmt: str, count: int = 1) -> ImageInfo:
    """ImageInfo from ``reader.ReadImageInformation()`` (no pixels decoded); ``count`` files of this size stacked."""
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise cannot_read(path, fmt, exc) from None
    dims = reader.GetDimension()
    if dims not in (2, 3, 4):
        raise InputError(f"has {dims} dimensions; only 2-D, 3-D and 4-D (3-D frames) images can be used", path)
    dtype = numpy_dtype_of_pixel().get(reader.GetPixelID())
    if dtype is None:
        kind = sitk.GetPixelIDValueAsString(reader.GetPixelID())
        raise InputError(f"has {kind} pixels, which cannot be used; save it with real or integer values", path)
    x, y, z = (*reader.GetSize(), 1)[:3]
    return ImageInfo(
        fmt,
        (z * count, y, x),
        tuple(float(v) for v in (*reader.GetSpacing(), 1.0)[:3]),
        dtype,
        frames=reader.GetSize()[3] if dims == 4 else 1,
        components=reader.GetNumberOfComponents(),
        dims=2 if dims == 2 and count == 1 else 3,
    )


def open_itk(path: Path, fmt: str, *, indexed: bool = False) -> tuple[ImageInfo, Loader]:
    """Header facts of a file SimpleITK reads, and a function that loads frame ``t`` as ``(array, affine, meta)``.

    ``indexed``: a palette picture gives its palette indices (a label map), not their colours.
    """
    if suffix_of(path) in HEADER_SUFFIXES:
        check_data_files(path)
    facts = pictures.picture_facts(path, fmt) if fmt in RASTER_FORMATS else pictures.PictureFacts()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    info = read_header(reader, path, fmt)
    if facts.transposed:  # rows and columns swap places when the picture is turned upright
        z, y, x = info.shape
        sx, sy, sz = info.spacing
        info = dataclasses.replace(info, shape=(z, x, y), spacing=(sy, sx, sz))

    def load(frame: int | None) -> tuple[np.ndarray, np.ndarray, dict]:
        if reader.GetDimension() == 4:  # a zero extract size drops the time axis
            reader.SetExtractIndex((0, 0, 0, frame or 0))
            reader.SetExtractSize((*reader.GetSize()[:3], 0))
        pictures.check_complete(path, fmt)  # first: libjpeg would print its own warning for a truncated file
        try:
            image = reader.Execute()
        except RuntimeError as exc:
            raise cannot_read(path, fmt, exc) from None
        array, affine = from_sitk(image)
        if indexed and facts.palette:
            array = pictures.palette_indices(path)
        meta = {"dims": 2} if info.dims == 2 else {}
        if facts.orientation != 1:
            array = pictures.orient(array, facts.orientation)
            meta["exif_orientation"] = facts.orientation
            if facts.transposed:  # a picture's geometry is its pixel size: keep it axis-aligned, sizes swapped
                origin = [*image.GetOrigin(), 0.0][:3]
                affine = Image.affine_from_itk([*info.spacing[:2], 1.0], origin, np.eye(3))
        return array, affine, meta

    return info, load


def to_sitk(array: np.ndarray, geometry: Image, *, two_d: bool = False) -> sitk.Image:
    """A SimpleITK image of ``(Z, Y, X)`` data placed by ``geometry``'s affine.

    ``two_d``: a 2-D image of ``array[0]`` with only the in-plane spacing (picture formats store no position).
    """
    if two_d:
        image = sitk.GetImageFromArray(array[0])
        image.SetSpacing(geometry.spacing[:2])
        return image
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin_lps)
    image.SetDirection(geometry.direction_lps.ravel().tolist())
    return image


def write_itk(image: sitk.Image, path: Path, fmt: str) -> None:
    """Write ``image`` atomically in the format of ``path``'s suffix (lossless compression where the format has it)."""
    compress = suffix_of(path) not in _LOSSY_SUFFIXES
    try:
        if suffix_of(path) in _DETACHED_SUFFIXES:
            _write_detached(image, path)
        else:
            atomic_write(path, lambda tmp: sitk.WriteImage(image, str(tmp), compress))
    except RuntimeError as exc:
        raise InputError(f"cannot be written as {fmt}: {short_reason(exc)}", path) from None


def _write_detached(image: sitk.Image, path: Path) -> None:
    """Header + data file formats. Both are written under their final names in a temporary folder beside ``path``,
    then moved into place data first, header last, so the header never names data that is not there yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as staging:
        staged = Path(staging) / path.name
        sitk.WriteImage(image, str(staged), True)
        for data_file in Path(staging).iterdir():
            if data_file != staged:
                atomic_write(path.parent / data_file.name, lambda tmp, src=data_file: os.replace(src, tmp))
        atomic_write(path, lambda tmp: os.replace(staged, tmp))
