"""A training run's folder: its layout, its typed metadata, its status, what it offers, and resuming it.

Layout (every name is written here once; the trainer, the CLI and the app all use these)::

    <run>/config.yaml            the resolved RunConfig (the trainer writes it; a resume with a longer schedule too)
    <run>/run.json               RunMeta: status, pid, method, best Dice, encoder, what latest.pt holds, ...
    <run>/events.jsonl           the Event stream
    <run>/train.log              stdout and stderr of a run the app started (the CLI's error line, a traceback)
    <run>/checkpoints/best.pt    best validation checkpoint of the final stage
    <run>/checkpoints/latest.pt  resumable state (student, optimiser, RNG; the EMA teacher when the method has one)
    <run>/checkpoints/pretrain_best.pt   best stage-1 weights of a two-stage method

Status vocabulary, one for every reader: ``running``, ``stopped``, ``finished``, ``failed`` and ``died`` — run.json
says running but its process is gone (killed, crashed, out of memory), or the folder never got a run.json and no
error was logged. No torch here: listing runs must be instant.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from sra_seg_core.atomic import atomic_write_json
from sra_seg_core.errors import ConfigError, SraSegError
from sra_seg_core.regular_files import load_json

CONFIG_FILE = "config.yaml"
META_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "train.log"
CHECKPOINT_DIR = "checkpoints"
BEST = "best.pt"
LATEST = "latest.pt"
PRETRAIN_BEST = "pretrain_best.pt"

RUNNING, STOPPED, FINISHED, FAILED, DIED = "running", "stopped", "finished", "failed", "died"
STATUSES = (RUNNING, STOPPED, FINISHED, FAILED, DIED)

# What a run can offer to inference, review and Which 10 %: its best weights, its resumable latest state, and the
# EMA teacher inside latest.pt (teacher-student disagreement needs both).
OFFERS = ("best", "latest", "teacher")


def checkpoint_path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / name


@dataclass
class RunMeta:
    """``run.json``, typed. Unknown keys (a newer writer) are kept in ``extra`` and written back unchanged."""

    status: str | None = None               # one of STATUSES as the trainer last wrote it (never "died")
    method: str | None = None
    pid: int | None = None
    version: str | None = None
    created: float | None = None            # unix seconds
    resumed: float | None = None
    finished: float | None = None
    device: str | None = None
    torch: str | None = None
    python: str | None = None
    best_dice: float | None = None          # best validation mean Dice in [0, 1] of the final stage; None: none yet
    best_checkpoint: str | None = None
    error: str | None = None
    data: dict | None = None
    num_classes: int | None = None
    class_names: list[str] | None = None
    encoder: dict | None = None             # name, weights, pretrained (False: an untrained DINOv2)
    latest_stage: str | None = None         # the stage latest.pt was saved in
    latest_iteration: int | None = None
    latest_has_teacher: bool | None = None
    batch_size_reduced_to: int | None = None     # after out of memory: the batch that fitted (resume continues at it)
    labeled_batch_reduced_to: int | None = None
    world_size: int | None = None            # processes of a torchrun (DDP) run; None: one process
    batch_reduction_reason: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def encoder_pretrained(self) -> bool | None:
        return self.encoder.get("pretrained") if isinstance(self.encoder, dict) else None

    @classmethod
    def from_dict(cls, data: dict) -> RunMeta:
        names = {f.name for f in fields(cls)} - {"extra"}
        meta = cls(**{k: v for k, v in data.items() if k in names},
                   extra={k: v for k, v in data.items() if k not in names})
        # Before RunMeta the trainer wrote -1 for "no validation yet"; None is the one way to say it now.
        if not isinstance(meta.best_dice, (int, float)) or not 0 <= meta.best_dice <= 1:
            meta.best_dice = None
        if not isinstance(meta.pid, int) or isinstance(meta.pid, bool):
            meta.pid = None
        return meta

    def to_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "extra" and v is not None}
        return {**self.extra, **data}


def read_meta(run_dir: str | Path) -> RunMeta:
    """The run's metadata; an empty RunMeta when run.json is missing or unreadable (a run that never started)."""
    try:  # bounded, never through a link: a run folder may come from an archive
        data = load_json(Path(run_dir) / META_FILE, follow_links=False)
    except (OSError, SraSegError):
        return RunMeta()
    return RunMeta.from_dict(data) if isinstance(data, dict) else RunMeta()


def update_meta(run_dir: str | Path, **changes) -> RunMeta:
    """Set fields of run.json (atomically) and return the result; only the trainer writes it."""
    names = {f.name for f in fields(RunMeta)}
    unknown = set(changes) - names
    if unknown:
        raise TypeError(f"RunMeta has no field(s) {', '.join(sorted(unknown))}")
    meta = read_meta(run_dir)
    for key, value in changes.items():
        setattr(meta, key, value)
    atomic_write_json(Path(run_dir) / META_FILE, meta.to_dict())
    return meta


@dataclass(frozen=True)
class Run:
    """One run folder as every reader sees it."""

    path: Path
    meta: RunMeta
    status: str                 # one of STATUSES
    method: str                 # "?" when neither run.json nor config.yaml says
    started: float | None       # unix seconds
    offers: dict[str, Path]     # kind in OFFERS -> checkpoint file
    updated: float = 0.0        # unix seconds of its last sign of life: start, resume, or a checkpoint written

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def best_dice(self) -> float | None:
        return self.meta.best_dice

    @property
    def pid(self) -> int | None:
        return self.meta.pid

    @property
    def encoder_pretrained(self) -> bool | None:
        return self.meta.encoder_pretrained

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def resumable(self) -> bool:
        return not self.running and "latest" in self.offers

    @property
    def error(self) -> str:
        return self.meta.error or last_error_line(log_tail(self.path, 40))


def describe(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    status = meta.status if meta.status in STATUSES else None
    if status == RUNNING and not engine_alive(meta.pid):
        status = DIED
    if status is None:
        status = FAILED if last_error_line(log_tail(run_dir, 40)) else DIED
    method = meta.method or _config_method(run_dir)
    started = meta.created
    if started is None:
        try:
            started = run_dir.stat().st_mtime
        except OSError:
            started = None
    offers = {}
    for kind, name in (("best", BEST), ("latest", LATEST)):
        if checkpoint_path(run_dir, name).is_file():
            offers[kind] = checkpoint_path(run_dir, name)
    if "latest" in offers and meta.latest_has_teacher:
        offers["teacher"] = offers["latest"]
    times = [t for t in (started, meta.resumed) if t is not None]
    for path in offers.values():
        try:
            times.append(path.stat().st_mtime)
        except OSError:   # removed since the listing
            pass
    return Run(run_dir, meta, status, method, started, offers, max(times, default=0.0))


def list_runs(runs_dir: str | Path, *, offering: str | None = None) -> list[Run]:
    """Every run folder under ``runs_dir``, the most recently active first (a resumed run, a newer best model);
    ``offering``: only runs that offer that checkpoint kind."""
    if offering is not None and offering not in OFFERS:
        raise ValueError(f"offering must be one of {OFFERS}, got {offering!r}")
    try:
        folders = [p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    runs = [describe(p) for p in folders]
    if offering is not None:
        runs = [r for r in runs if offering in r.offers]
    return sorted(runs, key=lambda r: (r.updated, r.name), reverse=True)


def _config_method(run_dir: Path) -> str:
    config = read_config(run_dir)
    return config.train.method if config is not None else "?"


def read_config(run_dir: str | Path):
    """The run's saved :class:`~sra_seg_core.config.RunConfig`, or None when it is missing or invalid."""
    from sra_seg_core.config import load_config_file

    try:
        return load_config_file(Path(run_dir) / CONFIG_FILE)
    except SraSegError:
        return None


# --- resuming ---------------------------------------------------------------------------------------------------------
def resume_config(run_dir: str | Path, *, pretrain_iters: int | None = None, selftrain_iters: int | None = None):
    """The config a resume of ``run_dir`` trains with: the saved one, its schedule made longer where asked.

    Iteration counts may only grow (the saved state is at some iteration of the old schedule); the trainer writes the
    longer schedule to config.yaml when it resumes, so no caller writes the run's files. Raises ConfigError.
    """
    run = describe(run_dir)
    if run.running:
        raise ConfigError("cannot resume: the run is still training", run.path)
    if "latest" not in run.offers:
        raise ConfigError(f"cannot resume: no {CHECKPOINT_DIR}/{LATEST} (the run ended before its first save)",
                          run.path)
    config = read_config(run.path)
    if config is None:
        raise ConfigError(f"cannot resume: {CONFIG_FILE} is missing or invalid", run.path)
    t = config.train
    for name, new, old in (("pretrain", pretrain_iters, t.pretrain_iters),
                           ("selftrain", selftrain_iters, t.selftrain_iters)):
        if new is not None and new < old:
            raise ConfigError(f"cannot resume with fewer {name} iterations ({new}) than the run's {old}", run.path)
    t.pretrain_iters = t.pretrain_iters if pretrain_iters is None else int(pretrain_iters)
    t.selftrain_iters = t.selftrain_iters if selftrain_iters is None else int(selftrain_iters)
    return config


def resume_args(run_dir: str | Path, config) -> list[str]:
    """``sra-seg`` arguments that resume ``run_dir`` with ``config``'s (possibly longer) schedule."""
    return ["train", "--resume", str(run_dir), "--pretrain-iters", str(config.train.pretrain_iters),
            "--selftrain-iters", str(config.train.selftrain_iters)]


# --- logs and processes -----------------------------------------------------------------------------------------------
def log_tail(run_dir: str | Path, lines: int = 12) -> list[str]:
    """The last ``lines`` non-empty lines of the run's ``train.log``."""
    try:
        with open(Path(run_dir) / LOG_FILE, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def last_error_line(lines: list[str]) -> str:
    """The message of the last ``error: …`` line the CLI wrote, or ""."""
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:"):].strip()
    return ""


def engine_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a living engine process (on Linux a zombie or a reused pid of another program is not)."""
    if not pid or pid <= 0:
        return False
    if os.name == "nt":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():  # no procfs (macOS): existence is all we can tell
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and (b"sra_seg_core" in cmdline or b"sra-seg" in cmdline)


def _windows_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
