"""The Label workspace: the viewer with its slice slider and status strip, driven by the tools dock."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from sra_seg_core import annotation as ann
from sra_seg_core.project import SliceStatus
from sra_seg_app.widgets.canvas import SliceCanvas
from sra_seg_app.model.session import WindowLevel
from sra_seg_app.widgets.slice_strip import SliceStrip
from sra_seg_app.workspaces.label_views import LinkedViews

WINDOW_PERCENTILES = {"Auto (1–99 %)": (1, 99), "Full range": (0, 100), "Soft (5–95 %)": (5, 95),
                      "Wide (0.5–99.5 %)": (0.5, 99.5)}


class LabelWorkspace(QWidget):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.canvas = SliceCanvas(session)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Slice (wheel, PgUp/PgDn, ↑/↓)")
        self.slice_label = QLabel("–")
        self.slice_label.setMinimumWidth(90)
        self.strip = SliceStrip()
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.slice_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        # the canvas (the acquisition plane, which paints) sits in the linked views: 1×1, 1×3 planes, 2×2 with 3-D
        self.views = LinkedViews(session, self.canvas)
        layout.addWidget(self.views, 1)
        layout.addWidget(self.strip)
        layout.addLayout(row)
        self.slider.valueChanged.connect(session.set_slice)
        self.strip.sliceClicked.connect(session.set_slice)
        self.canvas.wheelSlice.connect(session.step_slice)
        session.caseChanged.connect(self._case_changed)
        session.sliceChanged.connect(self._slice_changed)
        session.statusChanged.connect(lambda case: case == session.case_id and self._update_strip())

    def _case_changed(self, case_id: str) -> None:
        image = self.session.image
        self.slider.blockSignals(True)
        self.slider.setRange(0, (image.shape[0] - 1) if image is not None else 0)
        self.slider.blockSignals(False)
        self._slice_changed(self.session.z)

    def _slice_changed(self, z: int) -> None:
        image = self.session.image
        self.slider.blockSignals(True)
        self.slider.setValue(z)
        self.slider.blockSignals(False)
        self.slice_label.setText(f"slice {z + 1} / {image.shape[0]}" if image is not None else "–")
        self._update_strip()

    def _update_strip(self) -> None:
        self.strip.set_state(self.session.slice_status(), self.session.z)

    # --- actions from the tools dock and shortcuts -------------------------------------------------------------------
    def window_preset(self, name: str) -> None:
        if self.session.image is not None:
            low, high = WINDOW_PERCENTILES[name]
            self.session.set_window(WindowLevel.auto(self.session.image.array, low, high))

    def run_action(self, name: str) -> None:
        s = self.session
        if s.image is None:
            return
        if name in ("done", "progress", "flag", "clear-status"):
            status = {"done": SliceStatus.DONE, "progress": SliceStatus.IN_PROGRESS, "flag": SliceStatus.FLAGGED,
                      "clear-status": SliceStatus.NOT_STARTED}[name]
            s.set_status(status)
        elif name == "next-unlabelled":
            z = ann.next_unlabelled(s.slice_status(), s.z)
            if z is None:
                s.message.emit("Every slice of this case is done.")
            else:
                s.set_slice(z)
        elif name in ("copy-prev", "copy-next"):
            source = s.z - 1 if name == "copy-prev" else s.z + 1
            if 0 <= source < s.image.shape[0] and s.can_edit():
                if not s.commit([ann.copy_slice(s.labels(), source, s.z)], f"Copy from slice {source + 1}"):
                    s.message.emit("Nothing to copy: the slices are identical.")
        elif name == "interpolate":
            self.interpolate()

    def interpolate(self) -> None:
        """Fill the slices between the nearest labelled slice above and below the current one (or the gap the
        current slice starts, when it is labelled)."""
        s = self.session
        if not s.can_edit():
            return
        labelled = np.flatnonzero(s.labels().reshape(s.image.shape[0], -1).any(axis=1))
        below, above = labelled[labelled < s.z], labelled[labelled > s.z]
        if s.z in labelled:
            below = np.array([s.z])
        if not len(below) or not len(above):
            s.message.emit("Interpolation needs a labelled slice on each side of this one.")
            return
        z_a, z_b = int(below.max()), int(above.min())
        edits = ann.interpolate_slices(s.labels(), z_a, z_b, spacing_zyx=s.image.spacing_zyx)
        if s.commit(edits, f"Interpolate slices {z_a + 1}–{z_b + 1}"):
            s.message.emit(f"Interpolated {len(edits)} slice(s) between {z_a + 1} and {z_b + 1}.")
        else:
            s.message.emit("Nothing to interpolate: the slices in between are already labelled.")
