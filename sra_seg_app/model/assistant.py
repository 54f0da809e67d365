"""The assistant that learns while the user labels, as app state: when to fine-tune, the running fine-tune, pausing.

Every ``every`` newly done slices (the engine's :func:`~sra_seg_core.assist.assistant.fine_tune_due`) it starts a
short fine-tune of the newest model as a background training run: the same ``sra-seg train`` command, run folder and
life cycle as a run of the Train workspace. It is launched detached in its own process group
(:func:`~sra_seg_app.model.run_folder.launch`) at low priority, and followed by a
:class:`~sra_seg_app.model.train.RunMonitor` (the :class:`~sra_seg_app.model.jobs.JobState` machine every job has):
pausing freezes the whole group, stopping ends the whole group, and a failure is said from the run's error event or
its ``train.log``. Building the config reads the checkpoint (torch), so that and the launch run in a
:class:`~sra_seg_app.model.worker.Worker` and the window never waits.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from sra_seg_core import runs
from sra_seg_core.assist import assistant as engine
from sra_seg_core.config import save_config_file
from sra_seg_app.model import run_folder as rf
from sra_seg_app.model.jobs import JobState
from sra_seg_app.model.train import RunMonitor, failure_message
from sra_seg_app.model.worker import Worker


def _start(checkpoint: Path, project_path: Path, runs_dir: Path):
    """Build the fine-tune config (reads the checkpoint), write it into a new time-stamped run folder and launch
    ``sra-seg train`` on it: ``(run_dir, process, config)``."""
    config = engine.fine_tune_config(checkpoint, project_path)
    run_dir = runs_dir / f"{engine.RUN_PREFIX}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = save_config_file(config, run_dir / engine.CONFIG_NAME)
    process = rf.launch(engine.fine_tune_args(config_path, run_dir, project_path), run_dir, project_path)
    engine.lower_priority(process.pid)
    return run_dir, process, config


class Assistant(QObject):
    """``changed`` when its state or status line changes; ``finished(run_dir)`` when a fine-tune ended well.

    ``starter(checkpoint, project_path, runs_dir)`` launches a fine-tune and returns ``(run_dir, process, config)``
    (:func:`_start`; tests pass one that launches another command).
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
        self.message = ""
        self.monitor = RunMonitor(self)          # the running fine-tune, once launched
        self.monitor.ended.connect(self._ended)
        self.monitor.stateChanged.connect(lambda _state: self.changed.emit())
        self._starter = starter
        self._worker: Worker | None = None
        self._last_worker: Worker | None = None
        self._project: tuple[Path, Path] | None = None

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
        """Pause (freeze its whole process group) or resume the running fine-tune; while paused no new one starts."""
        self.paused = bool(on)
        if self.monitor.live and self.monitor.pid:
            (rf.pause if self.paused else rf.resume)(self.monitor.pid)
        self.changed.emit()

    @property
    def state(self) -> JobState:
        """The fine-tune's job state (idle before the first one)."""
        return self.monitor.state

    @property
    def running(self) -> bool:
        return self.monitor.live or self._worker is not None

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

    def _started(self, launched) -> None:
        self._last_worker, self._worker = self._worker, None
        run_dir, process, config = launched
        self.monitor.attach(run_dir, process=process, config=config)
        if self.paused:
            rf.pause(process.pid)
        if self.monitor.live:
            self.message = f"Fine-tuning in the background ({Path(run_dir).name}), from {self.done} done slices."
        self.changed.emit()

    def _failed(self, exc) -> None:
        self._last_worker, self._worker = self._worker, None
        self.message = f"The fine-tune could not start: {exc}"
        self.changed.emit()

    def _ended(self, status: str) -> None:
        monitor = self.monitor
        name = monitor.run_dir.name
        if status == "finished":
            self.message = f"Fine-tune {name} finished: proposals now use it."
            self.finished.emit(str(monitor.run_dir))
        elif status == "stopped":
            self.message = f"Fine-tune {name} stopped."
        else:
            self.message = failure_message(monitor.progress, runs.log_tail(monitor.run_dir, 40),
                                           monitor.run_dir).replace(
                "Training failed", f"Fine-tune {name} failed", 1)
        self.changed.emit()

    def stop(self) -> None:
        """Stop a running fine-tune (it saves latest.pt; its whole process group ends); closing the project or the
        window calls this."""
        if self.monitor.live:
            self.monitor.request_stop()
            self.changed.emit()

    @property
    def status(self) -> str:
        if not self.enabled:
            return "Assistant off."
        state = "paused" if self.paused else ("fine-tuning" if self.running else "waiting")
        due = max(0, self.every - (self.done - (self.done_at_last or 0)))
        text = f"Assistant {state}: next fine-tune after {due} more done slice(s)."
        return f"{text}\n{self.message}" if self.message else text
