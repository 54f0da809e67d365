"""The 3-D view of the labels: one shaded surface per class, rotate (left drag) and zoom (wheel).

Why pyqtgraph's OpenGL items rather than VTK: pyqtgraph is already the Studio's drawing library (no second rendering
stack, no ~100 MB VTK wheel to freeze and ship), its GL view and a GLMeshItem per class are all a label surface needs;
the meshes come from the engine (:mod:`sra_seg_core.surface`, scikit-image's marching cubes) either way. It runs on
Mesa's software OpenGL (llvmpipe) under Xvfb. Where no OpenGL context can be made (no driver, a remote desktop without
GL, the offscreen platform) the view says so in words instead of crashing.

Why a QOpenGLWindow in a window container rather than pyqtgraph's GLViewWidget (a QOpenGLWidget): once a window holds
a QOpenGLWidget, Qt composes the whole top-level window through OpenGL on every repaint of any widget in it. With a
software renderer that cost 70-200 ms per slice change of the plane views (and stayed after the 3-D view was hidden).
A QOpenGLWindow embedded with ``QWidget.createWindowContainer`` is a native child window with its own GL surface: the
rest of the window keeps Qt's raster painting, and only the 3-D view itself is drawn with OpenGL.

Label edits arrive in bursts (a brush stroke is many updates), so :meth:`SurfaceView.set_labels` only restarts a
timer; the meshes are rebuilt when the labels have been still for ``debounce_ms``, in a worker thread (marching cubes
and the smoothing release the GIL: the window keeps repainting), and only the newest result is shown.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QSurfaceFormat, QVector3D
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from sra_seg_core.surface import label_meshes
from sra_seg_app.model.worker import Worker

DEBOUNCE_MS = 300


def opengl_problem() -> str | None:
    """Why no OpenGL view can be shown here, or None when an OpenGL context can be created."""
    try:
        from PySide6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext
    except ImportError as exc:  # a Qt build without OpenGL
        return f"Qt has no OpenGL support ({exc})"
    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        return f"the '{QGuiApplication.platformName()}' display platform has no OpenGL"
    try:
        import OpenGL.GL  # noqa: F401  (PyOpenGL: pyqtgraph.opengl draws through it)
    except Exception as exc:  # noqa: BLE001 - ImportError, or a missing libGL raising at import
        return f"PyOpenGL cannot be loaded ({exc})"
    context = QOpenGLContext()
    if not context.create():
        return "no OpenGL context can be created (no OpenGL driver)"
    surface = QOffscreenSurface()
    surface.create()
    ok = context.makeCurrent(surface)
    context.doneCurrent()
    return None if ok else "an OpenGL context exists but cannot be used"


def _surface_window_class():
    """pyqtgraph's GL view (camera, items, mouse) on a QOpenGLWindow; made on first use (imports PyOpenGL)."""
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtOpenGL import QOpenGLWindow
    from pyqtgraph.opengl.GLViewWidget import GLViewMixin

    class SurfaceWindow(GLViewMixin, QOpenGLWindow):
        def repaint(self) -> None:
            """Draw now, synchronously (as QWidget.repaint does; a QWindow has only the queued update())."""
            self.update()
            QCoreApplication.sendEvent(self, QEvent(QEvent.Type.UpdateRequest))

    return SurfaceWindow


class SurfaceView(QWidget):
    """Per-class label surfaces in world mm. ``set_labels`` to show a label map; ``set_class_visible`` per class."""

    def __init__(self, parent: QWidget | None = None, *, debounce_ms: int = DEBOUNCE_MS, smooth_sigma: float = 0.8,
                 step: int = 1):
        super().__init__(parent)
        self.smooth_sigma, self.step = smooth_sigma, step
        self.colors: dict[int, str] = {}
        self.hidden: set[int] = set()
        self.items: dict[int, object] = {}
        self._pending: tuple[np.ndarray, np.ndarray] | None = None
        self._generation = 0  # of the newest requested build; older results are dropped
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self.refresh)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.problem = opengl_problem()
        self.gl = None  # the GL view (a QOpenGLWindow) once made, inside self.container
        self.container: QWidget | None = None
        if self.problem is None:
            # made when the view is first shown: a window whose 3-D view is never opened makes no GL context at all
            self.message = None
        else:
            self.message = QLabel(f"3-D view unavailable: {self.problem}.\nThe plane views work as usual.", self)
            self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.message.setWordWrap(True)
            layout.addWidget(self.message)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.problem is None and self.gl is None:
            # after this show has been laid out: a GL widget added inside showEvent keeps a stale viewport
            QTimer.singleShot(0, self._make_gl)

    def _make_gl(self) -> None:
        if self.gl is not None or not self.isVisible():
            return
        gl = _surface_window_class()()
        surface_format = QSurfaceFormat.defaultFormat()
        # a QOpenGLWidget's framebuffer always has depth; a window's has none unless asked (faces then draw in
        # submission order and the back of a mesh shows through its front)
        surface_format.setDepthBufferSize(24)
        surface_format.setStencilBufferSize(8)
        gl.setFormat(surface_format)
        gl.setBackgroundColor(QColor("#101010"))
        self.container = QWidget.createWindowContainer(gl, self)
        self.container.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keys (arrows orbit) once clicked, as GLViewWidget
        self.layout().addWidget(self.container)
        self.gl = gl
        if self._pending is not None:
            self.timer.start()

    def set_labels(self, labels: np.ndarray | None, affine: np.ndarray, colors: dict[int, str] | None = None) -> None:
        """Schedule a rebuild from a (Z, Y, X) label map with its (4, 4) affine (debounced)."""
        if colors is not None:
            self.colors = dict(colors)
        # kept by reference: a brush stroke calls this per dab, and the copy the worker needs is taken once, when
        # the debounce fires
        self._pending = None if labels is None else (labels, np.asarray(affine))
        self.timer.start()

    def set_class_visible(self, value: int, visible: bool) -> None:
        (self.hidden.discard if visible else self.hidden.add)(int(value))
        if int(value) in self.items:
            self.items[int(value)].setVisible(visible)

    def refresh(self, background: bool = True) -> None:
        """Rebuild the meshes of the pending label map now: in a worker thread, or here (``background=False``)."""
        self.timer.stop()
        if self.gl is None:
            return
        self._generation += 1
        generation = self._generation
        if self._pending is None:
            self._show(generation, {})
            return
        labels, affine = self._pending
        labels = np.array(labels, dtype=np.uint8)  # the worker's own copy: painting goes on meanwhile
        values = list(self.colors) or None

        def build() -> dict:
            return label_meshes(labels, affine, values, step=self.step, smooth_sigma=self.smooth_sigma)

        if not background:
            self._show(generation, build())
            return

        # parentless and launched: it outlives a view closed mid-build; the bound slot is dropped with the view
        worker = Worker(lambda _worker: (generation, build()))
        worker.done.connect(self._built)
        worker.launch()

    def _built(self, result: tuple[int, dict]) -> None:
        self._show(*result)

    def _show(self, generation: int, meshes: dict) -> None:
        if generation != self._generation or self.gl is None:
            return  # a newer label map is being meshed
        from pyqtgraph.opengl import GLMeshItem, MeshData

        for item in self.items.values():
            self.gl.removeItem(item)
        self.items = {}
        for value, mesh in meshes.items():
            color = QColor(self.colors.get(value, "#CCCCCC"))
            # smooth=False: face normals are one numpy cross product, while pyqtgraph's per-vertex normals loop over
            # the faces in Python (1.3 s for a 10 x 256 x 256 heart vs 0.2 s); the mask smoothing hides the facets.
            item = GLMeshItem(meshdata=MeshData(vertexes=mesh.vertices, faces=mesh.faces), smooth=False,
                              shader="shaded", color=(color.redF(), color.greenF(), color.blueF(), 1.0),
                              glOptions="opaque")
            item.setVisible(value not in self.hidden)
            self.gl.addItem(item)
            self.items[value] = item
        if meshes:
            points = np.concatenate([m.vertices for m in meshes.values()])
            low, high = points.min(axis=0), points.max(axis=0)
            centre = QVector3D(*(float(v) for v in (low + high) / 2))
            self.gl.setCameraPosition(pos=centre, distance=float(np.linalg.norm(high - low)) * 1.4)
