"""A training run's folder as the app sees it: what ran, whether its process still lives, and how to start or stop it.

The trainer owns the folder (see :mod:`sra_seg_core.trainer`): ``config.yaml``, ``run.json`` (status, pid, best Dice),
``events.jsonl`` and ``checkpoints/``. The app adds ``train.log``, the child's stdout and stderr, which holds what the
events cannot: the CLI's ``error:`` line for a failure before the trainer starts, and a crash's traceback.

Training runs as a detached child (its own session on POSIX, its own process group on Windows), so it outlives the
window: the app watches the files, not a pipe. ``subprocess.Popen`` starts it rather than ``QProcess.startDetached``
because PySide6's binding of the latter drops the process id, and the id is what Stop and re-attaching need.

Stopping: on POSIX, SIGTERM makes the trainer save ``latest.pt`` and end with a ``done`` event (status ``stopped``).
Windows has no SIGTERM for a process without a console; there :func:`request_stop` terminates the process at once
and the run resumes from its last periodic ``latest.pt`` (``train.checkpoint_every``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sra_seg_app.model.jobs import engine_command

CONFIG_NAME = "config.yaml"
META_NAME = "run.json"
EVENTS_NAME = "events.jsonl"
LOG_NAME = "train.log"
LATEST_CHECKPOINT = Path("checkpoints") / "latest.pt"

# Statuses a run can show: the trainer's own (running, finished, stopped, failed) and two the app infers.
DIED = "ended unexpectedly"      # run.json says running, but its process is gone (crash, kill, out of memory)
NOT_STARTED = "not started"      # no run.json: the child failed before the trainer began, or is starting now

_OUT_OF_MEMORY = re.compile(r"out of memory|OutOfMemoryError|MemoryError|Cannot allocate memory", re.IGNORECASE)
OUT_OF_MEMORY_ADVICE = ("The device ran out of memory: lower the batch size or the image size and start a new run "
                        "(a resumed run keeps its saved batch and image size).")


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs list."""

    path: Path
    method: str
    status: str                 # running | finished | stopped | failed | DIED | NOT_STARTED
    best_dice: float | None     # best validation mean Dice of the final stage, when known
    started: float | None       # unix seconds
    pid: int | None
    encoder_pretrained: bool | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def resumable(self) -> bool:
        return not self.running and (self.path / LATEST_CHECKPOINT).is_file()


def read_meta(run_dir: Path) -> dict:
    """``run.json`` as a dict; {} when it is missing or unreadable (a run that never started, a damaged file)."""
    try:
        meta = json.loads((Path(run_dir) / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def read_config(run_dir: Path):
    """The run's saved :class:`~sra_seg_core.config.RunConfig`, or None when it is missing or invalid."""
    from sra_seg_core.config import load_config_file
    from sra_seg_core.errors import SraSegError

    try:
        return load_config_file(Path(run_dir) / CONFIG_NAME)
    except SraSegError:
        return None


def summarize(run_dir: Path) -> RunSummary:
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    pid = meta.get("pid") if isinstance(meta.get("pid"), int) else None
    status = meta.get("status") or NOT_STARTED
    if status == "running" and not engine_alive(pid):
        status = DIED
    if status == NOT_STARTED and "error:" in "\n".join(log_tail(run_dir, 20)):
        status = "failed"
    method = meta.get("method")
    if not method:
        config = read_config(run_dir)
        method = config.train.method if config else "?"
    best = meta.get("best_dice")
    started = meta.get("created")
    if started is None:
        try:
            started = run_dir.stat().st_mtime
        except OSError:
            started = None
    encoder = meta.get("encoder") if isinstance(meta.get("encoder"), dict) else {}
    return RunSummary(run_dir, method, status, best if isinstance(best, (int, float)) and best >= 0 else None,
                      started, pid, encoder.get("pretrained"))


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run folder under ``runs_dir``, newest first."""
    try:
        folders = [p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted((summarize(p) for p in folders), key=lambda r: (r.started or 0, r.name), reverse=True)


def log_tail(run_dir: Path, lines: int = 12) -> list[str]:
    """The last ``lines`` non-empty lines of the run's ``train.log``."""
    try:
        with open(Path(run_dir) / LOG_NAME, "rb") as fh:
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


def advice_for(text: str) -> str:
    """What to do about a failure whose message or log reads like ``text`` ("" when there is nothing specific)."""
    return OUT_OF_MEMORY_ADVICE if _OUT_OF_MEMORY.search(text or "") else ""


# --- processes --------------------------------------------------------------------------------------------------------
def launch(args: list[str], run_dir: Path, cwd: Path) -> subprocess.Popen:
    """Start ``sra-seg ARGS`` detached from this process, stdout and stderr appended to ``<run_dir>/train.log``."""
    program, full = engine_command(*args)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    detach = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
              if os.name == "nt" else {"start_new_session": True})
    with open(Path(run_dir) / LOG_NAME, "ab") as log:
        return subprocess.Popen([program, *full], cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, **detach)


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


def request_stop(pid: int) -> None:
    """Ask the run to stop (SIGTERM: it saves latest.pt and ends cleanly; on Windows this terminates it)."""
    _signal(pid, signal.SIGTERM)


def kill(pid: int) -> None:
    _signal(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def _signal(pid: int, sig) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone, or not ours to signal


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
