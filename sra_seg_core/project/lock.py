"""The project write lock: one writing process per project, and a crash never leaves it stuck.

The lock is an OS file lock on ``<project>/.lock`` (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows), held
for as long as the :class:`ProjectLock` is. The OS drops it when the process dies, even by ``kill -9``, so there is no
stale-lock clean-up to get wrong. The file's contents (pid, host, time) only serve the message shown to whoever is
refused. They start at byte 1 because Windows forbids other processes to read a locked byte range, and the lock
covers byte 0 only.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path

from sra_seg_core.errors import ProjectError, ProjectLockedError
from sra_seg_core.regular_files import open_regular

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK_NAME = ".lock"


def _try_lock(fh) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _holder(path: Path) -> str:
    """Who holds the lock, in words, from what the holder wrote into the file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(1)
            info = json.loads(fh.read().decode("utf-8"))
        return f"process {info['pid']} on {info['host']} (since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


class ProjectLock:
    """An exclusive, non-blocking write lock on a project folder; :meth:`release` or process exit frees it."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_NAME
        try:
            # never through a link: a project from an archive may hold a .lock that names a file of the user's
            fd = open_regular(self.path, os.O_RDWR | os.O_CREAT, follow_links=False, error=ProjectError)
            self._fh = os.fdopen(fd, "r+b")
        except OSError as exc:
            raise ProjectError(
                f"cannot write to the project folder ({exc.strerror}); open it read-only to view it",
                Path(folder),
            ) from exc
        if not _try_lock(self._fh):
            self._fh.close()
            raise ProjectLockedError(
                f"the project is open for writing by {_holder(self.path)}; close it there, or open it read-only",
                Path(folder),
            )
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now().isoformat(timespec="seconds")}
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(b"\n" + json.dumps(info).encode("utf-8"))
        self._fh.flush()

    @property
    def held(self) -> bool:
        return not self._fh.closed

    def release(self) -> None:
        """Free the lock (closing the file releases it). Safe to call twice."""
        self._fh.close()
