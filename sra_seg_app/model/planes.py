"""State of the linked three-plane viewer, no widgets: the case shown, crosshair, window/level, overlay, layout.

One model drives every plane view and the 3-D view, so they cannot disagree: a click in any plane moves the one
crosshair (z, y, x), and each view shows the slice through it. Views listen to :attr:`PlanesModel.changed`, whose
argument says what changed, and redraw only that ("crosshair", "volume", "labels", "window", "overlay", "layout").

Painting: labels are stored and undone per slice of the acquisition plane (the stored ``array[k]``), so only that
plane can be painted in; the others are for looking and measuring (:meth:`PlanesModel.paint_note` says so in the UI).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from sra_seg_core.export import display_window
from sra_seg_core.image import Image
from sra_seg_core.measure import label_statistics, roi_stats, ruler_mm
from sra_seg_core.planes import PLANES, PlaneGeometry, acquisition_plane, plane_geometries

LAYOUTS = ("1x1", "1x3", "2x2")  # one plane; three planes in a row; three planes and the 3-D view
VIEW_3D = "3d"
TOOLS = ("crosshair", "ruler", "rectangle", "ellipse")  # what a left drag does in a plane view


@dataclass(frozen=True)
class Measurement:
    """A ruler or ROI drawn on one slice of one plane. a, b: (row, col) in pixel units; text: the result shown."""

    plane: str
    kind: str
    index: int
    a: tuple[float, float]
    b: tuple[float, float]
    value: float  # ruler: length in mm; ROI: area in mm²
    text: str


class PlanesModel(QObject):
    """The viewer state. Call the setters; listen to ``changed(kind)``."""

    changed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, as_stored: bool = False):
        """as_stored: show every plane unflipped, the acquisition plane as ``array[k]`` (row 0 on top), to match a
        painting canvas that shows the stored slice; markers still say where the patient is."""
        super().__init__(parent)
        self.as_stored = as_stored
        self.image: Image | None = None
        self.labels: np.ndarray | None = None
        self.planes: dict[str, PlaneGeometry] = {}
        self.crosshair: tuple[int, int, int] = (0, 0, 0)
        self.window: tuple[float, float] = (0.0, 1.0)
        self.opacity = 0.45
        self.layout = "1x3"
        self.single_plane = "axial"  # the plane a 1x1 layout shows
        self.colors: dict[int, str] = {}
        self.hidden: set[int] = set()
        self.tool = "crosshair"
        self.measurement: Measurement | None = None

    # --- the case ---------------------------------------------------------------------------------------------
    def set_image(self, image: Image, labels: np.ndarray | None = None, colors: dict[int, str] | None = None) -> None:
        """Show ``image`` (Z, Y, X) with optional (Z, Y, X) uint8 labels; the crosshair goes to the centre."""
        if labels is not None and labels.shape != image.shape:
            raise ValueError(f"labels {labels.shape} do not match the image {image.shape}")
        self.image, self.labels = image, labels
        # a picture is shown as stored (row 0 on top); a volume the way radiologists read it
        self.planes = plane_geometries(image.affine, image.shape, stored=self.as_stored or image.is_2d)
        self.crosshair = tuple(int(n) // 2 for n in image.shape)  # type: ignore[assignment]
        self.window = display_window(image.array)
        if colors is not None:
            self.colors = dict(colors)
        self.single_plane = acquisition_plane(self.planes)
        self.changed.emit("volume")

    def set_labels(self, labels: np.ndarray | None) -> None:
        """Replace the label map (after painting, undo or a new prediction); same shape as the image."""
        if labels is not None and self.image is not None and labels.shape != self.image.shape:
            raise ValueError(f"labels {labels.shape} do not match the image {self.image.shape}")
        self.labels = labels
        self.changed.emit("labels")

    # --- navigation -------------------------------------------------------------------------------------------
    def set_crosshair(self, zyx) -> None:
        """Move the crosshair to voxel (z, y, x), clamped to the volume."""
        if self.image is None:
            return
        clamped = tuple(int(np.clip(int(v), 0, n - 1)) for v, n in zip(zyx, self.image.shape))
        if clamped != self.crosshair:
            self.crosshair = clamped  # type: ignore[assignment]
            self.changed.emit("crosshair")

    def click(self, plane: str, row: float, col: float) -> None:
        """A click or drag at (row, col) pixels of ``plane``'s displayed slice: the crosshair follows in all planes."""
        geometry = self.planes[plane]
        row = float(np.clip(row, 0, geometry.shape[0] - 1))
        col = float(np.clip(col, 0, geometry.shape[1] - 1))
        self.set_crosshair(geometry.voxel(self.slice_index(plane), row, col))

    def step(self, plane: str, delta: int) -> None:
        """Move ``delta`` slices along ``plane``'s normal (wheel, PgUp/PgDn)."""
        zyx = list(self.crosshair)
        zyx[self.planes[plane].normal] += int(delta)
        self.set_crosshair(zyx)

    def slice_index(self, plane: str) -> int:
        return self.planes[plane].locate(self.crosshair)[0]

    def crosshair_in(self, plane: str) -> tuple[int, int]:
        """(row, col) of the crosshair on ``plane``'s displayed slice."""
        return self.planes[plane].locate(self.crosshair)[1:]  # type: ignore[return-value]

    def image_slice(self, plane: str) -> np.ndarray:
        """(rows, cols) intensities of ``plane`` through the crosshair (a view of the volume)."""
        return self.planes[plane].slice(self.image.array, self.slice_index(plane))

    def label_slice(self, plane: str) -> np.ndarray | None:
        if self.labels is None:
            return None
        return self.planes[plane].slice(self.labels, self.slice_index(plane))

    # --- display --------------------------------------------------------------------------------------------------
    def set_window(self, low: float, high: float) -> None:
        """Window/level as (low, high) intensities, the same in every view; high > low is enforced."""
        low, high = float(low), float(high)
        if high <= low:
            high = low + 1e-6 * max(1.0, abs(low))
        self.window = (low, high)
        self.changed.emit("window")

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(np.clip(opacity, 0.0, 1.0))
        self.changed.emit("overlay")

    def set_class_visible(self, value: int, visible: bool) -> None:
        (self.hidden.discard if visible else self.hidden.add)(int(value))
        self.changed.emit("overlay")

    def visible_colors(self) -> dict[int, str]:
        """Class value -> colour of the classes shown."""
        return {v: c for v, c in self.colors.items() if v not in self.hidden}

    def set_layout(self, layout: str, single_plane: str | None = None) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        if single_plane is not None:
            if single_plane not in PLANES:
                raise ValueError(f"plane must be one of {PLANES}, got {single_plane!r}")
            self.single_plane = single_plane
        self.layout = layout
        self.changed.emit("layout")

    def views(self) -> list[str]:
        """The views the layout shows, in reading order: plane names and :data:`VIEW_3D`."""
        if self.layout == "1x1":
            return [self.single_plane]
        return [*PLANES, VIEW_3D] if self.layout == "2x2" else list(PLANES)

    # --- measuring ------------------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
        self.tool = tool
        self.changed.emit("tool")

    def measure(self, plane: str, a, b, kind: str | None = None) -> Measurement:
        """Measure from ``a`` to ``b`` ((row, col) pixel units) on ``plane``'s current slice with ``kind`` (default:
        the current tool): ruler length in mm through the affine, or ROI area (mm²), mean and SD of intensity."""
        kind = kind or self.tool
        geometry, index = self.planes[plane], self.slice_index(plane)
        a, b = (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
        if kind == "ruler":
            value = ruler_mm(self.image.affine, geometry.position(index, *a), geometry.position(index, *b))
            text = f"{value:.1f} mm"
        elif kind in ("rectangle", "ellipse"):
            stats = roi_stats(self.image_slice(plane), geometry.pixel_mm, a, b, kind)
            value = stats.area_mm2
            text = f"{value:.1f} mm²  mean {stats.mean:.1f}  SD {stats.sd:.1f}  ({stats.pixels} px)"
        else:
            raise ValueError(f"cannot measure with {kind!r}; use ruler, rectangle or ellipse")
        self.measurement = Measurement(plane, kind, index, a, b, float(value), text)
        self.changed.emit("measurement")
        return self.measurement

    def label_table(self) -> list:
        """Per-class statistics of the case (:class:`sra_seg_core.measure.LabelStats`: voxels, mL, mean/SD
        intensity), one row per class colour known, in value order; empty without labels."""
        if self.image is None or self.labels is None:
            return []
        values = sorted(self.colors) or None
        return label_statistics(self.image.array, self.labels, self.image.spacing_zyx, values)

    def clear_measurement(self) -> None:
        self.measurement = None
        self.changed.emit("measurement")

    # --- rules ----------------------------------------------------------------------------------------------------
    def can_paint(self, plane: str) -> bool:
        """Labels can be painted only in the acquisition plane (they are stored, journalled and undone per slice)."""
        return bool(self.planes) and self.planes[plane].is_acquisition

    def paint_note(self, plane: str) -> str:
        """What the view's caption says about painting."""
        if not self.planes:
            return ""
        if self.can_paint(plane):
            return f"{plane}: acquisition plane, paint here"
        return f"{plane}: view only (paint in the {acquisition_plane(self.planes)} plane)"

    def readout(self) -> dict:
        """Cursor read-out at the crosshair: voxel (z, y, x), world RAS mm, intensity, label."""
        if self.image is None:
            return {}
        z, y, x = self.crosshair
        return {
            "voxel": self.crosshair,
            "world_mm": tuple(float(v) for v in self.image.world((x, y, z))),
            "value": float(self.image.array[z, y, x]),
            "label": None if self.labels is None else int(self.labels[z, y, x]),
        }
