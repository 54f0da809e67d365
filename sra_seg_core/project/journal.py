"""Stroke journal: the labelling done since a case's label was last saved, kept so a crash loses at most one stroke.

Every brush stroke, fill or undo is one record: the slice ``z`` and, for each changed pixel, its flat index in the
(Y, X) slice, its old value and its new value. Replaying applies ``new`` record by record in order; undo is just
another record with ``old`` and ``new`` swapped, so the journal never needs rewriting. Saving the label clears it.

File format (``labels/<case_id>.journal``, little-endian, append-only)::

    header  b"SRAJRNL1" | base: 32 bytes | crc32(base): u32
    record  b"STRK" | z: u32 | n: u32 | size: u32 | crc32(z, n, size, payload): u32 | payload: size bytes
    payload zlib( int32 deltas of the n flat indices | n uint8 old values | n uint8 new values )

``base`` is the BLAKE2b-256 digest of the label file the strokes were drawn on (all zeros when there was none). A
label saved after the journal was started already contains its strokes, so a journal whose base no longer matches
the label file is stale and is not replayed; this closes the window between writing the label and deleting the
journal. Each record carries its own length and checksum: a record torn by a crash or a full disk mid-write (or any
damaged bytes) is detected and skipped on replay, and reading goes on at the next intact record, so a torn record
never hides the strokes appended after it. Within a session, an append that fails half-way cuts its torn bytes off
at once (or, if even that fails, before the next append) and raises :class:`~sra_seg_core.errors.JournalWriteError`,
so the caller knows the stroke is not saved. Indices are delta-coded before compression
because a brush stroke is a run of neighbouring pixels: a 50 000-pixel disc takes 2.7 kB, not 300 kB (see tests).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sra_seg_core.atomic import atomic_write_bytes, fsync_dir
from sra_seg_core.errors import JournalWriteError, ProjectError
from sra_seg_core.regular_files import open_regular, read_regular_bytes

_MAGIC = b"SRAJRNL1"
_HEADER = struct.Struct("<8s32sI")
_RECORD_MAGIC = b"STRK"
_RECORD = struct.Struct("<4sIIII")
NO_BASE = bytes(32)
MAX_JOURNAL_BYTES = 4 << 30  # ~1.5 million brush strokes; more is a damaged file, not a day's labelling


@dataclass(frozen=True)
class Stroke:
    """One undoable edit of one slice.

    z:       slice index into the (Z, Y, X) label.
    indices: (N,) int64 flat indices into the (Y, X) slice.
    old:     (N,) uint8 values before the stroke.
    new:     (N,) uint8 values after it.
    """

    z: int
    indices: np.ndarray
    old: np.ndarray
    new: np.ndarray


def file_digest(path: Path | None) -> bytes:
    """BLAKE2b-256 of a file's bytes, or :data:`NO_BASE` when there is no file."""
    if path is None:
        return NO_BASE
    try:  # never through a link, never a FIFO (which would block here)
        fd = open_regular(path, follow_links=False, error=ProjectError)
    except FileNotFoundError:
        return NO_BASE
    digest = hashlib.blake2b(digest_size=32)
    with os.fdopen(fd, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def encode_stroke(stroke: Stroke) -> bytes:
    indices = np.asarray(stroke.indices, dtype=np.int64)
    deltas = np.diff(indices, prepend=0).astype("<i4")
    payload = zlib.compress(
        deltas.tobytes() + np.asarray(stroke.old, np.uint8).tobytes() + np.asarray(stroke.new, np.uint8).tobytes(), 1
    )
    head = struct.pack("<III", stroke.z, len(indices), len(payload))
    return _RECORD_MAGIC + head + struct.pack("<I", zlib.crc32(head + payload)) + payload


def _decode_record(data: memoryview, pos: int) -> tuple[Stroke, int] | None:
    """The intact record starting at ``data[pos]`` and where it ends, or None (views, not copies: while skipping
    damage this runs at every candidate position)."""
    if pos + _RECORD.size > len(data):
        return None
    magic, z, n, size, crc = _RECORD.unpack_from(data, pos)
    body = pos + _RECORD.size
    if magic != _RECORD_MAGIC or body + size > len(data):
        return None
    payload = data[body : body + size]
    if zlib.crc32(payload, zlib.crc32(data[pos + 4 : pos + 16])) != crc:
        return None
    try:
        raw = zlib.decompress(payload)
    except zlib.error:
        return None
    if len(raw) != 6 * n:
        return None
    indices = np.cumsum(np.frombuffer(raw, "<i4", n), dtype=np.int64)
    old, new = np.frombuffer(raw, np.uint8, n, 4 * n), np.frombuffer(raw, np.uint8, n, 5 * n)
    return Stroke(z, indices, old, new), body + size


def _decode_records(data: bytes, start: int) -> tuple[list[Stroke], int, int]:
    """Every intact record in ``data[start:]``, in order; where the last one ends; and how many bytes before that
    end were skipped. Damaged bytes are passed over up to the next record magic whose record checks out (a crc32
    match by chance is a 1 in 4 billion event)."""
    strokes, pos, end, skipped = [], start, start, 0
    view = memoryview(data)
    while pos < len(data):
        record = _decode_record(view, pos)
        if record is None:
            found = data.find(_RECORD_MAGIC, pos + 1)
            if found < 0:
                break
            pos = found
            continue
        skipped += pos - end
        strokes.append(record[0])
        pos = end = record[1]
    return strokes, end, skipped


@dataclass
class JournalContents:
    """What a journal file holds: its base digest, its intact strokes, where the last one ends (``valid_size``),
    how many bytes are unusable in all (``ignored_bytes``) and how many of those lie before ``valid_size``
    (``inner_ignored_bytes``: a torn record followed by good ones)."""

    base: bytes
    strokes: list[Stroke]
    valid_size: int
    ignored_bytes: int
    inner_ignored_bytes: int = 0


def read_journal(path: Path) -> JournalContents | None:
    """The journal at ``path``, or None when there is none or not even its header survived.

    ProjectError when ``path`` is a link, a FIFO or another special file (it is never followed or read).
    """
    try:
        data = read_regular_bytes(path, follow_links=False, max_bytes=MAX_JOURNAL_BYTES, error=ProjectError)
    except FileNotFoundError:
        return None
    if len(data) < _HEADER.size:
        return None
    magic, base, crc = _HEADER.unpack_from(data)
    if magic != _MAGIC or zlib.crc32(base) != crc:
        return None
    strokes, end, skipped = _decode_records(data, _HEADER.size)
    return JournalContents(base, strokes, end, len(data) - end + skipped, skipped)


def replay(label: np.ndarray, strokes: list[Stroke]) -> None:
    """Paint each stroke's ``new`` values into ``label`` ((Z, Y, X) uint8, in place), in order.

    ValueError if a stroke does not fit the label (slice or index out of range): the journal belongs to another volume.
    """
    depth, plane = label.shape[0], label.shape[1] * label.shape[2]
    flat = label.reshape(depth, plane)
    for stroke in strokes:
        fits = not stroke.indices.size or 0 <= stroke.indices.min() <= stroke.indices.max() < plane
        if not (0 <= stroke.z < depth and fits):
            raise ValueError(f"a stroke on slice {stroke.z} does not fit a label of shape {label.shape}")
        flat[stroke.z, stroke.indices] = stroke.new


class Journal:
    """One case's journal file. One writer per file: the project lock guarantees it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._checked = False
        self._good_size: int | None = None  # where the last intact record ends, once known this session

    def strokes(self, base: bytes) -> list[Stroke]:
        """The complete strokes, in order, if the journal was started on the label file with digest ``base``."""
        contents = read_journal(self.path)
        return contents.strokes if contents is not None and contents.base == base else []

    def append(self, stroke: Stroke, base: Callable[[], bytes]) -> None:
        """Append one stroke and fsync, so it survives ``kill -9`` and power loss once this returns.

        ``base()`` gives the digest of the label file the stroke is drawn on; it is asked for once per session, to
        start a new journal or to check that the one on disk belongs to that label. JournalWriteError (a
        ProjectError) when the stroke could not be recorded (a full disk, no permission, the journal's name taken
        by a link or a special file): the stroke is then not in the journal, and the journal is as before.
        """
        if not self._checked:
            self._start(base())
        record = encode_stroke(stroke)
        try:
            fd = open_regular(self.path, os.O_RDWR | os.O_CREAT, follow_links=False, error=JournalWriteError)
        except OSError as exc:
            raise self._failed(stroke, exc) from None
        try:
            size = os.fstat(fd).st_size
            created = size < _HEADER.size
            if created:  # new, or a header that never reached the disk
                digest = base()
                record = _HEADER.pack(_MAGIC, digest, zlib.crc32(digest)) + record
                start = 0
            else:
                # a previous append of this session failed and its torn bytes could not be cut off then
                start = size if self._good_size is None else self._good_size
            if start != size:
                os.ftruncate(fd, start)
            try:
                _write_all(fd, record, start)
                os.fsync(fd)
            except OSError as exc:
                try:  # cut the torn bytes off now; truncating frees space, so this works on a full disk too
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                except OSError:
                    pass  # the next append cuts them off (start above)
                raise self._failed(stroke, exc) from None
            self._good_size = start + len(record)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)

    def _failed(self, stroke: Stroke, exc: OSError) -> JournalWriteError:
        return JournalWriteError(
            f"the stroke on slice {stroke.z} could not be recorded ({exc.strerror or exc}); it is not saved yet — "
            "save the label (or free disk space) before closing",
            self.path,
        )

    def _start(self, base: bytes) -> None:
        """Drop a journal that is unreadable or stale (drawn on another label); cut a torn tail off a good one, so
        the next record lands where a reader finds it, and rewrite one whose torn record has good ones after it."""
        contents = read_journal(self.path)
        if contents is None or contents.base != base:
            self.path.unlink(missing_ok=True)
            self._good_size = None
        elif contents.inner_ignored_bytes:
            head = _HEADER.pack(_MAGIC, contents.base, zlib.crc32(contents.base))
            data = head + b"".join(encode_stroke(s) for s in contents.strokes)
            try:
                atomic_write_bytes(self.path, data)
            except OSError as exc:
                raise JournalWriteError(f"the journal cannot be tidied ({exc.strerror or exc})", self.path) from None
            self._good_size = len(data)
        else:
            if contents.ignored_bytes:
                fd = open_regular(self.path, os.O_RDWR, follow_links=False, error=ProjectError)
                try:
                    os.ftruncate(fd, contents.valid_size)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self._good_size = contents.valid_size
        self._checked = True

    def clear(self) -> None:
        """Delete the journal (its strokes are in the saved label now)."""
        self.path.unlink(missing_ok=True)
        self._checked = True
        self._good_size = None


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset) if hasattr(os, "pwrite") else _seek_write(fd, view, offset)
        view, offset = view[written:], offset + written


def _seek_write(fd: int, data, offset: int) -> int:
    os.lseek(fd, offset, os.SEEK_SET)
    return os.write(fd, data)
