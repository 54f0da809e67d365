"""The Label workspace's viewer area: the painting canvas alone (1×1), or with the other two planes (1×3) and the
3-D surface (2×2), linked through one :class:`~sra_seg_app.model.plane_link.PlaneLink`.

Orientation: every plane is shown as stored, unflipped (the canvas's ``array[k]`` with row 0 on top), not in the
radiological convention. The canvas paints, undoes and runs every tool in stored pixel coordinates, and the planes
must agree with it pixel for pixel (a crosshair line through the canvas is the same voxel row in the coronal view);
flipping the canvas would mean flipping every tool's coordinates. The orientation letters at the edges, on the canvas
too, come from the affine, so they say where the patient's R/L, A/P and S/I are in what is shown.

A measuring tool (ruler, rectangle or ellipse ROI) puts the acquisition plane's own plane view in the canvas's cell
so that a measurement can be drawn in every plane, 1×1 included; "Navigate / paint" brings the canvas back.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from sra_seg_app.model.plane_link import PlaneLink
from sra_seg_app.widgets.plane_views import EdgeMarkers, PlaneViews
from sra_seg_app.widgets.surface_view import SurfaceView

LAYOUT_CHOICES = (("1×1", "1x1"), ("1×3 planes", "1x3"), ("2×2 with 3-D", "2x2"))
TOOL_CHOICES = (("Navigate / paint", "crosshair"), ("Ruler (mm)", "ruler"), ("Rectangle ROI", "rectangle"),
                ("Ellipse ROI", "ellipse"))


class LinkedViews(QWidget):
    """The canvas and the linked planes; ``model`` is the planes model (layout, crosshair, measurement)."""

    def __init__(self, session, canvas, parent: QWidget | None = None, *, surface: QWidget | None = None):
        super().__init__(parent)
        self.session, self.canvas = session, canvas
        self.link = PlaneLink(session, canvas.tools, parent=self)
        self.model = self.link.model
        self.model.set_layout("1x1")
        self.surface = surface if surface is not None else SurfaceView()
        self.planes = PlaneViews(self.model, self.surface, self, acquisition=canvas)
        self.markers = EdgeMarkers(canvas)
        self.layout_box = QComboBox()
        for text, value in LAYOUT_CHOICES:
            self.layout_box.addItem(text, value)
        self.layout_box.setToolTip("Views: the painting canvas alone, with the other planes, or with the 3-D surface")
        self.tool_box = QComboBox()
        for text, value in TOOL_CHOICES:
            self.tool_box.addItem(text, value)
        self.tool_box.setToolTip("What a left drag does in the plane views: move the crosshair (and paint on the "
                                 "canvas), or measure")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove the measurement")
        self.measure_label = QLabel("")
        self.measure_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.class_row = QHBoxLayout()
        self.class_boxes: dict[int, QCheckBox] = {}
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Views"))
        row.addWidget(self.layout_box)
        row.addWidget(QLabel("Left drag"))
        row.addWidget(self.tool_box)
        row.addWidget(self.clear_button)
        row.addWidget(self.measure_label, 2)
        row.addLayout(self.class_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.planes, 1)
        self.layout_box.currentIndexChanged.connect(lambda _i: self.model.set_layout(self.layout_box.currentData()))
        self.tool_box.currentIndexChanged.connect(lambda _i: self.model.set_tool(self.tool_box.currentData()))
        self.clear_button.clicked.connect(self.model.clear_measurement)
        canvas.cursorMoved.connect(lambda info: self.link.follow_cursor(info["voxel"] if info else None))
        self.model.changed.connect(self._model_changed)
        session.projectChanged.connect(self._classes_changed)

    def set_layout(self, layout: str) -> None:
        """"1x1", "1x3" or "2x2" (the layout box follows)."""
        self.layout_box.setCurrentIndex([v for _t, v in LAYOUT_CHOICES].index(layout))

    def set_tool(self, tool: str) -> None:
        self.tool_box.setCurrentIndex([v for _t, v in TOOL_CHOICES].index(tool))

    def _model_changed(self, kind: str) -> None:
        m = self.model
        if kind == "volume" and m.planes:
            plane = next(name for name in m.planes if m.can_paint(name))
            self.markers.set_text(m.planes[plane].markers, m.paint_note(plane))
            # which plane paints is said by each view's caption ("paint here" / "view only"): a toolbar note too
            # was cut at 1440-1600 px beside the class boxes
        elif kind == "measurement":
            # the result also here, where the view's edge cannot cut it
            self.measure_label.setText(m.measurement.text if m.measurement is not None else "")
            self.measure_label.setToolTip(self.measure_label.text())
        elif kind == "overlay":
            # the canvas hides the classes the planes and the 3-D view hide
            hidden = set(m.hidden)
            if getattr(self.canvas, "hidden_classes", None) != hidden:
                self.canvas.hidden_classes = hidden
                self.canvas.refresh_labels()

    def _classes_changed(self) -> None:
        while self.class_row.count():
            widget = self.class_row.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.class_boxes = {}
        project = self.session.project
        for c in (project.classes if project else ()):
            box = QCheckBox(c.name)
            box.setChecked(c.value not in self.model.hidden)
            box.setStyleSheet(f"QCheckBox {{ color: {c.color}; }}")
            box.setToolTip(f"Show {c.name} in the canvas, the planes and the 3-D view")
            box.toggled.connect(lambda on, v=c.value: self.model.set_class_visible(v, on))
            self.class_row.addWidget(box)
            self.class_boxes[c.value] = box
