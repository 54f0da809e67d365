"""Which files the I/O package reads and writes, recognised by their names.

A path names its format by its suffix (case-insensitive; ``.nii.gz`` is one suffix). A folder, or an output path with
no suffix or a trailing ``/``, is a DICOM series.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sra_seg_core.atomic import split_suffix
from sra_seg_core.errors import InputError

# suffix -> the format's name as users know it (and as messages and ``Image.meta["format"]`` spell it)
FORMAT_OF_SUFFIX = {
    ".nii": "NIfTI",
    ".nii.gz": "NIfTI",
    ".nrrd": "NRRD",
    ".nhdr": "NRRD",
    ".mha": "MetaImage",
    ".mhd": "MetaImage",
    ".dcm": "DICOM",
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(FORMAT_OF_SUFFIX)
DICOM_SERIES = "DICOM series"
# 2-D picture formats: their geometry (if any) is not a patient position, so labels are matched by shape only
RASTER_FORMATS = frozenset({"PNG", "JPEG", "TIFF"})


def suffix_of(path: str | os.PathLike) -> str:
    """The lower-case suffix of a file name, ``.nii.gz`` counted as one (``""`` if none)."""
    return split_suffix(path)[1].lower()


def strip_suffix(path: str | os.PathLike) -> str:
    """The file name without its suffix: ``case_01.nii.gz`` -> ``case_01`` (used to pair images with labels)."""
    return split_suffix(path)[0]


def is_supported(path: str | os.PathLike) -> bool:
    """True if the file name has a suffix :func:`read_image` reads. Judged by name only, without touching the disk,
    so a DICOM series folder is not recognised here (pass the folder to ``read_image`` directly)."""
    return suffix_of(path) in FORMAT_OF_SUFFIX


def format_name(path: str | os.PathLike, *, is_folder: bool) -> str:
    """The format a path is read or written as; raises InputError for an unsupported suffix."""
    if is_folder:
        return DICOM_SERIES
    suffix = suffix_of(path)
    if suffix not in FORMAT_OF_SUFFIX:
        what = f"file type '{suffix}'" if suffix else "file name (no suffix)"
        raise InputError(
            f"has an unsupported {what}; supported are {', '.join(SUPPORTED_SUFFIXES)} and DICOM series folders", path
        )
    return FORMAT_OF_SUFFIX[suffix]


def natural_key(name: str) -> list:
    """Sort key that orders ``img2`` before ``img10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Supported image files directly in ``folder``, in natural order (``img2`` before ``img10``).

    Hidden files (unfinished atomic writes start with ``.``) and ``.dcm`` files are left out: ``.dcm`` files are
    usually the slices of one series, which is read by passing the folder itself to ``read_image``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("is not a folder", folder)
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and is_supported(p) and suffix_of(p) != ".dcm"
    ]
    return sorted(files, key=lambda p: natural_key(p.name))
