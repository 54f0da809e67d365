"""Following a training run through its files: tail ``events.jsonl`` and ``train.log``, fold the events into a
:class:`RunProgress`, and notice when the run ends — with a final event, or by its process disappearing.

Reading files rather than the child's stdout is what lets a run outlive the window: a window opened later attaches to
the same files (see :mod:`sra_seg_app.model.run_folder`) and picks the run up where it is.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from sra_seg_core.batch_split import batch_parts, halves as batch_halves, splits_evenly
from sra_seg_core.config import RunConfig, preset, save_config_file
from sra_seg_core.errors import ConfigError
from sra_seg_core.events import Event, read_events
from sra_seg_core import runs
from sra_seg_app.model import run_folder as rf
from sra_seg_app.model.jobs import JobState, next_state

POLL_MS = 250
STAGE_NAMES = {"pretrain": "pre-training", "selftrain": "self-training"}
WEIGHTS_ADVICE = ("In the form: choose a DINOv2 weights file under Similarity alignment, or tick “Allow an untrained "
                  "encoder” (tests and demos only).")
_EVENT_START = '{"event"'   # Event.to_json writes the kind first


def dice_text(value: float | None) -> str:
    """A best Dice as every view shows it: three decimals, "–" when there is none yet (None, or an old -1)."""
    return f"{value:.3f}" if value is not None and value >= 0 else "–"


class FileTail:
    """The complete lines a growing file gained since the last read. A torn last line (a writer mid-write, or one that
    was killed) is held back until its newline arrives; a file that shrank was replaced, so it is read afresh."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def read_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < self._offset:
                    self._offset, self._partial = 0, b""
                fh.seek(self._offset)
                data = fh.read()
        except OSError:  # not there yet, or briefly unreadable: try again next time
            return []
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]


def parse_event_lines(lines: list[str]) -> list[Event]:
    """Events from JSON lines. A line torn by a killed writer and glued to the next writer's first line (a resumed
    run appends to the same file) still yields that second event; what cannot be parsed is skipped."""
    return read_events(line[line.rfind(_EVENT_START):] if line.rfind(_EVENT_START) > 0 else line for line in lines)


@dataclass
class Series:
    """Curves that share an x axis; a value missing at some x is NaN, so every curve has len(x) points."""

    x: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, x: float, values: dict[str, float | None]) -> None:
        for name in values:
            self.values.setdefault(name, [math.nan] * len(self.x))
        self.x.append(x)
        for name, ys in self.values.items():
            value = values.get(name)
            ys.append(math.nan if value is None else float(value))


@dataclass
class RunProgress:
    """Everything the Train workspace shows about one run, folded from its events. ``x`` of every curve is the global
    iteration: stage 2 continues after stage 1's last iteration."""

    totals: dict[str, int] = field(default_factory=dict)   # stage -> iterations
    stage: str = ""
    stage_message: str = ""
    iteration: int = 0                   # within the stage
    losses: Series = field(default_factory=Series)
    dice: Series = field(default_factory=Series)          # "mean" + one curve per class
    best_dice: float | None = None
    best_stage: str = ""
    eta_s: float | None = None
    eta_time: float | None = None       # when eta_s was measured (unix seconds)
    throughput: float | None = None     # iterations / s
    memory_mb: float | None = None
    device: str = ""
    status: str | None = None           # finished | stopped | failed (from the final event) | runs.DIED
    error: str = ""
    untrained_encoder: bool = False
    warnings: list[str] = field(default_factory=list)
    latest_checkpoint: tuple[str, int] | None = None       # (stage, iteration) of the last latest.pt
    since: float = 0.0                  # unix seconds: an end (done / error) written earlier belongs to a past session

    @classmethod
    def for_config(cls, config) -> RunProgress:
        """Stage lengths from a RunConfig (events refine them as the stages begin)."""
        t = config.train
        totals = ({"pretrain": t.pretrain_iters, "selftrain": t.selftrain_iters} if config.two_stage
                  else {"pretrain": t.pretrain_iters + t.selftrain_iters})
        return cls(totals=totals)

    # --- derived ------------------------------------------------------------------------------------------------------
    def offset(self, stage: str) -> int:
        return self.totals.get("pretrain", 0) if stage == "selftrain" else 0

    @property
    def global_iteration(self) -> int:
        return self.offset(self.stage) + self.iteration if self.stage else 0

    @property
    def total_iterations(self) -> int:
        return sum(self.totals.values())

    @property
    def stage_number(self) -> int:
        return 2 if self.stage == "selftrain" else 1

    def eta_now(self, now: float | None = None) -> float | None:
        """Seconds left, counted down since the last progress event."""
        if self.eta_s is None or self.status:
            return None
        return max(0.0, self.eta_s - ((now or time.time()) - (self.eta_time or 0.0)))

    # --- folding ------------------------------------------------------------------------------------------------------
    def add(self, event: Event) -> None:
        kind = event.event
        if kind in ("done", "error") and event.time < self.since:
            return
        if event.stage and event.total:
            self.totals[event.stage] = event.total
        if event.stage and kind in ("stage", "progress", "validation"):
            if event.stage != self.stage:
                self.stage, self.iteration = event.stage, 0
            self.iteration = max(self.iteration, event.iteration) if kind != "stage" else event.iteration
        if kind == "stage":
            self.stage_message = event.message or self.stage_message
            self.device = event.device or self.device
        elif kind == "progress":
            self.losses.add(self.offset(event.stage) + event.iteration, event.losses or {})
            self.throughput, self.memory_mb = event.throughput, event.memory_mb
            self.eta_s, self.eta_time = event.eta_s, event.time
        elif kind == "validation":
            self.dice.add(self.offset(event.stage) + event.iteration, {"mean": event.mean_dice, **(event.dice or {})})
            self.best_dice, self.best_stage = event.best_dice, event.stage
        elif kind == "checkpoint" and event.kind == "latest":
            self.latest_checkpoint = (event.stage, event.iteration)
        elif kind == "warning":
            self.warnings.append(event.message or "")
            self.untrained_encoder |= event.encoder_pretrained is False
        elif kind == "done":
            self.status = event.status or "finished"
            if event.best_dice is not None and event.best_dice >= 0:
                self.best_dice = event.best_dice
        elif kind == "error":
            self.status, self.error = "failed", event.message or "training failed"
        if kind in ("stage", "progress", "validation") and self.status:
            self.status, self.error = None, ""   # a resumed run writes on after an earlier end


class RunMonitor(QObject):
    """Follows one run folder. ``attach`` reads what is there; while the run's process lives, a timer polls the files
    every :data:`POLL_MS`. ``ended`` fires once, with the final status (finished, stopped, failed or runs.DIED).

    The followed process has the life cycle of every job, :class:`~sra_seg_app.model.jobs.JobState`: running while
    watched, cancelling once a stop was asked for, then finished (it finished or stopped) or failed (failed or died).
    """

    updated = Signal(list, list)      # new events, new train.log lines
    ended = Signal(str)
    stateChanged = Signal(str)        # a JobState value

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.progress = RunProgress()
        self.pid: int | None = None
        self.process: subprocess.Popen | None = None
        self.stop_requested = False
        self.started_at: float | None = None        # time.monotonic() of Start, for the time to the first point
        self.first_point_s: float | None = None
        self._events: FileTail | None = None
        self._log: FileTail | None = None
        self._timer = QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self.poll)
        self.state = JobState.IDLE

    def _move(self, what: str, code: int | None = None) -> None:
        state = next_state(self.state, what, code=code)
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state.value)

    @property
    def live(self) -> bool:
        """Whether the followed run's process is being watched (it is running, or starting)."""
        return self._timer.isActive()

    def attach(self, run_dir: Path, *, process: subprocess.Popen | None = None, config=None) -> None:
        """Follow ``run_dir`` from its first event. ``process``: the child this window just started."""
        self.detach()
        self.run_dir = Path(run_dir)
        config = config or runs.read_config(self.run_dir)
        self.progress = RunProgress.for_config(config) if config is not None else RunProgress()
        meta = runs.read_meta(self.run_dir)
        self.process = process
        self.pid = process.pid if process is not None else meta.pid
        self.progress.untrained_encoder = meta.encoder_pretrained is False
        self.stop_requested = False
        self.started_at = time.monotonic() if process is not None else None
        self.first_point_s = None
        self._events = FileTail(self.run_dir / runs.EVENTS_FILE)
        self._log = FileTail(self.run_dir / runs.LOG_FILE)
        running = meta.status == runs.RUNNING
        self.state = JobState.IDLE
        if process is not None:   # started (or resumed) just now: whatever end the file holds is an earlier one
            self.progress.since = time.time()
            self._timer.start()
            self._move("start")
        elif running and self.alive():
            self.progress.since = meta.resumed or meta.created or 0.0
            self._timer.start()
            self._move("start")
        self.poll()
        if not self.live and self.progress.status is None:   # a past run that did not end with an event
            cli_error = runs.last_error_line(runs.log_tail(self.run_dir, 40))
            if running:
                self.progress.status = runs.DIED
            elif meta.status is None and cli_error:   # refused before the trainer began (e.g. a bad config)
                self.progress.status, self.progress.error = "failed", cli_error

    def detach(self) -> None:
        """Stop following (the run itself goes on)."""
        self._timer.stop()
        self.process = None

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None   # also reaps our own child
        if self.pid is None and self.run_dir is not None:
            self.pid = runs.read_meta(self.run_dir).pid
        return runs.engine_alive(self.pid)

    def request_stop(self) -> None:
        pid = self.process.pid if self.process is not None else self.pid
        if self.live and pid:
            self.stop_requested = True
            self._move("cancel")
            rf.request_stop(pid)

    def kill(self) -> None:
        pid = self.process.pid if self.process is not None else self.pid
        if self.live and pid:
            self.stop_requested = True
            self._move("cancel")
            rf.kill(pid)

    def poll(self) -> None:
        """Read what the run wrote since the last poll; end the watch when it finished or its process is gone."""
        if self._events is None:
            return
        events, lines = self._read()
        if self.live and self.progress.status is None and not self.alive():
            more_events, more_lines = self._read()   # what it wrote just before exiting
            events, lines = events + more_events, lines + more_lines
            if self.progress.status is None:
                self.progress.status = "stopped" if self.stop_requested else runs.DIED
        if events or lines:
            self.updated.emit(events, lines)
        if self.live and self.progress.status is not None:
            self._timer.stop()
            self._move("exit", 0 if self.progress.status in ("finished", "stopped") else 1)
            self.ended.emit(self.progress.status)

    def _read(self) -> tuple[list[Event], list[str]]:
        events = parse_event_lines(self._events.read_lines())
        for event in events:
            self.progress.add(event)
        if self.first_point_s is None and self.started_at is not None and self.progress.losses.x:
            self.first_point_s = time.monotonic() - self.started_at
        return events, self._log.read_lines()


# --- the Train workspace's rules -----------------------------------------------------------------------------------
def failure_message(progress: RunProgress, log_lines: list[str], run_dir: Path) -> str:
    """What went wrong and what to do, from the run's error event or, failing that, the tail of its train.log."""
    cli_error = runs.last_error_line(log_lines)
    if progress.status == "failed":
        text = f"Training failed: {progress.error}"
        if cli_error and cli_error not in progress.error:
            text += f"\n{cli_error}"
    elif cli_error:
        text = f"Training failed: {cli_error}"
    else:
        text = "The training process ended without finishing: it crashed, was killed, or ran out of memory."
        if log_lines:
            text += "\nLast lines of train.log:\n" + "\n".join(log_lines[-6:])
    everything = "\n".join([progress.error, *log_lines])
    for advice in (rf.advice_for(everything), WEIGHTS_ADVICE if "--dinov2-weights" in everything else ""):
        if advice:
            text += f"\n{advice}"
    return f"{text}\nFull log: {run_dir / runs.LOG_FILE}"


def duration_text(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def initial_config(project, listed: list[runs.Run]) -> RunConfig:
    """The form's settings on opening a project: the latest run's, else the demo preset for the demo project, else
    the paper's defaults; always on this project's data."""
    for run in listed:
        config = runs.read_config(run.path)
        if config is not None:
            break
    else:
        config = RunConfig()
        if "demo" in project.settings:
            # The demo must train out of the box on an offline machine: the untrained encoder is allowed,
            # and the form's amber status line and the run's banner say what that means.
            config = preset("demo")
            config.alignment.allow_untrained = True
    config.data.root = str(project.path)
    return config


def can_start(project) -> bool:
    return project is not None and not project.read_only


def can_resume(project, run: runs.Run | None, monitor: RunMonitor) -> bool:
    """Whether Resume is offered for the selected run: it has a checkpoint, nothing trains, the project is writable."""
    return run is not None and not monitor.live and can_start(project) and run.resumable


# --- GPUs: one run over several, through torchrun (sra_seg_core/distributed.py) ----------------------------------
MULTI_GPU_DEVICES = ("auto", "cuda")   # a run pinned to one device (cuda:K, cpu) is one process


def gpu_count(device_info: dict | None) -> int:
    """The CUDA devices ``sra-seg devices`` found (torch.cuda.device_count() in the engine's process; the window never
    imports torch). Tests pass the dict they need: ``{"gpus": [{...}] * 4}`` is a 4-GPU machine."""
    return len((device_info or {}).get("gpus") or [])


def gpus_found_text(count: int) -> str:
    return "1 GPU found" if count == 1 else f"{count} GPUs found"


def offers_gpu_choice(device_info: dict | None) -> bool:
    """Whether the Train workspace shows the GPUs choice: only with more than one GPU."""
    return gpu_count(device_info) > 1


def gpu_choices(device_info: dict | None) -> list[int]:
    """The GPU counts offered: 1 … N."""
    return list(range(1, gpu_count(device_info) + 1))


def default_gpus(device_info: dict | None, config: RunConfig) -> int:
    """All the GPUs, which is what someone who has several expects a run to use — or, when the batch cannot be split
    over all of them (24 over 4), the most that can share it, so the preselected choice always starts."""
    labeled, unlabeled = batch_parts(config)
    return max(k for k in [1, *gpu_choices(device_info)] if splits_evenly(labeled, unlabeled, k))


def uses_gpu_choice(config: RunConfig) -> bool:
    """The GPUs choice applies when the form's device lets the engine pick CUDA; a run pinned to one device is one
    process."""
    return config.train.device in MULTI_GPU_DEVICES


def processes_for(config: RunConfig, gpus: int) -> int:
    """How many training processes a Start with ``gpus`` chosen launches."""
    return max(1, gpus) if uses_gpu_choice(config) else 1


def gpu_refusal(config: RunConfig, gpus: int) -> str:
    """Why a Start with ``gpus`` GPUs chosen cannot start ("" when it can), before anything is written."""
    return split_refusal(config, processes_for(config, gpus))


def split_refusal(config: RunConfig, processes: int) -> str:
    """Why ``processes`` processes cannot share the batch ("" when they can): the engine's rule
    (:mod:`sra_seg_core.batch_split`), in the form's words."""
    labeled, unlabeled = batch_parts(config)
    if splits_evenly(labeled, unlabeled, processes):
        return ""
    halves = " and ".join(str(h) for h in batch_halves(labeled, unlabeled))
    fitting = [k for k in range(1, processes) if splits_evenly(labeled, unlabeled, k)][-2:]
    choose = " or ".join(map(str, fitting)) + (" GPU" if fitting == [1] else " GPUs")
    return (f"Batch size {config.train.batch_size} ({labeled} labelled + {unlabeled} synthetic) cannot be shared "
            f"evenly by {processes} GPUs: each half of each part ({halves} slices) must divide by {processes}. "
            f"Choose {choose}, or a batch size that is a multiple of {4 * processes}.")


def launch_training(project, config: RunConfig, *, processes: int = 1) -> tuple[Path, subprocess.Popen]:
    """A new run folder with the resolved config, and ``sra-seg train`` started detached on it — as one DDP job of
    ``processes`` processes through torchrun when > 1 (one per GPU). The caller saves the labels first: the trainer
    reads the label files. Raises SraSegError (a batch the processes cannot share, before anything is written) or
    OSError."""
    labeled, unlabeled = batch_parts(config)
    if not splits_evenly(labeled, unlabeled, processes):
        raise ConfigError(split_refusal(config, processes))
    run_dir = project.new_run_dir(prefix=config.train.method)
    config_path = save_config_file(config, run_dir / runs.CONFIG_FILE)
    process = rf.launch(["train", "--data", str(project.path), "--out", str(run_dir), "--config", str(config_path),
                         "--quiet"], run_dir, project.path, processes=processes)
    return run_dir, process


def launch_resume(project, run_dir: Path, pretrain: int, selftrain: int, *,
                  gpus: int = 1) -> tuple[RunConfig, subprocess.Popen]:
    """Continue a run with (possibly longer) stage lengths, over ``gpus`` GPUs when its device allows (the GPUs choice
    serves Resume as it serves Start; the global batch means the same over any count); the engine writes the run's
    config. Raises SraSegError or OSError."""
    config = runs.resume_config(run_dir, pretrain_iters=pretrain, selftrain_iters=selftrain)
    processes = processes_for(config, gpus)
    if refusal := split_refusal(config, processes):
        raise ConfigError(refusal)
    return config, rf.launch([*runs.resume_args(run_dir, config), "--quiet"], run_dir, project.path,
                             processes=processes)


def latest_checkpoint(run_dir: Path, config: RunConfig) -> tuple[str, int] | None:
    """(stage, iteration) of the run's last latest.pt, from its events."""
    history = RunProgress.for_config(config)
    for event in parse_event_lines(FileTail(Path(run_dir) / runs.EVENTS_FILE).read_lines()):
        history.add(event)
    return history.latest_checkpoint


def run_row_status(run: runs.Run, monitor: RunMonitor) -> tuple[str, str]:
    """(status, best Dice) of a run as the runs table shows it; the followed run's figures come live from its events,
    so the table and the header agree."""
    status, best = run.status, run.best_dice
    if monitor.live and run.path == monitor.run_dir:
        status = "stopping" if monitor.stop_requested else "running"
    if run.path == monitor.run_dir and monitor.progress.best_dice is not None:
        best = monitor.progress.best_dice
    return status, dice_text(best)


def title_state(monitor: RunMonitor) -> str:
    """The state after the run's name in the header: running / stopping… while followed, else how it ended."""
    if monitor.live:
        return "stopping…" if monitor.stop_requested else "running"
    return monitor.progress.status or ""


def stage_text(monitor: RunMonitor) -> str:
    """The line under the header: where the run is, or how it ended and what to do next."""
    p = monitor.progress
    if p.status == "finished":
        return (f"Finished: best validation Dice {dice_text(p.best_dice)}. Run the model on cases in the Review "
                "workspace.")
    if p.status == "stopped":
        if p.latest_checkpoint:
            stage, iteration = p.latest_checkpoint
            return (f"Stopped. The latest checkpoint ({STAGE_NAMES.get(stage, stage)}, iteration {iteration}) "
                    "is saved: Resume continues from it.")
        return "Stopped before the first checkpoint: start a new run."
    if p.status in ("failed", runs.DIED):
        return "Training did not finish (see the message below)."
    if not p.stage:
        waited = (f" ({time.monotonic() - monitor.started_at:.0f} s)" if monitor.live and monitor.started_at else "")
        return (f"Preparing: {p.stage_message}…{waited}" if p.stage_message else
                f"Starting the training process (loading PyTorch)…{waited}")
    stages = len(p.totals) or 1
    where = f"Stage {p.stage_number} of {stages}" if stages > 1 else "Supervised"
    total = p.totals.get(p.stage)
    count = f"iteration {p.iteration:,} / {total:,}" if total else f"iteration {p.iteration:,}"
    return f"{where} · {p.stage_message or STAGE_NAMES.get(p.stage, p.stage)} · {count}"
