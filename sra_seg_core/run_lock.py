"""One writer per run folder: a trainer holds ``<run>/.lock`` for as long as it writes there.

It is the project's lock (:mod:`sra_seg_core.project.lock`: an OS file lock the OS drops when the process dies, even
by ``kill -9``, so a crashed run never stays locked) on the run folder, with a message for a second trainer: two
writers would interleave their iterations in ``events.jsonl`` and overwrite each other's checkpoints.
"""

from __future__ import annotations

from pathlib import Path

from sra_seg_core.errors import ProjectError, ProjectLockedError, RunLockedError
from sra_seg_core.project.lock import LOCK_NAME, ProjectLock, _holder


class RunLock:
    """An exclusive, non-blocking lock on a run folder (which must exist); :meth:`release` or process exit frees
    it. RunLockedError names the process that holds it."""

    def __init__(self, run_dir: str | Path):
        run_dir = Path(run_dir)
        try:
            self._lock = ProjectLock(run_dir)
        except ProjectLockedError:
            raise RunLockedError(f"this run is being written by {_holder(run_dir / LOCK_NAME)}; wait for it to "
                                 "finish or stop it (then resume it), or train into another folder", run_dir) from None
        except ProjectError as exc:
            why = getattr(exc.__cause__, "strerror", None) or exc.reason
            raise RunLockedError(f"cannot lock the run folder for writing ({why})", run_dir) from None

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
