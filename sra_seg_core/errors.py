"""Errors a user can cause and fix.

Every exception raised for bad input derives from :class:`SraSegError`. Its message says what was wrong and, where
useful, what to do; when a file is involved it starts with that file's path. The CLI turns these into one
``error: …`` line and exit code 2, the app into a dialog. Anything else that escapes is a bug.
"""

from __future__ import annotations

from os import PathLike


class SraSegError(Exception):
    """A problem with the user's input, files or settings (not a bug)."""

    def __init__(self, message: str, path: str | PathLike | None = None):
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class InputError(SraSegError):
    """An input file or folder cannot be used (missing, unreadable, wrong shape or values)."""


class ConfigError(SraSegError):
    """A configuration value or command-line option is invalid."""


class ProjectError(SraSegError):
    """A project folder is missing, damaged or cannot be written."""


class ProjectLockedError(ProjectError):
    """Another process holds the project's write lock."""


class JournalWriteError(ProjectError):
    """A stroke could not be written to its case's journal (full disk, no permission): it is not saved yet."""


class EncoderWeightsError(SraSegError):
    """The DINOv2 encoder has no weights and the user did not allow an untrained one."""


class TrainingError(SraSegError):
    """Training cannot go on: the loss became NaN or infinite (a learning rate too high, damaged data, …)."""


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# bidirectional overrides and isolates can make a line display in another order than it was written
_BIDI_CONTROLS = set(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def _escaped(ch: str) -> str:
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` safe to print as (part of) one terminal line: control characters (newlines, carriage returns,
    terminal escape sequences), Unicode line separators and bidirectional overrides are written as escapes like
    ``\\n`` or ``\\x1b``, so a file name or a manifest field cannot forge a second ``error:`` line or drive the
    terminal. Everything else, non-ASCII letters included, is kept as is."""
    import unicodedata

    return "".join(_escaped(ch) if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS else ch
                   for ch in str(text))


class RunLockedError(SraSegError):
    """Another process is writing the same run folder (training it or resuming it)."""


def error_line(exc: BaseException) -> str:
    """One line that names the file and the problem (what the CLI prints after ``error:``, what the app shows); control characters escaped, see ``one_line``."""
    if isinstance(exc, SraSegError):
        return one_line(str(exc))
    if isinstance(exc, OSError) and exc.filename is not None:
        return one_line(f"{exc.filename}: {exc.strerror or exc}")
    return one_line(str(exc) or type(exc).__name__)
