"""DICOM series: a folder of slice files, read and written with SimpleITK (GDCM).

Reading: the folder's series are listed by Series Instance UID; a folder with several series needs ``series=`` to pick
one. Slices are ordered by position along the slice normal, and spacing / origin / direction come from Image Position
and Orientation (Patient), so the affine is the patient geometry. A volume has one spacing, so a series that does not
fit one is refused rather than read with the wrong geometry (ITK would only print a warning): a missing slice (a gap),
two slices at one position, uneven spacing, or a ``.dcm`` file that GDCM cannot read (which it would silently leave
out of the series). Resample such a series in a DICOM tool first.

Writing: one file per slice, ``IM00001.dcm`` ..., with Image Position / Orientation (Patient), Pixel Spacing and Slice
Thickness / Spacing Between Slices set so that reading the folder back gives the same world position for every voxel.
DICOM slices stack along the normal of the row and column directions, so a left-handed volume (common in NIfTI) comes
back with its slices in reverse order and the matching affine: the same voxels at the same places. Pixels are stored
as integers:

- label maps and integer images whose values fit are stored exactly as uint8, int16 or uint16;
- anything else (real values, or wider integers) is stored as int16 with Rescale Slope / Intercept spanning the value
  range, i.e. quantised to 65 535 steps (value range / 65 534 precision); reading gives the rescaled float values.

The files carry no patient data: they are Secondary Capture objects (modality OT) with new UIDs (``2.25.<uuid>``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from pathlib import Path

import numpy as np

from sra_seg_core.atomic import atomic_write
from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io.dtypes import smallest_integer_dtype, value_range
from sra_seg_core.io.formats import DICOM_SERIES, suffix_of
from sra_seg_core.io.info import ImageInfo, Loader, cannot_read, short_reason
from sra_seg_core.io.itk import from_sitk, read_header, to_sitk
from sra_seg_core.lazy import lazy_module
from sra_seg_core.regular_files import check_regular

sitk = lazy_module("SimpleITK")  # imported on first use (start-up time)

DICOM_DTYPES = ("uint8", "int16", "uint16")
_EXACT = tuple(map(np.dtype, DICOM_DTYPES))
_INT16_STEPS = 65534  # -32767 .. 32767
SAME_POSITION_MM = 1e-3  # slice positions closer than this are the same place
SPACING_TOLERANCE = 0.01  # a relative step difference above this is uneven (scanners write positions to ~1e-4 mm)


def open_dicom_series(folder: Path, series: str | None = None) -> tuple[ImageInfo, Loader]:
    """Header facts of one DICOM series in ``folder`` and a function that loads it as ``(array, affine, meta)``."""
    _check_special_files(folder)
    try:
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
        files = {uid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid) for uid in uids}
    except RuntimeError as exc:
        raise cannot_read(folder, DICOM_SERIES, exc) from None
    listing = "; ".join(f"{uid} ({len(names)} files)" for uid, names in files.items())
    if not files:
        raise InputError("holds no DICOM series (no readable DICOM files); give a DICOM folder or an image", folder)
    if series is None and len(files) > 1:
        raise InputError(
            f"holds {len(files)} DICOM series: {listing}; choose one with series= (--series in the CLI)", folder
        )
    if series is not None and series not in files:
        raise InputError(f"has no DICOM series {series}; it holds {listing}", folder)
    _check_all_read(folder, files)
    uid = series or uids[0]
    try:
        names = _in_slice_order(files[uid], folder)
    except RuntimeError as exc:
        raise cannot_read(folder, DICOM_SERIES, exc) from None
    first = sitk.ImageFileReader()
    first.SetFileName(names[0])
    info = read_header(first, folder, DICOM_SERIES, count=len(names))

    def load(frame: int | None) -> tuple[np.ndarray, np.ndarray, dict]:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(names)
        try:
            image = reader.Execute()
        except RuntimeError as exc:
            raise cannot_read(folder, DICOM_SERIES, exc) from None
        array, affine = from_sitk(image)
        return array, affine, {"dicom_series": uid}

    return info, load


def _check_special_files(folder: Path) -> None:
    """Refuse a FIFO, socket or device among the files: GDCM opens every file in the folder, and one of these stops
    its listing part-way (or blocks it)."""
    for entry in folder.iterdir():
        if not entry.is_dir():
            check_regular(entry, follow_links=True)


def _check_all_read(folder: Path, files: dict[str, tuple[str, ...]]) -> None:
    """Refuse a folder with a ``.dcm`` file that belongs to no series: GDCM leaves a file it cannot parse out."""
    listed = {Path(name).name for names in files.values() for name in names}
    left_out = sorted(p.name for p in folder.iterdir() if suffix_of(p) == ".dcm" and p.is_file()
                      and not p.name.startswith(".") and p.name not in listed)
    if left_out:
        more = f" and {len(left_out) - 1} more" if len(left_out) > 1 else ""
        raise InputError(f"holds {left_out[0]!r}{more}, which cannot be read as a DICOM slice (damaged or not "
                         "DICOM), so the series would have a hole; replace or remove the file", folder)


def _in_slice_order(names: tuple[str, ...], folder: Path) -> list[str]:
    """Files by ascending position along their slice normal (row x column direction), so the volume is right-handed.

    GDCM sorts this way too, but only once its dictionary is loaded: the first listing in a process comes back in
    file-name order, so the same folder could be read in either slice order. InputError when the positions are not
    evenly spaced (see the module docstring).
    """
    position = []
    for name in names:
        reader = sitk.ImageFileReader()
        reader.SetFileName(name)
        reader.ReadImageInformation()
        normal = np.reshape(reader.GetDirection(), (3, 3))[:, 2]
        position.append(float(np.dot(reader.GetOrigin(), normal)))
    order = np.argsort(position, kind="stable")
    _check_even(folder, [Path(names[i]).name for i in order], np.asarray(position)[order])
    return [names[i] for i in order]


def _check_even(folder: Path, names: list[str], positions: np.ndarray) -> None:
    """Refuse duplicate positions, gaps and uneven steps between slices (positions in mm, ascending)."""
    if len(positions) < 2:
        return
    steps = np.diff(positions)
    same = np.flatnonzero(steps < SAME_POSITION_MM)
    if same.size:
        k = int(same[0])
        raise InputError(
            f"has two slices at the same position ({names[k]!r} and {names[k + 1]!r} at {positions[k]:.4g} mm "
            f"along the slice normal): a duplicate slice or two series mixed in one folder; remove the extra one",
            folder,
        )
    step = float(np.median(steps))
    uneven = np.flatnonzero(np.abs(steps - step) > max(SPACING_TOLERANCE * step, SAME_POSITION_MM))
    if uneven.size:
        k = int(uneven[0])
        what = (f"about {round(steps[k] / step) - 1} slice(s) missing" if steps[k] > 1.5 * step
                else "uneven slice spacing")
        raise InputError(
            f"is not evenly spaced: {what} between {names[k]!r} and {names[k + 1]!r} ({steps[k]:.4g} mm apart, "
            f"the other slices {step:.4g} mm); a volume needs one spacing — add the missing slices or resample "
            "the series in a DICOM tool",
            folder,
        )


def dicom_pixels(array: np.ndarray, *, is_label: bool, path: Path) -> tuple[np.ndarray, dict[str, str]]:
    """The pixels DICOM stores for ``(Z, Y, X)`` data and the extra tags they need (rescale), see the module."""
    integral = array.dtype.kind in "iu" or bool(np.array_equal(array, np.rint(array)))
    exact = smallest_integer_dtype(array, _EXACT) if integral else None
    if exact is not None:
        return array.astype(exact, copy=False), {}
    if is_label:
        lo, hi = value_range(array)
        raise InputError(f"label values {lo:g} to {hi:g} do not fit in 16 bits, so DICOM cannot store them", path)
    lo, hi = value_range(array)
    slope = _ds((hi - lo) / _INT16_STEPS) if hi > lo else "1"
    intercept = _ds(lo + (_INT16_STEPS // 2) * float(slope))
    # GDCM quantises real pixels itself from these tags: stored = (value - intercept) / slope, as signed 16-bit
    tags = {"0028|1053": slope, "0028|1052": intercept, "0028|0100": "16", "0028|0101": "16", "0028|0102": "15",
            "0028|0103": "1"}  # fmt: skip
    return array.astype(np.float64, copy=False), tags


def write_dicom(pixels: np.ndarray, geometry: Image, path: Path, *, series: bool, extra_tags: dict[str, str]) -> None:
    """Write ``(Z, Y, X)`` pixels from :func:`dicom_pixels` placed by ``geometry``: a series folder (``series``) or one
    ``.dcm`` file (Z must be 1). The folder appears complete or not at all; an existing folder may only hold ``.dcm``
    files, which are replaced."""
    try:
        if not series:
            atomic_write(path, lambda tmp: _write_slices(pixels, geometry, [tmp], extra_tags))
            return
        _check_replaceable(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        staging.mkdir()
        try:
            _write_slices(pixels, geometry, [staging / f"IM{k + 1:05d}.dcm" for k in range(len(pixels))], extra_tags)
            _replace_folder(staging, path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except RuntimeError as exc:
        raise InputError(f"cannot be written as DICOM: {short_reason(exc)}", path) from None


def _check_replaceable(folder: Path) -> None:
    if not folder.exists():
        return
    if not folder.is_dir():
        raise InputError("exists and is a file; give a folder name for the DICOM series", folder)
    if any(suffix_of(p) != ".dcm" for p in folder.iterdir()):
        raise InputError("exists and holds files other than DICOM slices; give a new or empty folder", folder)


def _replace_folder(new: Path, dest: Path) -> None:
    if not dest.exists():
        os.replace(new, dest)
        return
    old = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.old")
    os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def _write_slices(pixels: np.ndarray, geometry: Image, files: list, extra_tags: dict[str, str]) -> None:
    volume = to_sitk(pixels, geometry)
    direction = geometry.direction_lps
    sx, sy, sz = geometry.spacing
    common = {
        "0008|0008": "DERIVED\\SECONDARY",
        "0008|0060": "OT",
        "0008|103e": "SRA-Seg export",
        "0020|000d": _uid(),
        "0020|000e": _uid(),
        "0020|0052": _uid(),
        "0020|0011": "1",
        # row direction (along i, the columns) then column direction (along j, the rows)
        "0020|0037": "\\".join(_ds(v) for v in (*direction[:, 0], *direction[:, 1])),
        "0028|0030": f"{_ds(sy)}\\{_ds(sx)}",  # spacing between rows, then between columns
        "0018|0050": _ds(sz),
        "0018|0088": _ds(sz),
        **extra_tags,
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()  # use the UIDs above instead of new ones per file
    for k, name in enumerate(files):
        image = volume[:, :, k : k + 1]
        tags = {**common, "0008|0018": _uid(), "0020|0013": str(k + 1),
                "0020|0032": "\\".join(_ds(v) for v in volume.TransformIndexToPhysicalPoint((0, 0, k)))}  # fmt: skip
        for tag, value in tags.items():
            image.SetMetaData(tag, value)
        writer.SetFileName(str(name))
        writer.Execute(image)


def _uid() -> str:
    """A DICOM UID derived from a random UUID (the 2.25 root needs no registered organisation)."""
    return f"2.25.{uuid.uuid4().int}"


def _ds(value: float) -> str:
    """A DICOM decimal string: the most precise rendering that fits its 16 characters."""
    return next(text for digits in range(16, 0, -1) if len(text := f"{float(value):.{digits}g}") <= 16)
