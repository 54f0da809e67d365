"""What libraries print on their own, kept out of a command's one-line output.

C libraries write straight to file descriptor 2 (libpng's ``libpng error: …``, GDCM's and ITK's warnings), nibabel
logs header repairs, and PyTorch issues Python warnings with a file name and a source line. A command's own output is
one ``error: …`` line, or ``warning: …`` lines. So, while a command runs:

* file descriptor 2 is pointed at a temporary file, while Python's ``sys.stderr`` keeps writing to the terminal (a
  duplicate of the original descriptor); what the C libraries wrote is dropped when the command succeeds, and its
  last line is folded into the error line when it fails (``… (libpng: sCA[FF]: invalid chunk type)``);
* Python warnings of the engine are one sanitised ``warning: …`` line; those of other packages are silenced, and so
  are nibabel's log messages below ERROR;
* a fatal signal's traceback (``faulthandler``) still reaches the terminal.

Only where ``sys.stderr`` really is descriptor 2 (a terminal, a pipe, a file): under pytest's capture, or inside the
app, nothing is redirected.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

from sra_seg_core.errors import one_line

_ENGINE = str(Path(__file__).parent)


class NativeOutput:
    """What was written to descriptor 2 during the command (empty where nothing was redirected)."""

    def __init__(self, capture=None):
        self._capture = capture

    def last_line(self) -> str:
        if self._capture is None:
            return ""
        try:
            self._capture.flush()
            self._capture.seek(0)
            lines = [line.strip() for line in self._capture.read().decode("utf-8", "replace").splitlines()]
        except (OSError, ValueError):
            return ""
        lines = [line for line in lines if line]
        return one_line(lines[-1])[:200] if lines else ""


def _stderr_is_fd2() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # pytest's capture, an IDE console
        return False


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if str(filename).startswith(_ENGINE):
        print(f"warning: {one_line(str(message))}", file=sys.stderr)


@contextlib.contextmanager
def folded_third_party_output():
    """Run a command with library output handled as the module docstring says; yields a :class:`NativeOutput`."""
    nibabel = logging.getLogger("nibabel")
    level = nibabel.level
    nibabel.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        if not _stderr_is_fd2():
            try:
                yield NativeOutput()
            finally:
                nibabel.setLevel(level)
            return
        sys.stderr.flush()
        saved_fd = os.dup(2)
        capture = tempfile.TemporaryFile()
        original = sys.stderr
        terminal = open(saved_fd, "w", encoding=original.encoding, errors="backslashreplace", buffering=1,
                        closefd=False)
        os.dup2(capture.fileno(), 2)
        sys.stderr = terminal
        faults_on = faulthandler.is_enabled()
        faulthandler.enable(file=terminal)
        try:
            yield NativeOutput(capture)
        finally:
            terminal.flush()
            os.dup2(saved_fd, 2)
            sys.stderr = original
            faulthandler.enable(file=original) if faults_on else faulthandler.disable()
            terminal.close()
            os.close(saved_fd)
            capture.close()
            nibabel.setLevel(level)
