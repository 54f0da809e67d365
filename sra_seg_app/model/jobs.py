"""Running the engine's CLI in a child process, so torch, crashes and out-of-memory errors stay out of the window.

:class:`EngineRun` starts ``python -m sra_seg_core ARGS``, parses the JSON-line events the command writes to stdout
(``--events -``) into :class:`~sra_seg_core.events.Event` objects, collects stderr for the error message, and stops the
child on request (SIGTERM first, so the trainer saves ``latest.pt``; a kill if it does not end in time).

Every job has one life cycle, :class:`JobState`: idle → running → cancelling → finished | failed, driven by the
process and its events; the command's typed result arrives in its ``done`` event and is kept in ``result``.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from enum import Enum

from sra_seg_core.events import Event


class JobState(str, Enum):
    IDLE = "idle"
    RUNNING = "running"
    CANCELLING = "cancelling"
    FINISHED = "finished"       # exit code 0, or ended after a stop was asked for (it ended as asked)
    FAILED = "failed"


def next_state(state: JobState, what: str, *, code: int | None = None) -> JobState:
    """The job state after ``what`` ("start", "cancel" or "exit" with exit ``code``); -1 is a crash."""
    if what == "start":
        return JobState.RUNNING
    if what == "cancel":
        return JobState.CANCELLING if state == JobState.RUNNING else state
    if what == "exit":
        if state not in (JobState.RUNNING, JobState.CANCELLING):
            return state
        return JobState.FINISHED if code == 0 or state == JobState.CANCELLING else JobState.FAILED
    raise ValueError(f"unknown job transition {what!r}")


def engine_command(*args: str) -> tuple[str, list[str]]:
    """Program and arguments that run ``sra-seg ARGS`` with this interpreter."""
    return sys.executable, ["-m", "sra_seg_core", *args]


def engine_process(parent=None) -> QProcess:
    """A QProcess set up for the engine: unbuffered output, stdout and stderr kept apart."""
    process = QProcess(parent)
    env = QProcessEnvironment.systemEnvironment()
    env.insert("PYTHONUNBUFFERED", "1")
    process.setProcessEnvironment(env)
    process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
    return process


class EngineRun(QObject):
    """One engine command in a child process, with its events parsed as they arrive."""

    started = Signal()
    event = Signal(object)            # sra_seg_core.events.Event
    output = Signal(str)              # a stdout line that is not an event
    errorOutput = Signal(str)         # a stderr line (human-readable progress, warnings, the error line)
    finished = Signal(int, str)       # exit code (-1 if it crashed), last "error:" line or ""
    stateChanged = Signal(str)        # a JobState value

    def __init__(self, parent=None, *, stop_timeout_ms: int = 15000):
        super().__init__(parent)
        self.process = engine_process(self)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.process.started.connect(self.started)
        self.process.errorOccurred.connect(self._error)
        self._out, self._err = b"", b""
        self.last_error = ""
        self.stderr_tail: list[str] = []
        self.stop_timeout_ms = stop_timeout_ms
        self._kill_timer = QTimer(self, singleShot=True)
        self._kill_timer.timeout.connect(self.kill)
        self.args: list[str] = []
        self.state = JobState.IDLE
        self.result: dict | None = None   # the done event's result

    def _move(self, what: str, code: int | None = None) -> None:
        state = next_state(self.state, what, code=code)
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state.value)

    def start(self, *args: str) -> None:
        program, full = engine_command(*args)
        self.args = list(args)
        self._out, self._err, self.last_error, self.stderr_tail = b"", b"", "", []
        self.result = None
        self._move("start")
        self.process.start(program, full)

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def stop(self) -> None:
        """Ask the child to stop (SIGTERM: the trainer saves latest.pt and exits); kill it if it does not."""
        if self.running:
            self._move("cancel")
            self.process.terminate()
            self._kill_timer.start(self.stop_timeout_ms)

    def kill(self) -> None:
        if self.running:
            self.process.kill()

    def wait(self, msecs: int = 30000) -> bool:
        return self.process.waitForFinished(msecs)

    # --- plumbing ---------------------------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        self._out += bytes(self.process.readAllStandardOutput())
        *lines, self._out = self._out.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    event = Event.from_json(line)
                except (ValueError, TypeError):
                    pass
                else:
                    if event.event == "done" and event.result is not None:
                        self.result = event.result
                    self.event.emit(event)
                    continue
            self.output.emit(line)

    def _read_stderr(self) -> None:
        self._err += bytes(self.process.readAllStandardError())
        *lines, self._err = self._err.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            if line.startswith("error:"):
                self.last_error = line[len("error:"):].strip()
            self.stderr_tail = (self.stderr_tail + [line])[-200:]
            self.errorOutput.emit(line)

    def _finished(self, code: int, status) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        self._read_stderr()
        if self._out.strip():
            self._out += b"\n"
            self._read_stdout()
        crashed = status == QProcess.ExitStatus.CrashExit
        self._move("exit", -1 if crashed else code)
        self.finished.emit(-1 if crashed else code, self.last_error)

    def _error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.last_error = f"could not start the engine ({sys.executable} -m sra_seg_core)"
            self._move("exit", -1)
            self.finished.emit(-1, self.last_error)
