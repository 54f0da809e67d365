"""The labelling tool state: which tool, class, brush size and overlay the Label workspace uses.

One object holds it (the tools dock writes it, the canvas reads it), so the choice survives the widgets and a test can
set it without any. ``changed`` carries the name of the field that changed.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

TOOLS = ("brush", "eraser", "fill", "polygon", "pan", "smart_fill", "scribble")
ASSIST_TOOLS = ("smart_fill", "scribble")   # tools whose clicks and strokes go to the assist model (a preview)
LAYERS = ("approved", "prediction", "both")


class ToolState(QObject):
    changed = Signal(str)   # the field's name

    def __init__(self, parent=None):
        super().__init__(parent)
        self._values = {"tool": "brush", "active_class": 1, "brush_radius": 4.0, "overwrite": True,
                        "fill_tolerance": None, "opacity": 0.45, "outline_only": False, "layer": "approved"}

    def _set(self, name: str, value) -> None:
        if self._values[name] != value:
            self._values[name] = value
            self.changed.emit(name)

    tool = property(lambda self: self._values["tool"])
    active_class = property(lambda self: self._values["active_class"])
    brush_radius = property(lambda self: self._values["brush_radius"])   # pixels
    overwrite = property(lambda self: self._values["overwrite"])
    fill_tolerance = property(lambda self: self._values["fill_tolerance"])
    opacity = property(lambda self: self._values["opacity"])             # label overlay, 0..1
    outline_only = property(lambda self: self._values["outline_only"])
    layer = property(lambda self: self._values["layer"])                 # one of LAYERS

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; one of {', '.join(TOOLS)}")
        self._set("tool", tool)

    def set_active_class(self, value: int) -> None:
        self._set("active_class", int(value))

    def set_brush_radius(self, radius: float) -> None:
        self._set("brush_radius", max(0.5, float(radius)))

    def set_overwrite(self, on: bool) -> None:
        self._set("overwrite", bool(on))

    def set_fill_tolerance(self, tolerance: float | None) -> None:
        self._set("fill_tolerance", tolerance)

    def set_opacity(self, value: float) -> None:
        self._set("opacity", min(1.0, max(0.0, float(value))))

    def set_outline_only(self, on: bool) -> None:
        self._set("outline_only", bool(on))

    def set_layer(self, layer: str) -> None:
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; one of {', '.join(LAYERS)}")
        self._set("layer", layer)
