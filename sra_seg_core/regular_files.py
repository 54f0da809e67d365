"""Opening files that someone else may have replaced: by a symbolic link, a FIFO, a device or a folder.

A project folder arrives as an archive or a shared copy, and a settings file sits in a folder any program can write,
so a name we expect to be our own regular file may be anything. Opening goes through here:

- ``follow_links=False`` (files inside a project): a symbolic link is refused (``O_NOFOLLOW`` where the OS has it,
  an ``lstat`` check elsewhere), so a write never lands on the file a link names and a read never leaves the project;
- the open is non-blocking and the opened file must be a regular one, so a FIFO cannot hang the caller and a device
  is never read or written;
- JSON is read with a size limit and a nesting limit, so a damaged or hostile file gives a clear error instead of a
  ``MemoryError`` or ``RecursionError``.

Errors are :class:`~sra_seg_core.errors.InputError` (or the ``error`` class given) naming the file.
"""

from __future__ import annotations

import json
import os
import stat

from sra_seg_core.errors import InputError, SraSegError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
MAX_JSON_BYTES = 64 << 20  # a manifest of 100 000 cases is ~40 MB
MAX_JSON_DEPTH = 32  # our files nest 5 levels at most


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def check_regular(path: str | os.PathLike, *, follow_links: bool, error: type[SraSegError] = InputError) -> bool:
    """True if ``path`` is a regular file, False if nothing is there; raises ``error`` for anything else (a link
    when ``follow_links`` is False, a FIFO, a device, a folder). For readers that open by name (nibabel, ITK)."""
    try:
        info = os.stat(path) if follow_links else os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise error(f"cannot be opened ({exc.strerror})", path) from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"is {_kind(info.st_mode)}, where a regular file was expected; move it away", path)
    return True


def open_regular(
    path: str | os.PathLike,
    flags: int = os.O_RDONLY,
    *,
    follow_links: bool,
    mode: int = 0o644,
    error: type[SraSegError] = InputError,
) -> int:
    """``os.open`` that refuses links (unless ``follow_links``) and anything but a regular file, without blocking.

    Returns a file descriptor in blocking mode. A link or a file that is not regular raises ``error`` naming the
    file; other ``OSError`` (missing, no permission, a full disk) pass through for the caller to word.
    """
    if not follow_links and not _NOFOLLOW:  # no O_NOFOLLOW (Windows): check first; the window is the OS's limit
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise error("is a symbolic link, where a regular file was expected; move it away", path)
        except FileNotFoundError:
            pass
    extra = _NONBLOCK | _CLOEXEC | _BINARY | (0 if follow_links else _NOFOLLOW)
    try:
        fd = os.open(path, flags | extra, mode)
    except FileNotFoundError:
        raise
    except OSError:
        try:
            info = os.stat(path) if follow_links else os.lstat(path)
        except OSError:
            raise
        if not stat.S_ISREG(info.st_mode):
            # ELOOP for a link, ENXIO for a FIFO nobody reads, EISDIR for a folder
            raise error(f"is {_kind(info.st_mode)}, where a regular file was expected; move it away", path) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"is {_kind(info.st_mode)}, where a regular file was expected; move it away", path)
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular_bytes(
    path: str | os.PathLike, *, follow_links: bool, max_bytes: int, error: type[SraSegError] = InputError
) -> bytes:
    """The whole of a regular file of at most ``max_bytes`` (see :func:`open_regular`; ``FileNotFoundError`` passes
    through, other ``OSError`` raise ``error``)."""
    try:
        fd = open_regular(path, follow_links=follow_links, error=error)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"cannot be read ({exc.strerror or exc})", path) from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)  # not st_size: the file may grow while it is read
    if len(data) > max_bytes:
        raise error(f"is over {max_bytes:,} bytes, more than such a file can hold; it is damaged", path)
    return data


def _depth_problem(value, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (iterative: a deep value must not exhaust the stack here)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def load_json(
    path: str | os.PathLike,
    *,
    follow_links: bool,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    error: type[SraSegError] = InputError,
):
    """Decode a JSON file, refusing links (unless ``follow_links``), special files, more than ``max_bytes`` and
    nesting deeper than ``max_depth``. ``FileNotFoundError`` passes through."""
    data = read_regular_bytes(path, follow_links=follow_links, max_bytes=max_bytes, error=error)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"is not valid JSON ({exc})", path) from None
    except RecursionError:  # the C decoder gives up near 1000 levels
        raise error(f"nests deeper than {max_depth} levels; it is damaged", path) from None
    if _depth_problem(value, max_depth):
        raise error(f"nests deeper than {max_depth} levels; it is damaged", path)
    return value
