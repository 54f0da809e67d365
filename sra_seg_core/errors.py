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
