"""Running the engine's CLI in a child process (so torch, crashes and out-of-memory stay out of the window)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QProcess, QProcessEnvironment


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
