"""NIfTI-1 and NIfTI-2 (``.nii``, ``.nii.gz``) through nibabel. ITK writes NIfTI headers differently, so NIfTI never
goes through SimpleITK.

Reading: nibabel's data is ``[i, j, k]``; it is transposed (a view, no copy) to ``Image.array``'s ``[k, j, i]``.
Uncompressed files are memory-mapped copy-on-write, so the file is neither copied twice nor ever modified; compressed
ones are decompressed straight into the one array they become. The scaled data (``scl_slope`` / ``scl_inter``) is
returned, which stays in the stored integer type when the scaling is identity (label maps stay integer). Big-endian
data is converted to native byte order (torch refuses anything else).

Writing: the header of the image read (``Image.meta["nifti_header"]``) is reused — qform / sform codes, units,
description, extensions — with the new shape and data type, and its qform and sform are set to the image's affine
unless they already encode it. The NIfTI version is kept: a NIfTI-2 source is written as NIfTI-2, anything else as
NIfTI-1 (NIfTI-2 only when a dimension exceeds NIfTI-1's 32 767 limit).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.openers import ImageOpener
from nibabel.spatialimages import HeaderDataError
from nibabel.volumeutils import apply_read_scaling

from sra_seg_core.atomic import atomic_write
from sra_seg_core.errors import InputError
from sra_seg_core.io.info import ImageInfo, Loader, cannot_read

# OverflowError: a damaged header's data offset or size that cannot even be mapped
READ_ERRORS = (ImageFileError, HeaderDataError, OSError, EOFError, ValueError, OverflowError, zlib.error)
NIFTI1_MAX_DIM = 32767
_BLOCK_BYTES = 16 << 20  # decompression step (see _decompressed)
FORMAT = "NIfTI"


def open_nifti(path: Path) -> tuple[ImageInfo, Loader]:
    """Header facts of a NIfTI file, and a function that loads frame ``t`` as ``(array, affine, meta)``.

    array: ``(Z, Y, X)``, or ``(Z, Y, X, C)`` for RGB NIfTI; affine ``(4, 4)`` float64 RAS+ mm.
    """
    try:
        img = nib.load(path)
    except READ_ERRORS as exc:
        raise cannot_read(path, FORMAT, exc) from None
    if not isinstance(img, nib.Nifti1Image):  # NIfTI-2 images are a subclass
        raise InputError(f"is a {type(img).__name__}, not a NIfTI image", path)
    shape = img.shape
    if len(shape) < 2 or any(n != 1 for n in shape[4:]):
        raise InputError(
            f"has {len(shape)} dimensions (shape {shape}); only 2-D and 3-D images and 4-D series of 3-D frames "
            "can be used",
            path,
        )
    x, y, z = (*shape, 1, 1)[:3]
    raw = img.header.get_data_dtype()
    if raw.kind == "c":
        raise InputError("holds complex values; save the magnitude (or one real component) and try again", path)
    fields = raw.names or ()
    dtype = raw[0] if fields else apply_read_scaling(np.zeros(1, raw), img.dataobj.slope, img.dataobj.inter).dtype
    info = ImageInfo(
        FORMAT,
        (z, y, x),
        tuple(float(v) for v in (*img.header.get_zooms()[:3], 1.0)[:3]),
        dtype.newbyteorder("="),
        frames=shape[3] if len(shape) > 3 else 1,
        components=len(fields) or 1,
        dims=2 if len(shape) == 2 else 3,
    )

    def load(frame: int | None) -> tuple[np.ndarray, np.ndarray, dict]:
        try:
            if len(shape) > 3:  # only this frame is read (nibabel slices the file, even a compressed one)
                data = np.asanyarray(img.dataobj[(slice(None),) * 3 + (frame or 0,) + (0,) * (len(shape) - 4)])
            elif not fields and _is_compressed(path):
                data = _decompressed(img)
            else:
                data = np.asanyarray(img.dataobj)
        except READ_ERRORS as exc:
            raise cannot_read(path, FORMAT, exc) from None
        # [i, j, k] -> [k, j, i]; nibabel's arrays are Fortran-ordered, so the transpose is C-ordered and free
        array = np.asarray(data.reshape((x, y, z), order="F").T)
        if fields:
            array = np.stack([array[name] for name in fields], axis=-1)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        elif not array.flags.writeable:  # a frame sliced from decompressed bytes is read-only
            array = array.copy()
        meta = {"nifti_header": img.header.copy()}
        if info.dims == 2:
            meta["dims"] = 2
        return array, img.affine.copy(), meta

    return info, load


def _is_compressed(path: Path) -> bool:
    return str(path).lower().endswith(".gz")


def _decompressed(img: nib.Nifti1Image) -> np.ndarray:
    """The whole scaled volume of a compressed file, decompressed block by block straight into its array.

    nibabel reads through gzip's ``readinto``, which holds a second full copy of the volume while it decompresses;
    this way the peak memory is one volume (plus one more only when scaling makes it floating point).
    """
    proxy = img.dataobj
    raw = np.empty(proxy.shape, img.header.get_data_dtype(), order="F")
    view = memoryview(raw.reshape(-1, order="F").view(np.uint8))
    with ImageOpener(proxy.file_like) as fh:
        fh.seek(proxy.offset)
        done = 0
        while done < len(view):
            read = fh.readinto(view[done : done + _BLOCK_BYTES])
            if not read:
                raise EOFError(f"the file ends {len(view) - done:,} bytes before its image data does")
            done += read
    return apply_read_scaling(raw, proxy.slope, proxy.inter)


def write_nifti(array: np.ndarray, affine: np.ndarray, path: Path, header: nib.Nifti1Header | None = None) -> None:
    """Write ``(Z, Y, X)`` data with a ``(4, 4)`` RAS+ affine atomically, reusing ``header`` if given (see module)."""
    data = array.T  # [k, j, i] -> nibabel's [i, j, k]
    nifti2 = isinstance(header, nib.Nifti2Header) or max(data.shape) > NIFTI1_MAX_DIM
    klass = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    hdr = klass.header_class.from_header(header)
    hdr.set_data_shape(data.shape)
    hdr.set_data_dtype(data.dtype)
    hdr["cal_min"] = hdr["cal_max"] = 0  # the source's display range means nothing for new data (e.g. a label)
    if header is None:
        hdr.set_xyzt_units("mm", "sec")
    if header is None or not np.allclose(hdr.get_best_affine(), affine, atol=1e-6):
        hdr.set_qform(affine)
        hdr.set_sform(affine)
    # affine=None: nibabel keeps the header's qform / sform exactly as prepared above
    atomic_write(path, lambda tmp: klass(data, None, hdr).to_filename(tmp))
