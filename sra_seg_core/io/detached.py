"""Header files that name their pixel data in another file: MetaImage (``ElementDataFile``) and NRRD (``data file``).

``.mhd`` / ``.nhdr`` headers always do, and ``.mha`` / ``.nrrd`` may. The header is text anyone can edit, and ITK opens
whatever it names, so a header could read any file on the machine (``/home/x/.ssh/id_rsa``), or a FIFO that blocks
the reader forever. The data files must therefore sit beside the header: a plain file name (no folder part), a regular
file, in the header's own folder once links are resolved. Lists (``LIST``) and numbered patterns (``slice%03d.raw 1
40 1``) are checked file by file.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from sra_seg_core.errors import InputError

HEADER_SUFFIXES = (".mhd", ".mha", ".nhdr", ".nrrd")
_HEADER_BYTES = 1 << 20  # headers are a few hundred bytes; data of an attached file follows and is not looked at
_MAX_FILES = 100_000
_META_KEY = re.compile(r"^\s*ElementDataFile\s*=\s*(.*?)\s*$", re.IGNORECASE)
_NRRD_KEY = re.compile(r"^\s*data ?file\s*:\s*(.*?)\s*$", re.IGNORECASE)
_PATTERN = re.compile(r"^(\S*%\S*)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)(?:\s+\d+)?$")


def data_files(header: Path) -> list[str]:
    """The data file names a MetaImage or NRRD header gives, as written ([] when the pixels are in the header file)."""
    with open(header, "rb") as fh:
        text = fh.read(_HEADER_BYTES).decode("latin-1")
    lines = text.splitlines()
    meta = not lines or not lines[0].startswith("NRRD")
    for number, line in enumerate(lines):
        if not meta and not line.strip():
            return []  # the NRRD header ends at its first blank line: the data is attached
        match = (_META_KEY if meta else _NRRD_KEY).match(line)
        if match is None:
            continue
        value = match.group(1)
        if meta and value.upper() == "LOCAL":
            return []
        if value.upper().startswith("LIST"):
            names = [name.strip() for name in lines[number + 1 :] if name.strip()]
            return names[:_MAX_FILES + 1]
        pattern = _PATTERN.match(value)
        if pattern is not None:
            fmt, first, last, step = pattern.group(1), *map(int, pattern.group(2, 3, 4))
            if step == 0 or (last - first) // step + 1 > _MAX_FILES:
                return [fmt]  # refused below as not a file beside the header
            try:
                return [fmt % k for k in range(first, last + (1 if step > 0 else -1), step)]
            except (TypeError, ValueError):
                return [fmt]
        return [value]
    return []


def check_data_files(header: Path) -> None:
    """Refuse a header whose data files are not regular files beside it (see the module docstring)."""
    names = data_files(header)
    if len(names) > _MAX_FILES:
        raise InputError(f"names more than {_MAX_FILES:,} data files; it is damaged", header)
    folder = header.parent.resolve()
    for name in names:
        shown = name if len(name) <= 80 else name[:77] + "..."
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise InputError(
                f"names its data file {shown!r} in another folder; keep the data file beside the header and name "
                "it without a folder",
                header,
            )
        data = header.parent / name
        try:
            info = os.stat(data)
        except OSError:
            raise InputError(f"names the data file {shown!r}, which is not beside it; copy it next to the header",
                             header) from None
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"names the data file {shown!r}, which is not a regular file (a FIFO, device or "
                             "folder)", header)
        if data.resolve().parent != folder:
            raise InputError(f"names the data file {shown!r}, a link to a file in another folder; put the data "
                             "file itself beside the header", header)

