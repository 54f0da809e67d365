"""Starting and stopping a training process detached from the window (the run folder itself is
:mod:`sra_seg_core.runs`).

The app adds ``train.log`` to the run folder, the child's stdout and stderr, which holds what the events cannot: the
CLI's ``error:`` line for a failure before the trainer starts, and a crash's traceback.

Training runs as a detached child (its own session on POSIX, its own process group on Windows), so it outlives the
window: the app watches the files, not a pipe. ``subprocess.Popen`` starts it rather than ``QProcess.startDetached``
because PySide6's binding of the latter drops the process id, and the id is what Stop and re-attaching need.

Stopping signals the whole process group the run leads (data-loader workers and any helper the trainer started end
with it). On POSIX, SIGTERM makes the trainer save ``latest.pt`` and end with a ``done`` event (status ``stopped``).
Windows has no SIGTERM for a process without a console; there :func:`request_stop` terminates the process at once
and the run resumes from its last periodic ``latest.pt`` (``train.checkpoint_every``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from sra_seg_core import runs
from sra_seg_app.model.jobs import engine_command

_OUT_OF_MEMORY = re.compile(r"out of memory|OutOfMemoryError|MemoryError|Cannot allocate memory", re.IGNORECASE)
OUT_OF_MEMORY_ADVICE = ("The device ran out of memory: lower the batch size or the image size and start a new run "
                        "(a resumed run keeps its saved batch and image size).")


def advice_for(text: str) -> str:
    """What to do about a failure whose message or log reads like ``text`` ("" when there is nothing specific)."""
    return OUT_OF_MEMORY_ADVICE if _OUT_OF_MEMORY.search(text or "") else ""


def command(args: list[str], processes: int = 1) -> list[str]:
    """The command line that runs ``sra-seg ARGS``: this interpreter alone, or, for ``processes`` > 1, one DDP job on
    this machine through PyTorch's own launcher (``torchrun --standalone``: it picks a free rendezvous port, so two
    such runs do not meet). Every process gets the same ``--out``, and rank 0 alone writes the run folder, so the app
    follows a multi-process run exactly as a one-process run. The launcher leads the process group the run's
    processes share, so stopping it stops them all."""
    program, full = engine_command(*args)
    if processes <= 1:
        return [program, *full]
    return [program, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), *full]


def launch(args: list[str], run_dir: Path, cwd: Path, *, processes: int = 1) -> subprocess.Popen:
    """Start ``sra-seg ARGS`` (as ``processes`` DDP processes, see :func:`command`) detached from this process,
    stdout and stderr appended to ``<run_dir>/train.log``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    detach = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
              if os.name == "nt" else {"start_new_session": True})
    with open(Path(run_dir) / runs.LOG_FILE, "ab") as log:
        return subprocess.Popen(command(args, processes), cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, **detach)


def request_stop(pid: int) -> None:
    """Ask the run to stop (SIGTERM: it saves latest.pt and ends cleanly; on Windows this terminates it). A paused
    run is woken to do so (a stopped process holds the SIGTERM until it continues)."""
    signal_group(pid, signal.SIGTERM)
    resume(pid)


def kill(pid: int) -> None:
    signal_group(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def pause(pid: int) -> None:
    """Freeze the run's whole process group (SIGSTOP, POSIX; nothing elsewhere): it keeps its memory and goes on
    after :func:`resume`."""
    if hasattr(signal, "SIGSTOP"):
        signal_group(pid, signal.SIGSTOP)


def resume(pid: int) -> None:
    if hasattr(signal, "SIGCONT"):
        signal_group(pid, signal.SIGCONT)


def signal_group(pid: int, sig) -> None:
    """Signal the process group ``pid`` leads (a run the app launched), else the process alone (one started in a
    terminal shares its shell's group, which must not be signalled)."""
    try:
        if hasattr(os, "killpg") and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone, or not ours to signal
