"""The slice viewer: one pyqtgraph view of the current slice with label overlays and the annotation tools.

Display: the image slice as an ImageItem with window/level; labels as a second ImageItem of uint8 class indices
through a colour lookup table (Qt draws it as an indexed image: no per-pixel work in Python per redraw); the
prediction as a third, outline-only by default when both are shown. The items are laid out in millimetres
(pixel (i, j) covers [i*sx, (i+1)*sx) x [j*sy, (j+1)*sy)), so the aspect ratio follows the voxel spacing.

Assisted tools (smart fill, scribble) draw into an :class:`~sra_seg_app.model.assist.AssistModel` (set with
:meth:`SliceCanvas.set_assist`) whose preview shows as a ghost layer: filled faintly, outlined fully, over the labels;
its scribbles and, on request, the proposal's uncertainty (magenta, stronger where the model is unsure) above that.

Mouse: left = the active tool (brush, eraser, fill, polygon, smart fill, scribble) or pan; right-drag =
window/level; middle-drag = pan; wheel = slice (the smart-fill tolerance while its preview shows); Ctrl+wheel = zoom.
Keyboard shortcuts live in the main window.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from sra_seg_core import annotation as ann
from sra_seg_core.assist.scribble import BACKGROUND
from sra_seg_core.project.class_table import without_locked
from sra_seg_app._pyqtgraph import pg
from sra_seg_app.model.tools import ToolState
from sra_seg_app.widgets.display_image import DisplayImageItem

GHOST_OUTLINE = 128      # ghost layer values above this are outline pixels (drawn opaque)
BACKGROUND_COLOR = "#f5f5f5"


def _tool_field(name: str, setter: str):
    """A canvas attribute that lives in its ToolState (so ``canvas.brush_radius = 6`` sets the model)."""
    return property(lambda self: getattr(self.tools, name), lambda self, value: getattr(self.tools, setter)(value))

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


def label_lut(colors: dict[int, str], opacity: float) -> np.ndarray:
    """(256, 4) uint8 RGBA lookup table: class value -> colour; 0 and unknown values are transparent."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    alpha = int(round(255 * float(np.clip(opacity, 0, 1))))
    for value, color in colors.items():
        c = QColor(color)
        lut[value] = (c.red(), c.green(), c.blue(), alpha)
    return lut


def outline(labels: np.ndarray) -> np.ndarray:
    """Keep only the pixels of each region that touch a different value (4-neighbourhood)."""
    edge = np.zeros(labels.shape, dtype=bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return np.where(edge, labels, 0).astype(np.uint8)


class _ViewBox(pg.ViewBox):
    """Routes mouse gestures to the canvas instead of pyqtgraph's defaults."""

    def __init__(self, canvas: SliceCanvas):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.canvas = canvas

    def mouseDragEvent(self, ev, axis=None):
        button, tool = ev.button(), self.canvas.tool
        if button == Qt.MouseButton.RightButton:
            ev.accept()
            self.canvas._window_drag(ev)
        elif button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and tool == "pan"):
            self.setMouseMode(pg.ViewBox.PanMode)
            if button == Qt.MouseButton.MiddleButton:
                ev._button = Qt.MouseButton.LeftButton  # pyqtgraph pans on the left button only
                ev._buttons = [Qt.MouseButton.LeftButton]
            super().mouseDragEvent(ev, axis)
        elif button == Qt.MouseButton.LeftButton and tool in ("brush", "eraser"):
            ev.accept()
            self.canvas._paint_drag(ev)
        elif button == Qt.MouseButton.LeftButton and tool == "scribble":
            ev.accept()
            self.canvas._scribble_drag(ev)
        else:
            ev.ignore()

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.canvas._click(self.mapSceneToView(ev.scenePos()), double=ev.double())
        elif ev.button() == Qt.MouseButton.RightButton and self.canvas.tool == "polygon":
            ev.accept()
            self.canvas.cancel_polygon()
        else:
            ev.ignore()

    def wheelEvent(self, ev, axis=None):
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
        else:
            ev.accept()
            delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
            assist = self.canvas.assist
            if self.canvas.tool == "smart_fill" and assist is not None and assist.preview is not None:
                assist.wheel(1 if delta > 0 else -1)   # up = a wider band, while the preview shows
            else:
                self.canvas.wheelSlice.emit(-1 if delta > 0 else 1)


class SliceCanvas(pg.GraphicsView):
    """Shows one slice of a :class:`~sra_seg_app.model.session.Session` and edits it with the active tool."""

    wheelSlice = Signal(int)                  # +-1 slices
    acceptRequested = Signal()                # a click inside the smart-fill preview: accept it
    cursorMoved = Signal(object)              # dict read-out (Session.voxel_info), or None off the image

    tool = property(lambda self: self.tools.tool)
    active_class = _tool_field("active_class", "set_active_class")
    brush_radius = _tool_field("brush_radius", "set_brush_radius")
    overwrite = _tool_field("overwrite", "set_overwrite")
    fill_tolerance = _tool_field("fill_tolerance", "set_fill_tolerance")
    opacity = property(lambda self: self.tools.opacity)
    outline_only = property(lambda self: self.tools.outline_only)
    layer = property(lambda self: self.tools.layer)

    def __init__(self, session, parent=None, *, editable: bool = True, tools: ToolState | None = None):
        super().__init__(parent)
        self.session = session
        self.editable = editable
        self.tools = tools or ToolState(self)
        self._cursor: tuple[int, int] | None = None   # (row, col) under the mouse, for the read-out
        self.setBackground("#101317")
        # the view fills its whole viewport with the background: Qt need not paint the (styled) parents under it
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.view = _ViewBox(self)
        self.setCentralItem(self.view)
        self.image_item = DisplayImageItem(autoDownsample=False)
        self.label_item = DisplayImageItem()
        self.pred_item = DisplayImageItem()
        for z, item in enumerate((self.image_item, self.label_item, self.pred_item)):
            item.setZValue(z)
            self.view.addItem(item)
        self.brush_item = QGraphicsEllipseItem()
        self.brush_item.setPen(pg.mkPen("#f5f5f5", width=1.2, cosmetic=True))
        self.brush_item.setZValue(10)
        self.brush_item.setVisible(False)
        self.view.addItem(self.brush_item)
        self.assist = None
        self.show_uncertainty = False
        self.ghost_item, self.scribble_item, self.uncertainty_item = DisplayImageItem(), DisplayImageItem(), \
            DisplayImageItem()
        for z, item in ((4, self.uncertainty_item), (5, self.ghost_item), (6, self.scribble_item)):
            item.setZValue(z)
            item.setVisible(False)
            self.view.addItem(item)
        self._scribble: list[np.ndarray] = []
        self.poly_item = QGraphicsPathItem()
        pen = QPen(QColor("#ffd166"))
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        self.poly_item.setPen(pen)
        self.poly_item.setZValue(11)
        self.view.addItem(self.poly_item)
        self._polygon: list[tuple[float, float]] = []
        self._stroke: ann.SliceEdit | None = None
        self._last_point: tuple[float, float] | None = None
        self._wl_start = None
        self._fitted_case = ""
        self._needs_fit = False
        self.scene().sigMouseMoved.connect(self._hover)
        self.setMouseTracking(True)
        session.caseChanged.connect(self._case_changed)
        session.sliceChanged.connect(self._slice_changed)
        session.labelsChanged.connect(self._labels_changed)
        self.tools.changed.connect(self._tools_changed)
        session.predictionChanged.connect(lambda case: case == session.case_id and self.refresh_labels())
        session.windowLevelChanged.connect(self._apply_window)

    # --- display ----------------------------------------------------------------------------------------------------
    def class_colors(self) -> dict[int, str]:
        """Class value -> colour of the classes shown: classes hidden in the label table and those the linked views'
        check boxes hide (``hidden_classes``) are left out (drawn transparent)."""
        project = self.session.project
        hidden = set(self.session.class_view()[0]) | set(getattr(self, "hidden_classes", ()))
        return {c.value: c.color for c in project.classes if c.value not in hidden} if project else {}

    def _slice_changed(self, _z: int) -> None:
        # every workspace's canvas follows the one session: a hidden one (Review's pair while labelling) catches up
        # when shown instead of redrawing each slice no one sees
        if self.isVisible():
            self.refresh()
            self._emit_readout()
        else:
            self._slice_stale = True

    def _case_changed(self, case_id: str) -> None:
        self.cancel_polygon()
        if not case_id:
            for item in (self.image_item, self.label_item, self.pred_item):
                item.clear()
            return
        self.refresh()
        if self._fitted_case != case_id:
            self._fitted_case = case_id
            self._needs_fit = True
            self.fit()

    def fit(self) -> None:
        """Zoom to show the whole slice. While the view is hidden or tiny the fit waits for its first real size."""
        if self.width() < 50 or self.height() < 50 or not self.isVisible():
            self._needs_fit = True
            return
        self._needs_fit = False
        # after the event loop has laid the view box out at the widget's new size
        QTimer.singleShot(0, lambda: self.view.autoRange(padding=0.02))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "_needs_fit", False):  # Qt resizes the view inside its own constructor
            self.fit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if getattr(self, "_slice_stale", False):
            self._slice_stale = False
            self.refresh()
        if getattr(self, "_needs_fit", False):
            self.fit()

    def refresh(self) -> None:
        s = self.session
        if s.image is None:
            return
        sx, sy, _ = s.image.spacing
        ny, nx = s.image.shape[1:]
        self.image_item.setImage(s.image.array[s.z], levels=(s.window.low, s.window.high), autoLevels=False)
        rect = QRectF(0, 0, nx * sx, ny * sy)
        for item in (self.image_item, self.label_item, self.pred_item, self.ghost_item, self.scribble_item,
                     self.uncertainty_item):
            item.setRect(rect)
        self.refresh_labels()

    def refresh_labels(self) -> None:
        s = self.session
        if s.image is None:
            return
        lut = label_lut(self.class_colors(), self.opacity)
        show_approved = self.layer in ("approved", "both")
        show_pred = self.layer in ("prediction", "both")
        labels = s.labels() if show_approved else None
        if labels is not None:
            data = labels[s.z]
            self.label_item.setImage(outline(data) if self.outline_only else data, lut=lut, levels=None,
                                     autoLevels=False)
        self.label_item.setVisible(labels is not None)
        pred = s.prediction() if show_pred else None
        if pred is not None:
            data = pred[s.z]
            # Both layers at once: the prediction as an outline over the approved fill, fully opaque.
            as_outline = self.outline_only or self.layer == "both"
            pred_lut = label_lut(self.class_colors(), 1.0 if self.layer == "both" else self.opacity)
            self.pred_item.setImage(outline(data) if as_outline else data, lut=pred_lut, levels=None,
                                    autoLevels=False)
        self.pred_item.setVisible(pred is not None)
        self.refresh_ghost()

    # --- assisted labelling -----------------------------------------------------------------------------------------
    def set_assist(self, model) -> None:
        """Draw ``model``'s preview (an AssistModel of the open case, or None) as the ghost layer."""
        if self.assist is not None:
            self.assist.previewChanged.disconnect(self.refresh_ghost)
        self.assist = model
        if model is not None:
            model.previewChanged.connect(self.refresh_ghost)
        self.refresh_ghost()

    def set_show_uncertainty(self, on: bool) -> None:
        self.show_uncertainty = bool(on)
        self.refresh_ghost()

    def ghost_data(self) -> np.ndarray | None:
        """(Y, X) uint8 of the current slice's preview: class values inside, value + GHOST_OUTLINE on its edge;
        None when there is nothing to show."""
        a, s = self.assist, self.session
        if a is None or a.preview is None or s.image is None or a.preview.shape[0] <= s.z:
            return None
        data = np.where(a.preview_mask[s.z], a.preview[s.z], 0).astype(np.uint8)
        edge = outline(data) > 0
        data[edge] += GHOST_OUTLINE
        return data

    def _place(self, item) -> None:
        """Lay ``item`` over the slice in mm (pyqtgraph needs its image first: the rect scales the image's size)."""
        sx, sy, _ = self.session.image.spacing
        ny, nx = self.session.image.shape[1:]
        item.setRect(QRectF(0, 0, nx * sx, ny * sy))

    def refresh_ghost(self) -> None:
        s, a = self.session, self.assist
        if s.image is None:
            return
        colors = self.class_colors()
        data = self.ghost_data()
        if data is not None:
            lut = label_lut(colors, 0.30)
            lut[GHOST_OUTLINE:GHOST_OUTLINE + 128] = label_lut(colors, 1.0)[:128]
            self.ghost_item.setImage(data, lut=lut, levels=None, autoLevels=False)
            self._place(self.ghost_item)
        self.ghost_item.setVisible(data is not None)
        scribbles = a.scribbles[s.z] if a is not None and a.scribbles.shape[0] > s.z else None
        shown = scribbles is not None and bool(scribbles.any())
        if shown:
            lut = label_lut({**colors, BACKGROUND: BACKGROUND_COLOR}, 1.0)
            self.scribble_item.setImage(scribbles, lut=lut, levels=None, autoLevels=False)
            self._place(self.scribble_item)
        self.scribble_item.setVisible(shown)
        unsure = a.uncertainty[s.z] if a is not None and a.uncertainty is not None and self.show_uncertainty \
            else None
        if unsure is not None:
            rgba = np.zeros((*unsure.shape, 4), np.uint8)
            rgba[..., 0], rgba[..., 2] = 255, 255
            # faint below 0.2 (an untrained net is unsure everywhere; the image must stay readable)
            rgba[..., 3] = (np.clip((unsure - 0.2) / 0.8, 0, 1) * 150).astype(np.uint8)
            self.uncertainty_item.setImage(rgba, levels=None, autoLevels=False)
            self._place(self.uncertainty_item)
        self.uncertainty_item.setVisible(unsure is not None)

    def smart_fill_at(self, row: float, col: float) -> None:
        """A smart-fill click: inside the preview it accepts it; elsewhere it starts a new preview from there."""
        s, a = self.session, self.assist
        if a is None or not s.can_edit():
            return
        r, c = int(row), int(col)
        if a.preview is not None and a.preview_mask[s.z, r, c]:
            self.acceptRequested.emit()
            return
        a.fill_click((s.z, r, c), self.active_class or 1)

    def _drag_segment(self, ev, begin) -> list[tuple[float, float]] | None:
        """The (from, to) pixels this step of a brush or scribble drag draws, or None when the drag must not draw (it
        began where no edit is allowed). ``begin()`` runs when an editable drag starts. The outline follows either
        way."""
        point = self.view.mapSceneToView(ev.scenePos())
        self._update_brush_outline(point)
        here = self._to_pixel(point)
        if ev.isStart():
            self._last_point = None   # a refused start must not let the next move draw from here
            if not self.session.can_edit():
                return None
            begin()
            self._last_point = self._to_pixel(self.view.mapSceneToView(ev.buttonDownScenePos()))
        if self._last_point is None:
            return None
        segment, self._last_point = [self._last_point, here], here
        return segment

    def _scribble_drag(self, ev) -> None:
        s = self.session
        if not self.editable or s.image is None or self.assist is None:
            return
        segment = self._drag_segment(ev, lambda: setattr(self, "_scribble", []))
        if segment is None:
            return
        self._scribble_dab(segment, live=True)
        if ev.isFinish():
            background = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.finish_scribble(background=background)

    def _scribble_dab(self, points, *, live: bool) -> None:
        shape = self.session.image.shape[1:]
        idx = ann.stroke_indices(points, self.brush_radius, shape, self._spacing_yx())
        self._scribble.append(idx)
        if live:  # draw the stroke at once; the segmentation follows when it ends
            value = self.active_class if self.active_class else BACKGROUND
            data = self.assist.scribbles[self.session.z].copy()
            data.flat[idx] = value
            lut = label_lut({**self.class_colors(), BACKGROUND: BACKGROUND_COLOR}, 1.0)
            self.scribble_item.setImage(data, lut=lut, levels=None, autoLevels=False)
            self._place(self.scribble_item)
            self.scribble_item.setVisible(True)

    def scribble_at(self, points, *, background: bool = False) -> None:
        """A whole scribble along ``points`` [(row, col), ...] (tests, and a click with the scribble tool)."""
        if self.assist is None or not self.session.can_edit():
            return
        self._scribble = []
        self._scribble_dab(list(points), live=False)
        self.finish_scribble(background=background)

    def finish_scribble(self, *, background: bool = False) -> None:
        """The stroke ends: hand it to the assist model as class ``active_class`` (class 0 or Shift: background)."""
        strokes, self._scribble, self._last_point = self._scribble, [], None
        if not strokes or self.assist is None:
            return
        value = 0 if background else self.active_class
        self.assist.add_scribble(self.session.z, np.unique(np.concatenate(strokes)), value)
        self.refresh_ghost()

    def _labels_changed(self, case_id: str, z: int) -> None:
        if case_id == self.session.case_id and z in (-1, self.session.z):
            self.refresh_labels()
            self._emit_readout()

    def _tools_changed(self, name: str) -> None:
        if name in ("opacity", "outline_only", "layer"):
            self.refresh_labels()
        elif name == "tool":
            if self.tool != "polygon":
                self.cancel_polygon()
            self.brush_item.setVisible(False)

    def _apply_window(self) -> None:
        s = self.session
        if s.image is not None:
            self.image_item.setLevels((s.window.low, s.window.high))

    def set_opacity(self, value: float) -> None:
        self.tools.set_opacity(value)

    def set_outline(self, on: bool) -> None:
        self.tools.set_outline_only(on)

    def set_layer(self, layer: str) -> None:
        self.tools.set_layer(layer)

    def set_tool(self, tool: str) -> None:
        self.tools.set_tool(tool)

    # --- coordinates ----------------------------------------------------------------------------------------------
    def _spacing_yx(self) -> tuple[float, float]:
        sx, sy, _ = self.session.image.spacing
        return sy, sx

    def _to_pixel(self, point: QPointF) -> tuple[float, float]:
        """View point (mm) -> continuous (row, col) pixel coordinates (pixel centres at .5)."""
        sy, sx = self._spacing_yx()
        return point.y() / sy, point.x() / sx

    def _inside(self, row: float, col: float) -> bool:
        ny, nx = self.session.image.shape[1:]
        return 0 <= row < ny and 0 <= col < nx

    def _hover(self, scene_pos) -> None:
        s = self.session
        if s.image is None:
            return
        point = self.view.mapSceneToView(scene_pos)
        row, col = self._to_pixel(point)
        self._update_brush_outline(point)
        self.hover_pixel(row, col)

    def hover_pixel(self, row: float, col: float) -> None:
        """The cursor is over pixel (row, col): show its read-out, and keep it current as the slice or labels
        change under a still mouse (keyboard slice change, fill, undo)."""
        self._cursor = (int(row), int(col)) if self._inside(row, col) else None
        self._emit_readout()

    def _emit_readout(self) -> None:
        if self.session.image is not None and self._cursor is not None:
            self.cursorMoved.emit(self.session.voxel_info(*self._cursor))
        elif self._cursor is None:
            self.cursorMoved.emit(None)

    def _update_brush_outline(self, point: QPointF) -> None:
        painting = self.tool in ("brush", "eraser", "scribble") and self.editable and self.session.image is not None
        self.brush_item.setVisible(painting)
        if painting:
            sy, sx = self._spacing_yx()
            r = max(self.brush_radius, 0.5) * min(sx, sy)
            self.brush_item.setRect(QRectF(point.x() - r, point.y() - r, 2 * r, 2 * r))

    # --- tools ------------------------------------------------------------------------------------------------------
    def _paint_drag(self, ev) -> None:
        if not self.editable or self.session.image is None:
            return
        segment = self._drag_segment(ev, lambda: setattr(self, "_stroke", None))
        if segment is None:
            return
        self._dab(segment)
        if ev.isFinish():
            self._finish_stroke()

    def _dab(self, points) -> None:
        s = self.session
        value = self.active_class if self.tool == "brush" else 0
        labels = s.labels()[s.z]
        idx = ann.stroke_indices(points, self.brush_radius, labels.shape, self._spacing_yx())
        edit = ann.paint(labels, s.z, idx, value, overwrite=True if self.tool == "eraser" else self.overwrite)
        edit = without_locked(edit, s.class_view()[1])   # painted live, so filtered here, not in commit
        if edit is None:
            return
        s.paint_live(edit)
        self._stroke = edit if self._stroke is None else self._stroke.merged(edit)

    def _finish_stroke(self) -> None:
        if self._stroke is not None:
            self.session.commit([self._stroke], "Brush" if self.tool == "brush" else "Erase", applied=True)
        self._stroke, self._last_point = None, None

    def paint_at(self, row: float, col: float) -> None:
        """One dab at a pixel (a click with the brush/eraser; tests use it too)."""
        if not self.session.can_edit():
            return
        self._stroke = None
        self._dab([(row, col)])
        self._finish_stroke()

    def _click(self, point: QPointF, *, double: bool) -> None:
        s = self.session
        if not self.editable or s.image is None:
            return
        row, col = self._to_pixel(point)
        if self.tool in ("brush", "eraser") and self._inside(row, col):
            self.paint_at(row, col)
        elif self.tool == "fill" and self._inside(row, col):
            self.fill_at(row, col)
        elif self.tool == "smart_fill" and self._inside(row, col):
            self.smart_fill_at(row, col)
        elif self.tool == "scribble" and self._inside(row, col):
            self.scribble_at([(row, col)], background=False)
        elif self.tool == "polygon":
            if double:
                self.close_polygon()
            elif self._inside(row, col):
                self._polygon.append((row, col))
                self._draw_polygon()

    def fill_at(self, row: float, col: float) -> None:
        s = self.session
        if not s.can_edit():
            return
        edit = ann.flood_fill(s.labels()[s.z], s.z, (int(row), int(col)), self.active_class,
                              image=s.image.array[s.z] if self.fill_tolerance is not None else None,
                              tolerance=self.fill_tolerance)
        s.commit([edit], "Fill")

    def _draw_polygon(self) -> None:
        path = QPainterPath()
        sy, sx = self._spacing_yx()
        for k, (r, c) in enumerate(self._polygon):
            (path.lineTo if k else path.moveTo)(QPointF(c * sx, r * sy))
        if len(self._polygon) > 2:
            path.closeSubpath()
        self.poly_item.setPath(path)

    def add_polygon_vertex(self, row: float, col: float) -> None:
        self._polygon.append((row, col))
        self._draw_polygon()

    def close_polygon(self) -> None:
        s = self.session
        vertices, self._polygon = self._polygon, []
        self.poly_item.setPath(QPainterPath())
        if len(vertices) < 3 or not s.can_edit():
            return
        labels = s.labels()[s.z]
        idx = ann.polygon_indices(vertices, labels.shape)
        s.commit([ann.paint(labels, s.z, idx, self.active_class, overwrite=self.overwrite)], "Polygon")

    def cancel_polygon(self) -> None:
        self._polygon = []
        self.poly_item.setPath(QPainterPath())

    def _window_drag(self, ev) -> None:
        s = self.session
        if s.image is None:
            return
        if ev.isStart():
            self._wl_start = (s.window.center, s.window.width)
        if self._wl_start is None:
            return
        center, width = self._wl_start
        delta = ev.screenPos() - ev.buttonDownScreenPos()
        scale = max(width, 1e-6) / 200.0   # 200 px of drag = one window width
        from sra_seg_app.model.session import WindowLevel

        s.set_window(WindowLevel.from_center_width(center - delta.y() * scale, max(width + delta.x() * scale, 1e-6)))
        if ev.isFinish():
            self._wl_start = None
