"""Keeps a :class:`~sra_seg_app.model.planes.PlanesModel` in step with the Label workspace's session, no widgets.

The painting canvas is the acquisition plane: it shows ``session.z`` and owns painting, undo and the tools. The other
planes and the 3-D view read the same case through a planes model, so this link copies, both ways:

* the case (image, its affine and spacing) and the labels the canvas shows (the tool state's layer: approved labels,
  or the prediction) into the model, and every label change (strokes, undo, a new prediction);
* the session's slice into the crosshair's z, and the crosshair's z (a click in another plane) into the session;
* the cursor over the canvas into the crosshair's (y, x), so the other planes show the column under the mouse;
* window/level both ways, and the overlay opacity and class colours from the tool state and the project.

Loops end by themselves: both sides emit only on a real change.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from sra_seg_app.model.planes import PlanesModel
from sra_seg_app.model.session import Session, WindowLevel
from sra_seg_app.model.tools import ToolState


class PlaneLink(QObject):
    def __init__(self, session: Session, tools: ToolState, model: PlanesModel | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.tools = session, tools
        self.model = model or PlanesModel(self, as_stored=True)
        self.model.set_opacity(tools.opacity)
        session.caseChanged.connect(self._case_changed)
        session.sliceChanged.connect(self._slice_changed)
        session.labelsChanged.connect(lambda case, _z: case == session.case_id and self._labels_changed())
        session.predictionChanged.connect(lambda case: case == session.case_id and self._labels_changed())
        session.windowLevelChanged.connect(self._window_from_session)
        session.projectChanged.connect(self._colors_changed)
        tools.changed.connect(self._tools_changed)
        self.model.changed.connect(self._model_changed)
        if session.image is not None:
            self._case_changed(session.case_id)

    # --- what the canvas shows -------------------------------------------------------------------------------------
    def shown_labels(self):
        """The (Z, Y, X) uint8 label map the canvas fills: approved labels (layers "approved" and "both"), or the
        prediction (layer "prediction"); None when there is none."""
        if self.tools.layer == "prediction":
            return self.session.prediction()
        return self.session.labels()

    def class_colors(self) -> dict[int, str]:
        project = self.session.project
        return {c.value: c.color for c in project.classes} if project else {}

    # --- session -> model --------------------------------------------------------------------------------------------
    def _case_changed(self, case_id: str) -> None:
        s = self.session
        if not case_id or s.image is None:
            return
        self.model.set_image(s.image, self.shown_labels(), self.class_colors())
        self.model.set_crosshair((s.z, *self.model.crosshair[1:]))
        self._window_from_session()

    def _slice_changed(self, z: int) -> None:
        if self.model.image is not None:
            self.model.set_crosshair((z, *self.model.crosshair[1:]))

    def _labels_changed(self) -> None:
        if self.model.image is not None:
            self.model.set_labels(self.shown_labels())

    def _window_from_session(self) -> None:
        window = (self.session.window.low, self.session.window.high)
        if self.model.image is not None and window != self.model.window:
            self.model.set_window(*window)

    def _colors_changed(self) -> None:
        self.model.colors = self.class_colors()
        self.model.changed.emit("overlay")

    def _tools_changed(self, name: str) -> None:
        if name == "opacity":
            self.model.set_opacity(self.tools.opacity)
        elif name == "layer":
            self._labels_changed()

    def follow_cursor(self, voxel) -> None:
        """The mouse is over voxel (i, j, k) of the canvas (its read-out's "voxel"), or off it (None)."""
        if voxel is not None and self.model.image is not None:
            i, j, k = voxel
            self.model.set_crosshair((k, j, i))

    # --- model -> session ------------------------------------------------------------------------------------------
    def _model_changed(self, kind: str) -> None:
        s = self.session
        if s.image is None or self.model.image is None:
            return
        if kind == "crosshair" and self.model.crosshair[0] != s.z:
            s.set_slice(self.model.crosshair[0])
        elif kind == "window" and self.model.window != (s.window.low, s.window.high):
            s.set_window(WindowLevel(*self.model.window))
