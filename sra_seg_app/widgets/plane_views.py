"""Three linked plane views (axial, coronal, sagittal) bound to one :class:`~sra_seg_app.model.planes.PlanesModel`.

Each view lays its slice out in millimetres (pixel (r, c) covers [c*w, (c+1)*w) x [r*h, (r+1)*h)), so thick slices look
thick, and draws the labels as a uint8 image through a colour lookup table, the same for all three. Left click or drag
moves the crosshair in every plane (or, with the ruler / rectangle / ellipse tool, draws a measurement whose result
in mm, mm², mean and SD is shown beside it), the wheel steps through slices, right drag sets the window (shared by
all views); orientation letters sit at the four edges and the caption says whether the plane can be painted in.

The widgets only bind: every rule (clamping, which plane can be painted) is the model's.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QStaticText
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsRectItem,
    QGridLayout,
    QVBoxLayout,
    QWidget,
)

from sra_seg_app._pyqtgraph import pg
from sra_seg_app.model.planes import VIEW_3D, PlanesModel
from sra_seg_app.widgets.canvas import label_lut  # one colour table for the canvas and the planes
from sra_seg_app.widgets.display_image import DisplayImageItem

__all__ = ["EdgeMarkers", "PlaneView", "PlaneViews", "label_lut"]

_EDGES = ("top", "bottom", "left", "right")
_CROSSHAIR = "#FFD400"


class _PlaneViewBox(pg.ViewBox):
    """Left click / drag moves the crosshair; right drag sets the window; the wheel steps slices."""

    def __init__(self, view: PlaneView):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.view = view
        self._window_start = None

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.view.point_at(self.mapSceneToView(ev.scenePos()))
        else:
            ev.ignore()

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.MouseButton.LeftButton and self.view.model.tool != "crosshair":
            ev.accept()
            start, end = (self.mapSceneToView(p) for p in (ev.buttonDownScenePos(), ev.scenePos()))
            self.view.drag_measure(start, end, finished=ev.isFinish())
        elif ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.view.point_at(self.mapSceneToView(ev.scenePos()))
        elif ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            model = self.view.model
            if ev.isStart():
                self._window_start = model.window
            low, high = self._window_start
            delta = ev.screenPos() - ev.buttonDownScreenPos()
            width, level = high - low, (high + low) / 2
            scale = width / 200.0  # 200 screen pixels of drag = the current window width
            width = max(width + delta.x() * scale, 1e-6)
            level = level - delta.y() * scale
            model.set_window(level - width / 2, level + width / 2)
        elif ev.button() == Qt.MouseButton.MiddleButton:
            super().mouseDragEvent(ev, axis)  # pan
        else:
            ev.ignore()

    def wheelEvent(self, ev, axis=None):
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)  # zoom
            return
        ev.accept()
        self.view.model.step(self.view.plane, 1 if ev.delta() > 0 else -1)


class PlaneView(pg.GraphicsView):
    """One plane of the model: image, labels, crosshair, orientation markers and a caption."""

    def __init__(self, model: PlanesModel, plane: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.model, self.plane = model, plane
        self.setBackground("k")
        # the view fills its whole viewport with the background: Qt need not paint the (styled) parents under it
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.box = _PlaneViewBox(self)
        self.setCentralItem(self.box)
        self.image_item = DisplayImageItem(axisOrder="row-major")
        self.label_item = DisplayImageItem(axisOrder="row-major")
        self.label_item.setZValue(1)
        # A crosshair move repaints every view but changes the slice of one: the others then blit cached pixmaps
        # instead of scaling their images again (QGraphicsItem device-coordinate cache).
        for item in (self.image_item, self.label_item):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # plain Qt lines across the slice, drawn in C++: pyqtgraph's InfiniteLine recomputes its bounding rect in
        # Python on every move and paint (~1 ms of each slice change for the four lines)
        pen = pg.mkPen(_CROSSHAIR, width=1, cosmetic=True)
        self.v_line, self.h_line = QGraphicsLineItem(), QGraphicsLineItem()
        for line in (self.v_line, self.h_line):
            line.setPen(pen)
        for item in (self.image_item, self.label_item, self.v_line, self.h_line):
            self.box.addItem(item)
        self.v_line.setZValue(2)
        self.h_line.setZValue(2)
        measure_pen = pg.mkPen("#FFFFFF", width=1.5)
        self.ruler_item = pg.PlotCurveItem(pen=measure_pen)
        self.rect_item = QGraphicsRectItem()
        self.ellipse_item = QGraphicsEllipseItem()
        self.measure_text = pg.TextItem(color="#FFFFFF", fill=pg.mkBrush(0, 0, 0, 150), anchor=(0, 1))
        self.shapes = {"ruler": self.ruler_item, "rectangle": self.rect_item, "ellipse": self.ellipse_item}
        self.rect_item.setPen(measure_pen)
        self.ellipse_item.setPen(measure_pen)
        for item in (*self.shapes.values(), self.measure_text):
            item.setZValue(3)
            item.hide()
            self.box.addItem(item)
        self.markers = EdgeMarkers(self)
        self._shown_index: int | None = None
        model.changed.connect(self._on_changed)
        if model.image is not None:
            self._on_changed("volume")

    # --- model -> view ----------------------------------------------------------------------------------------
    def _on_changed(self, kind: str) -> None:
        if self.model.image is None:
            return
        if kind == "volume":
            self._shown_index = None
            geometry = self.model.planes[self.plane]
            rows, cols = geometry.shape
            height, width = geometry.pixel_mm
            self.markers.set_text(geometry.markers, self.model.paint_note(self.plane))
            self._update_slice()
            rect = QRectF(0, 0, cols * width, rows * height)  # after setImage: the scale is rect / image size
            self.image_item.setRect(rect)
            self.label_item.setRect(rect)
            self._update_window()
            self._update_overlay()
            self.box.autoRange(padding=0.02)
        elif kind in ("crosshair", "labels") and not self.isVisible():
            self._stale = True  # a hidden view (the acquisition plane behind the canvas) catches up when shown
        elif kind == "crosshair":
            self._update_slice()
            self._update_measurement()
        elif kind == "measurement":
            self._update_measurement()
        elif kind == "labels":
            self._update_slice(force=True)
        elif kind == "window":
            self._update_window()
        elif kind == "overlay":
            self._update_overlay()

    def _update_slice(self, force: bool = False) -> None:
        index = self.model.slice_index(self.plane)
        if force or index != self._shown_index:
            self.image_item.setImage(self.model.image_slice(self.plane), autoLevels=False,
                                     levels=self.model.window)
            labels = self.model.label_slice(self.plane)
            # an empty map keeps the item's size (and so its mm scale) right for when labels arrive
            shown = np.zeros(self.model.planes[self.plane].shape, np.uint8) if labels is None else labels
            self.label_item.setImage(shown, autoLevels=False)  # uint8 through the LUT as it is: no levels
            self.label_item.setVisible(labels is not None)
            self._shown_index = index
        row, col = self.model.crosshair_in(self.plane)
        geometry = self.model.planes[self.plane]
        (height, width), (rows, cols) = geometry.pixel_mm, geometry.shape
        x, y = (col + 0.5) * width, (row + 0.5) * height
        self.v_line.setLine(x, 0.0, x, rows * height)
        self.h_line.setLine(0.0, y, cols * width, y)

    def _update_window(self) -> None:
        self.image_item.setLevels(self.model.window)

    def _update_overlay(self) -> None:
        self.label_item.setLookupTable(label_lut(self.model.visible_colors(), self.model.opacity))

    def _pixels_to_mm(self, row: float, col: float) -> tuple[float, float]:
        height, width = self.model.planes[self.plane].pixel_mm
        return col * width, row * height

    def _draw_shape(self, kind: str, a, b) -> None:
        """Show the ruler / ROI ``kind`` from a to b ((row, col) pixels) and hide the others."""
        (x0, y0), (x1, y1) = self._pixels_to_mm(*a), self._pixels_to_mm(*b)
        for name, item in self.shapes.items():
            item.setVisible(name == kind)
        if kind == "ruler":
            self.ruler_item.setData([x0, x1], [y0, y1])
        else:
            self.shapes[kind].setRect(QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))

    def _update_measurement(self) -> None:
        m = self.model.measurement
        shown = m is not None and m.plane == self.plane and m.index == self.model.slice_index(self.plane)
        if not shown:
            for item in (*self.shapes.values(), self.measure_text):
                item.hide()
            return
        self._draw_shape(m.kind, m.a, m.b)
        self.measure_text.setText(m.text)
        self.measure_text.setPos(*self._pixels_to_mm(*m.b))
        self.measure_text.show()

    # --- view -> model ----------------------------------------------------------------------------------------
    def drag_measure(self, start, end, finished: bool) -> None:
        """A left drag with a measuring tool from view point ``start`` to ``end`` (mm): drawn live, measured at the
        end."""
        height, width = self.model.planes[self.plane].pixel_mm
        a, b = (start.y() / height, start.x() / width), (end.y() / height, end.x() / width)
        if finished:
            self.model.measure(self.plane, a, b)
        else:
            self._draw_shape(self.model.tool, a, b)

    def point_at(self, pos) -> None:
        """A click or drag at scene point ``pos`` (view coordinates in mm)."""
        height, width = self.model.planes[self.plane].pixel_mm
        self.model.click(self.plane, pos.y() / height, pos.x() / width)

    def showEvent(self, ev):
        super().showEvent(ev)
        if getattr(self, "_stale", False) and self.model.image is not None:
            self._stale = False
            self._update_slice(force=True)
            self._update_measurement()


class EdgeMarkers(QWidget):
    """Orientation letters at the four edges of a view widget (a plane view, the painting canvas) and a caption at
    its bottom left, kept in place as the widget resizes.

    One transparent overlay paints them all as static texts (their layout made once per text): it is repainted with
    the view on every slice change, and five style-sheet QLabels per view took ~0.1 ms each to lay out and paint.
    """

    _COLOR, _CAPTION_COLOR, _CAPTION_BACK = QColor("#FFD400"), QColor("#DDDDDD"), QColor(0, 0, 0, 120)

    def __init__(self, host: QWidget):
        super().__init__(host)
        self.host = host
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.bold = QFont(self.font())
        self.bold.setBold(True)
        self.caption = ""
        self._markers: dict[str, str] = {}
        self._static: dict[str, QStaticText] = {}
        host.installEventFilter(self)
        self.setGeometry(host.rect())

    def set_text(self, markers: dict, caption: str) -> None:
        """markers: edge ("top", "bottom", "left", "right") -> letter; caption: what the view is for."""
        self._markers = {edge: markers.get(edge, "") for edge in _EDGES}
        self.caption = caption
        self._static = {}
        for key, text, font in [*((e, t, self.bold) for e, t in self._markers.items()), ("caption", caption,
                                                                                         self.font())]:
            static = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(font=font)
            self._static[key] = static
        self.raise_()
        self.update()

    def text(self) -> dict:
        return dict(self._markers)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.host and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.setGeometry(self.host.rect())
            self.raise_()
        return False

    def paintEvent(self, event) -> None:
        if not self._static:
            return
        painter = QPainter(self)
        w, h, m = self.width(), self.height(), 4
        size = {key: static.size() for key, static in self._static.items()}
        bottom_h = size["bottom"].height()
        places = {"top": ((w - size["top"].width()) / 2, m),
                  "bottom": ((w - size["bottom"].width()) / 2, h - bottom_h - m),
                  "left": (m, (h - size["left"].height()) / 2),
                  "right": (w - size["right"].width() - m, (h - size["right"].height()) / 2)}
        painter.setFont(self.bold)
        painter.setPen(self._COLOR)
        for edge, (x, y) in places.items():
            painter.drawStaticText(QPointF(x, y), self._static[edge])
        if self.caption:
            text = size["caption"]
            box = QRectF(m, h - m - bottom_h - text.height() - 2, text.width() + 8, text.height() + 2)
            painter.fillRect(box, self._CAPTION_BACK)
            painter.setFont(self.font())
            painter.setPen(self._CAPTION_COLOR)
            painter.drawStaticText(QPointF(box.x() + 4, box.y() + 1), self._static["caption"])
        painter.end()


class PlaneViews(QWidget):
    """The views of the model's layout: 1x1, 1x3 (axial, coronal, sagittal) or 2x2 with the 3-D view.

    surface: the widget to put in the 3-D cell (e.g. :class:`~sra_seg_app.widgets.surface_view.SurfaceView`, which
    is then fed the model's labels and class visibility); without one the 2x2 layout leaves the cell empty.
    acquisition: a widget shown in the acquisition plane's cell instead of its plane view (the Label workspace's
    painting canvas) while the model's tool is "crosshair"; a measuring tool shows the plane view there, so a ruler
    or ROI can be drawn in every plane and every layout.
    """

    def __init__(self, model: PlanesModel, surface: QWidget | None = None, parent: QWidget | None = None,
                 *, acquisition: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.acquisition = acquisition
        self.views = {plane: PlaneView(model, plane, self) for plane in ("axial", "coronal", "sagittal")}
        self.surface = surface
        if surface is not None:
            surface.setParent(self)
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self.grid)
        model.changed.connect(self._on_changed)
        self._arrange()

    def _on_changed(self, kind: str) -> None:
        if kind in ("layout", "tool") or (kind == "volume" and self.acquisition is not None):
            self._arrange()  # a new case can have another acquisition plane
        if kind in ("volume", "labels"):
            self._feed_surface()
        elif kind == "overlay" and hasattr(self.surface, "set_class_visible"):
            for value in self.model.colors:
                self.surface.set_class_visible(value, value not in self.model.hidden)

    def _arrange(self) -> None:
        for widget in [*self.views.values(), self.surface, self.acquisition]:
            if widget is not None:
                self.grid.removeWidget(widget)
                widget.hide()
        shown = self.model.views()
        columns = 2 if self.model.layout == "2x2" else len(shown)
        rows = -(-len(shown) // columns)
        for n in range(3):  # equal cells, whatever each widget's own size hint (the canvas asks for a lot)
            self.grid.setColumnStretch(n, 1 if n < columns else 0)
            self.grid.setRowStretch(n, 1 if n < rows else 0)
        for n, name in enumerate(shown):
            widget = self.surface if name == VIEW_3D else self.views[name]
            if name != VIEW_3D and self.shows_acquisition_widget(name):
                widget = self.acquisition
            if widget is None:
                continue
            self.grid.addWidget(widget, n // columns, n % columns)
            widget.show()
        self._feed_surface()

    def _feed_surface(self) -> None:
        # marching cubes only while the 3-D view is on screen; showing it again meshes the labels of now
        if (hasattr(self.surface, "set_labels") and self.model.image is not None
                and VIEW_3D in self.model.views()):
            self.surface.set_labels(self.model.labels, self.model.image.affine, self.model.colors)

    def shows_acquisition_widget(self, plane: str) -> bool:
        """Whether ``plane``'s cell holds the ``acquisition`` widget (the painting canvas) rather than its view."""
        return (self.acquisition is not None and self.model.tool == "crosshair" and bool(self.model.planes)
                and self.model.can_paint(plane))

    def widget_for(self, plane: str) -> QWidget:
        """The widget shown for ``plane`` now (its plane view, or the acquisition widget)."""
        return self.acquisition if self.shows_acquisition_widget(plane) else self.views[plane]
