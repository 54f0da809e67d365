"""A grid of case thumbnails (middle slice, windowed 1–99 %), made in a worker thread, with "Remove selected".

Used by the import dialog for what was just imported, and on its own to browse the synthetic pool
(``ThumbnailGrid(session, role="synthetic")``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
    QVBoxLayout, QWidget,
)

from sra_seg_core import io
from sra_seg_core.errors import SraSegError
from sra_seg_app.model.worker import Worker
from sra_seg_app.theme import MUTED, icon

THUMB_SIZE = 112
CASE_ROLE = Qt.ItemDataRole.UserRole
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
FAILED_ROLE = Qt.ItemDataRole.UserRole + 2


def thumbnail_array(volume: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """The middle slice of a ``(Z, Y, X)`` volume windowed to its ``low_pct``–``high_pct`` percentiles:
    ``(Y, X)`` uint8, 0 at or below the low percentile, 255 at or above the high one (a flat slice is all 0)."""
    plane = np.asarray(volume[volume.shape[0] // 2], dtype=np.float64)
    finite = plane[np.isfinite(plane)]
    if finite.size == 0:
        return np.zeros(plane.shape, np.uint8)
    lo, hi = np.percentile(finite, [low_pct, high_pct])
    if hi <= lo:
        return np.zeros(plane.shape, np.uint8)
    scaled = np.clip((np.nan_to_num(plane, nan=lo) - lo) / (hi - lo), 0.0, 1.0)
    return np.round(scaled * 255).astype(np.uint8)


def thumbnail_image(volume: np.ndarray, size: int = THUMB_SIZE) -> QImage:
    """A :func:`thumbnail_array` scaled to fit ``size`` x ``size`` and centred on a transparent square, so that the
    names under differently shaped thumbnails line up. Safe off the GUI thread (QImage, unlike QPixmap)."""
    plane = np.ascontiguousarray(thumbnail_array(volume))
    h, w = plane.shape
    grey = QImage(plane.data, w, h, w, QImage.Format.Format_Grayscale8)
    scaled = grey.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    square = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    square.fill(Qt.GlobalColor.transparent)
    painter = QPainter(square)
    painter.drawImage((size - scaled.width()) // 2, (size - scaled.height()) // 2, scaled)
    painter.end()
    return square


def make_thumbnails(jobs: list[tuple[str, str, int | None]], worker: Worker) -> None:
    """Read each case's image and report ``(case id, QImage or None, why not)``; stops between images when the
    worker is cancelled. jobs: (case id, image path, frame) each."""
    for case_id, path, frame in jobs:
        if worker.cancelled:
            return
        try:
            image = io.read_image(path, frame=frame)
            worker.report((case_id, thumbnail_image(image.array), ""))
        except (SraSegError, OSError) as exc:
            worker.report((case_id, None, str(exc)))


class ThumbnailGrid(QWidget):
    """Thumbnails of a project's cases: those of one ``role``, or exactly ``case_ids`` (see :meth:`set_cases`).

    Double-click shows the case in the viewer; "Remove selected…" removes cases from the project after asking.
    """

    caseActivated = Signal(str)
    removed = Signal(list)           # case ids removed from the project

    def __init__(self, session, role: str | None = None, case_ids: list[str] | None = None, parent=None):
        super().__init__(parent)
        self.session = session
        self.role = role
        self._fixed = case_ids
        self._worker: Worker | None = None
        self.count_label = QLabel("", objectName="muted")
        self.select_all = QPushButton("Select all")
        self.remove_button = QPushButton(icon("fa5s.trash-alt"), "Remove selected…", objectName="danger")
        self.remove_button.setEnabled(False)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.list.setGridSize(QSize(THUMB_SIZE + 56, THUMB_SIZE + 34))   # room for 'synthetic001_frame01'
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(False)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setSpacing(4)
        top = QHBoxLayout()
        top.addWidget(self.count_label, 1)
        top.addWidget(self.select_all)
        top.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        self.placeholder = icon("fa5s.image", MUTED)
        self._items: dict[str, QListWidgetItem] = {}
        self._cache: dict[tuple[str, str], QIcon] = {}   # (case id, image path) -> thumbnail, kept across refreshes
        self.select_all.clicked.connect(self.list.selectAll)
        self.remove_button.clicked.connect(self.ask_remove)
        self.list.itemSelectionChanged.connect(
            lambda: self.remove_button.setEnabled(bool(self.list.selectedItems()) and not self.session.read_only))
        self.list.itemActivated.connect(self._activated)   # double-click or Enter
        if role is not None:
            session.casesChanged.connect(self.refresh)
            session.projectChanged.connect(self.refresh)
        self.refresh()

    # --- contents -----------------------------------------------------------------------------------------------------
    def set_cases(self, case_ids: list[str]) -> None:
        """Show exactly these cases (e.g. the ones just imported)."""
        self._fixed = list(case_ids)
        self.refresh()

    def case_ids(self) -> list[str]:
        return list(self._items)

    def refresh(self) -> None:
        self.stop()
        self.list.clear()
        self._items.clear()
        project = self.session.project
        if project is None:
            self._update_count()
            return
        known = {c.id: c for c in project.cases}
        if self._fixed is not None:
            cases = [known[i] for i in self._fixed if i in known]
        else:
            cases = [c for c in project.cases if self.role is None or c.role == self.role]
        jobs = []
        for case in cases:
            path = str(project.image_path(case.id))
            item = QListWidgetItem(self._cache.get((case.id, path), self.placeholder), case.id)
            item.setData(CASE_ROLE, case.id)
            item.setData(PATH_ROLE, path)
            item.setToolTip(f"{case.id}\n{case.role}, {' x '.join(map(str, case.shape))} voxels, patient {case.group}"
                            f"\n{case.source}")
            self.list.addItem(item)
            self._items[case.id] = item
            if (case.id, path) not in self._cache:
                jobs.append((case.id, path, case.frame))
        self._update_count()
        if jobs:
            # no parent: launch keeps it until it ends, so a grid closed mid-way does not delete a running thread
            self._worker = Worker(lambda worker: make_thumbnails(jobs, worker))
            self._worker.progress.connect(self._thumbnail_made)
            self._worker.launch()

    def _update_count(self) -> None:
        project = self.session.project
        cases = [project.case(i) for i in self._items] if project else []
        patients = len({c.group for c in cases})
        kind = f"{self.role} " if self.role else ""
        self.count_label.setText(f"{len(cases)} {kind}image{'s' if len(cases) != 1 else ''} · {patients} "
                                 f"patient{'s' if patients != 1 else ''} · {sum(c.shape[0] for c in cases)} slices")

    def _thumbnail_made(self, made: tuple[str, QImage | None, str]) -> None:
        case_id, image, reason = made
        if image is None:
            self._thumbnail_failed(case_id, reason)
        else:
            self._thumbnail_ready(case_id, image)

    def _thumbnail_ready(self, case_id: str, image: QImage) -> None:
        item = self._items.get(case_id)
        if item is not None:
            thumbnail = QIcon(QPixmap.fromImage(image))
            self._cache[(case_id, item.data(PATH_ROLE))] = thumbnail
            item.setIcon(thumbnail)

    def _thumbnail_failed(self, case_id: str, reason: str) -> None:
        item = self._items.get(case_id)
        if item is not None:
            item.setData(FAILED_ROLE, reason)
            item.setIcon(icon("fa5s.exclamation-triangle", "#d9a441"))
            item.setToolTip(f"{item.toolTip()}\nNo thumbnail: {reason}")

    def thumbnails_done(self) -> bool:
        """Whether every shown case has its thumbnail (or a warning icon saying why not)."""
        return all((case_id, item.data(PATH_ROLE)) in self._cache or item.data(FAILED_ROLE)
                   for case_id, item in self._items.items())

    def stop(self) -> None:
        """End the thumbnail thread (waits for the image it is reading)."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    # --- actions ------------------------------------------------------------------------------------------------------
    def selected_ids(self) -> list[str]:
        return [item.data(CASE_ROLE) for item in self.list.selectedItems()]

    def ask_remove(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        shown = "\n".join(ids[:12]) + (f"\n… and {len(ids) - 12} more" if len(ids) > 12 else "")
        answer = QMessageBox.question(
            self, "Remove from the project",
            f"Remove {len(ids)} case{'s' if len(ids) != 1 else ''} from the project?\n\n{shown}\n\n"
            "Copies inside the project and any labels or predictions of these cases are deleted; original files "
            "that were referenced stay where they are.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.remove(ids)

    def remove(self, case_ids: list[str]) -> None:
        """Remove without asking (the confirmation is :meth:`ask_remove`'s); errors become a message box."""
        try:
            self.session.remove_cases(case_ids)
        except SraSegError as exc:
            QMessageBox.critical(self, "Cannot remove", str(exc))
            return
        finally:
            if self._fixed is not None:
                self._fixed = [i for i in self._fixed if i in {c.id for c in self.session.project.cases}]
            self.refresh()
        self.removed.emit(list(case_ids))

    def _activated(self, item: QListWidgetItem) -> None:
        case_id = item.data(CASE_ROLE)
        self.session.select_case(case_id)
        self.caseActivated.emit(case_id)

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)
