"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Write to a temporary file in the destination folder, flush and fsync it, rename it over the destination, then fsync
the folder so the rename itself survives a power cut. If anything fails the temporary file is removed and the previous
file is untouched; a file-system error (a full disk, no permission) is raised naming the destination.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

_DOUBLE_SUFFIXES = (".nii.gz", ".tar.gz")


def split_suffix(path: str | os.PathLike) -> tuple[str, str]:
    """Split a file name into (stem, extension), treating ``.nii.gz`` as one extension."""
    name = Path(path).name
    lower = name.lower()
    for double in _DOUBLE_SUFFIXES:
        if lower.endswith(double):
            return name[: -len(double)], name[-len(double) :]
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if dot and stem else (name, "")


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a new, renamed or deleted file) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` to produce the file, then move it atomically onto ``path``.

    The temporary file keeps the destination's extension, so writers that pick a format from the name (nibabel,
    SimpleITK) behave as for the real path. Returns the destination path.
    """
    dest = Path(path)
    folder = dest.parent
    folder.mkdir(parents=True, exist_ok=True)
    stem, ext = split_suffix(dest)
    tmp = folder / f".{stem}.{secrets.token_hex(4)}.tmp{ext}"
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, str(tmp)):
            # name the file the user asked for: a full disk names no file, a failed temporary file is hidden
            raise OSError(exc.errno, exc.strerror or str(exc), str(dest)) from exc
        raise
    fsync_dir(folder)
    return dest


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
