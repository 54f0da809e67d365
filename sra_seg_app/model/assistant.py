"""The assistant that learns while the user labels, as app state: when to fine-tune, the running fine-tune, pausing.

Every ``every`` newly done slices (the engine's :func:`~sra_seg_core.assist.assistant.fine_tune_due`) it starts a
short fine-tune of the newest model as a background child process at low priority
(:func:`~sra_seg_core.assist.assistant.start_fine_tune`); building its config reads the checkpoint (torch), so that
runs in a :class:`~sra_seg_app.model.worker.Worker` and the window never waits. A timer polls the process; when it
ends, ``finished`` tells the workspace to load the new model for proposals. Nothing here blocks.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from sra_seg_core.assist import assistant as engine
from sra_seg_app.model.worker import Worker

POLL_MS = 1000


def _start(checkpoint: Path, project_path: Path, runs_dir: Path):
    """Build the fine-tune config (reads the checkpoint) and start it; the run folder is new and time-stamped."""
    config = engine.fine_tune_config(checkpoint, project_path)
    run_dir = runs_dir / f"{engine.RUN_PREFIX}-{time.strftime('%Y%m%d-%H%M%S')}"
    return engine.start_fine_tune(config, run_dir)


class Assistant(QObject):
    """``changed`` when its state or status line changes; ``finished(run_dir)`` when a fine-tune ended well.

    ``starter(checkpoint, project_path, runs_dir)`` starts a fine-tune and returns an object with ``poll``,
    ``pause``, ``resume``, ``stop`` and ``run_dir`` (the engine's :class:`FineTune`; tests pass a stand-in).
    """

    changed = Signal()
    finished = Signal(str)

    def __init__(self, parent=None, *, every: int = engine.DEFAULT_EVERY, starter=_start):
        super().__init__(parent)
        self.enabled = False
        self.paused = False
        self.every = int(every)
        self.done_at_last: int | None = None     # done slices when the last fine-tune started (None: not yet known)
        self.done = 0
        self.job = None                          # the running fine-tune
        self.message = ""
        self._starter = starter
        self._worker: Worker | None = None
        self._last_worker: Worker | None = None
        self._project: tuple[Path, Path] | None = None
        self._timer = QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self.poll)

    # --- settings -------------------------------------------------------------------------------------------------
    def set_project(self, project_path: Path | None, runs_dir: Path | None) -> None:
        self.stop()
        # None (no project, or one open read-only): nothing to fine-tune into
        self._project = None if project_path is None or runs_dir is None else (Path(project_path), Path(runs_dir))
        self.done_at_last = None
        self.changed.emit()

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        self.changed.emit()
        self.update(self.done)

    def set_every(self, every: int) -> None:
        self.every = max(1, int(every))
        self.changed.emit()

    def set_paused(self, on: bool) -> None:
        """Pause (freeze) or resume the running fine-tune; while paused no new one starts."""
        self.paused = bool(on)
        if self.job is not None:
            (self.job.pause if self.paused else self.job.resume)()
        self.changed.emit()

    @property
    def running(self) -> bool:
        return self.job is not None or self._worker is not None

    # --- the rule -------------------------------------------------------------------------------------------------
    def update(self, done_slices: int) -> None:
        """The project now has ``done_slices`` done slices: start a fine-tune when one is due (and possible)."""
        self.done = int(done_slices)
        if self.done_at_last is None:
            self.done_at_last = self.done    # slices done before the app opened were learnt (or not) already
        if not self.enabled or self.paused or self.running or self._project is None:
            self.changed.emit()
            return
        if not engine.fine_tune_due(self.done, self.done_at_last, self.every):
            self.changed.emit()
            return
        project_path, runs_dir = self._project
        checkpoint = engine.latest_model(runs_dir)
        if checkpoint is None:
            self.message = "The assistant needs a first trained run to fine-tune (Train)."
            self.changed.emit()
            return
        self.done_at_last = self.done
        self.message = f"Starting a fine-tune of {checkpoint.parent.parent.name} on {self.done} done slices…"
        worker = self._worker = Worker(lambda _w: self._starter(checkpoint, project_path, runs_dir))
        worker.done.connect(self._started)
        worker.failed.connect(self._failed)
        worker.start()
        self.changed.emit()

    def _started(self, job) -> None:
        self._last_worker, self._worker = self._worker, None
        self.job = job
        if self.paused:
            job.pause()
        self.message = f"Fine-tuning in the background ({Path(job.run_dir).name}), from {self.done} done slices."
        self._timer.start()
        self.changed.emit()

    def _failed(self, exc) -> None:
        self._last_worker, self._worker = self._worker, None
        self.message = f"The fine-tune could not start: {exc}"
        self.changed.emit()

    def poll(self) -> None:
        if self.job is None:
            return
        code = self.job.poll()
        if code is None:
            return
        job, self.job = self.job, None
        self._timer.stop()
        if code == 0:
            self.message = f"Fine-tune {Path(job.run_dir).name} finished: proposals now use it."
            self.finished.emit(str(job.run_dir))
        else:
            self.message = f"Fine-tune {Path(job.run_dir).name} failed (exit {code}); see its train.log."
        self.changed.emit()

    def stop(self) -> None:
        """Stop a running fine-tune (it saves latest.pt); closing the project or the window calls this."""
        if self.job is not None:
            self.job.stop()
            self.job = None
            self._timer.stop()
            self.changed.emit()

    @property
    def status(self) -> str:
        if not self.enabled:
            return "Assistant off."
        state = "paused" if self.paused else ("fine-tuning" if self.running else "waiting")
        due = max(0, self.every - (self.done - (self.done_at_last or 0)))
        text = f"Assistant {state}: next fine-tune after {due} more done slice(s)."
        return f"{text}\n{self.message}" if self.message else text
