"""First start: the demo project opens on its first patient while the others are made in the background.

:class:`DemoFill` renders each missing patient of the open demo project in a :class:`~sra_seg_app.model.worker.Worker`
(the phantoms are pure computation) and adds it on the window's thread — the only thread that touches the open
project — announcing it with ``session.casesChanged``, so the case browser fills as patients arrive and never sees a
half-added one. Closing the project or the window stops it between patients; what was added is complete (see
:mod:`sra_seg_core.demo`), and the next opening carries on.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from sra_seg_core.errors import SraSegError, error_line
from sra_seg_app.model.worker import Worker


class DemoFill(QObject):
    added = Signal(int, int, str)     # patients done, patients to make, name of the one just added
    finished = Signal()               # every planned patient is in the project
    failed = Signal(str)              # why the rest could not be made (the project keeps what it has)

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.worker: Worker | None = None
        self.project = None
        self.total = self.done = 0
        self.staging: Path | None = None
        session.projectChanged.connect(self._project_changed)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self) -> bool:
        """Make what the open demo project lacks; False when there is nothing to make (or it is read-only)."""
        project = self.session.project
        if self.running and not self.worker.cancelled:
            return False
        if project is None or project.read_only or "demo" not in project.settings:
            return False
        from sra_seg_core import demo   # the phantoms' imports, only for a demo project

        missing = demo.missing_patients(project)
        if not missing:
            return False
        settings = demo.demo_settings(project)
        labelled, seed = settings.get("labelled", demo.LABELLED_PATIENTS), settings.get("seed", demo.SEED)
        self.project, self.total, self.done = project, len(missing), 0
        self._drop_staging()
        self.staging = Path(tempfile.mkdtemp(prefix="sra-seg-demo-"))   # see demo.add_patient: kept to the end

        def render(worker: Worker) -> None:
            for patient in missing:
                if worker.cancelled:
                    return
                worker.report((patient.name, demo.render_patient(patient, labelled=labelled, seed=seed)))

        worker = self.worker = Worker(render)
        worker.progress.connect(lambda item: self._rendered(worker, item))
        worker.done.connect(lambda _result: self._ended(worker))
        worker.failed.connect(lambda exc: self._ended(worker, exc))
        worker.launch()
        return True

    def stop(self) -> None:
        """Stop after the patient being rendered (it is not added)."""
        if self.worker is not None:
            self.worker.cancel()
        self._drop_staging()   # nothing is added after a stop: what is queued is dropped

    def _drop_staging(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    def _rendered(self, worker: Worker, item) -> None:
        from sra_seg_core import demo

        name, cases = item
        if worker is not self.worker or worker.cancelled or self.session.project is not self.project:
            return   # queued before a stop: the project may be closed
        try:
            demo.add_patient(self.project, cases, self.staging)
        except (SraSegError, OSError) as exc:
            worker.cancel()
            self.failed.emit(f"The demo project could not be completed: {error_line(exc)}")
            return
        self.done += 1
        self.session.casesChanged.emit()
        self.added.emit(self.done, self.total, name)

    def _ended(self, worker: Worker, error=None) -> None:
        if worker is not self.worker:
            return   # a stopped fill ending after a new one began
        complete = self.session.project is self.project and self.done == self.total
        self.worker = None
        self._drop_staging()
        if error is not None:
            self.failed.emit(f"The demo project could not be completed: {error_line(error)}")
        elif complete:
            self.finished.emit()

    def _project_changed(self) -> None:
        if self.session.project is not self.project:
            self.stop()
