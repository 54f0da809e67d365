"""Background work in the app: one helper, a :class:`Worker` thread with ``progress / done / failed`` signals.

``fn(worker)`` runs off the GUI thread; it may call ``worker.report(value)`` and check ``worker.cancelled``. When it
ends, exactly one of ``done(result)`` or ``failed(exception)`` is emitted, on the thread that owns the worker (the GUI
thread), so handlers may touch widgets. :meth:`Worker.launch` starts one that nothing else keeps: it stays referenced
until it ends, and is cancelled and awaited when the application quits (a QThread deleted while it runs aborts the
program). :func:`run_blocking` is the synchronous form: the caller waits for the result
while the event loop keeps running without user input (timers tick, windows repaint).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEventLoop, QThread, Signal


class Worker(QThread):
    _live: set[Worker] = set()   # launched workers, until they end

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(object)       # the exception fn raised

    def __init__(self, fn: Callable[[Worker], object], parent=None):
        super().__init__(parent)
        self._fn = fn
        self.result: object = None
        self.error: BaseException | None = None
        self._cancel = threading.Event()
        self.finished.connect(self._ended)

    def run(self) -> None:
        try:
            self.result = self._fn(self)
        except BaseException as exc:  # handed to the GUI thread, raised or shown there
            self.error = exc

    def _ended(self) -> None:
        if self.error is not None:
            self.failed.emit(self.error)
        else:
            self.done.emit(self.result)

    def launch(self) -> Worker:
        """Start, kept alive until finished; every launched worker is cancelled and awaited when the application
        quits. Returns self."""
        app = QCoreApplication.instance()
        if app is not None and not app.property("sra_seg_worker_stop"):
            app.aboutToQuit.connect(Worker.stop_all)
            app.setProperty("sra_seg_worker_stop", True)
        Worker._live.add(self)
        self.finished.connect(lambda: Worker._live.discard(self))
        self.start()
        return self

    @staticmethod
    def stop_all() -> None:
        for worker in list(Worker._live):
            worker.cancel()
            worker.wait()

    def stop(self) -> None:
        """Cancel and wait for ``fn`` to return (it checks :attr:`cancelled` between steps)."""
        self.cancel()
        self.wait()

    def report(self, value) -> None:
        self.progress.emit(value)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


def run_blocking(fn: Callable[[], object]):
    """``fn()`` in a worker while the event loop runs without user input; its result, or its exception raised here.
    Without a Qt application it simply calls ``fn``."""
    if QCoreApplication.instance() is None:
        return fn()
    worker = Worker(lambda _worker: fn())
    loop = QEventLoop()
    worker.finished.connect(loop.quit)  # queued to this thread: delivered inside exec() even if already done
    try:
        worker.start()
        loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    finally:
        worker.wait()
    if worker.error is not None:
        raise worker.error
    return worker.result
