"""The tools/labels dock: tool, brush size, classes, overlay, slice status and slice-to-slice helpers.

The brush size is shown as a diameter (px, and mm on the open image's grid); the tool state keeps its radius.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget,
    QListWidgetItem, QPushButton, QSlider, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from sra_seg_app.theme import icon

from sra_seg_app.model.window_presets import CUSTOM, PRESETS

TOOL_BUTTONS = (("brush", "fa5s.paint-brush", "Brush (B)"), ("eraser", "fa5s.eraser", "Eraser (E)"),
                ("smart_fill", "fa5s.magic", "Smart fill (F): click inside a structure for a preview; the wheel or "
                 "the Assist slider sets the tolerance; Enter or a click inside accepts, Esc cancels"),
                ("scribble", "fa5s.highlighter", "Scribble (S): a few strokes per class, and background strokes "
                 "(class 0, or Shift while drawing); the preview follows each stroke; Enter accepts"),
                ("fill", "fa5s.fill-drip", "Flood fill (Shift+F): the connected region of one label, no intensity "
                 "bound"),
                ("polygon", "fa5s.draw-polygon", "Polygon (P): click vertices, double-click to close, right-click "
                 "to cancel"), ("pan", "fa5s.hand-paper", "Pan (H)"))
TOOL_TEXT = {"smart_fill": "Smart fill", "scribble": "Scribble"}
WINDOW_PRESETS = PRESETS


def swatch(color: str, size: int = 14) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(QColor(color))
    return pix


class ToolsPanel(QWidget):
    toolChanged = Signal(str)
    classChanged = Signal(int)
    radiusChanged = Signal(float)
    opacityChanged = Signal(float)
    outlineChanged = Signal(bool)
    layerChanged = Signal(str)
    overwriteChanged = Signal(bool)
    windowPreset = Signal(str)
    windowValues = Signal(float, float)   # typed level (centre) and width
    classEdit = Signal(str, int, str)     # ("rename", value, name) / ("recolour", value, "#RRGGBB") / ("add", 0, "")
                                          # / ("remove", value, "")
    classView = Signal(object, object)    # (hidden, locked) sets of class values
    action = Signal(str)     # copy-prev, copy-next, interpolate, done, progress, flag, clear-status, next-unlabelled

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        tools = QGroupBox("Tool")
        grid = QGridLayout(tools)
        self.tool_group = QButtonGroup(self)
        self.tool_group.setExclusive(True)
        self.tool_buttons: dict[str, QToolButton] = {}
        for k, (name, icon_name, tip) in enumerate(TOOL_BUTTONS):
            button = QToolButton(checkable=True, toolTip=tip)
            button.setIcon(icon(icon_name))
            button.setText(TOOL_TEXT.get(name, name.capitalize()))
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setMinimumWidth(64)
            button.clicked.connect(lambda _=False, n=name: self.set_tool(n))
            self.tool_group.addButton(button)
            self.tool_buttons[name] = button
            grid.addWidget(button, k // 3, k % 3)
        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Ø"))
        self.size_slider = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=120, value=8,
                                   toolTip="Brush diameter in pixels ([ and ] change it)")
        self.size_spin = QSpinBox(minimum=1, maximum=400, value=8, suffix=" px", toolTip="Brush diameter")
        self.size_mm = QLabel("", objectName="muted")
        self.size_mm.setMinimumWidth(56)
        self.pixel_mm = 0.0   # in-plane pixel size of the open image (0: none open)
        self.size_slider.valueChanged.connect(self.size_spin.setValue)
        self.size_spin.valueChanged.connect(self._diameter)
        size_row.addWidget(self.size_slider, 1)
        size_row.addWidget(self.size_spin)
        size_row.addWidget(self.size_mm)
        rows = (len(TOOL_BUTTONS) + 2) // 3
        grid.addLayout(size_row, rows, 0, 1, 3)
        self.overwrite = QCheckBox("Paint over other classes", checked=True)
        self.overwrite.toggled.connect(self.overwriteChanged)
        grid.addWidget(self.overwrite, rows + 1, 0, 1, 3)
        layout.addWidget(tools)

        self.classes_box = classes = QGroupBox("Classes")
        cl = QVBoxLayout(classes)
        self.class_list = QListWidget()
        self.class_list.setMaximumHeight(150)
        self.class_list.currentRowChanged.connect(self._class_row)
        cl.addWidget(self.class_list)
        self.hidden: set[int] = set()
        self.locked: set[int] = set()
        edit_row = QHBoxLayout()
        self.class_buttons = {}
        for key, text, tip in (("rename", "Rename…", "Rename the selected class"),
                               ("recolour", "Colour…", "Choose the selected class's colour"),
                               ("add", "+", "Add a class"),
                               ("remove", "−", "Remove the selected class (asks first: its voxels become background and the "
                                          "classes above it are renumbered in every label map)")):
            button = QPushButton(text, toolTip=tip)
            button.clicked.connect(lambda _=False, k=key: self._edit_class(k))
            edit_row.addWidget(button)
            self.class_buttons[key] = button
        cl.addLayout(edit_row)
        view_row = QHBoxLayout()
        self.hide_class = QCheckBox("Hide", toolTip="Do not draw the selected class (saved in the project)")
        self.lock_class = QCheckBox("Lock", toolTip="No tool changes the selected class's pixels (saved in the "
                                    "project)")
        self.hide_class.toggled.connect(lambda on: self._view("hidden", on))
        self.lock_class.toggled.connect(lambda on: self._view("locked", on))
        view_row.addWidget(self.hide_class)
        view_row.addWidget(self.lock_class)
        view_row.addStretch(1)
        cl.addLayout(view_row)
        layout.addWidget(classes)

        overlay = QGroupBox("Overlay")
        ol = QGridLayout(overlay)
        ol.addWidget(QLabel("Opacity"), 0, 0)
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=45)
        self.opacity.valueChanged.connect(lambda v: self.opacityChanged.emit(v / 100))
        ol.addWidget(self.opacity, 0, 1)
        self.outline = QCheckBox("Outline only (O)")
        self.outline.toggled.connect(self.outlineChanged)
        ol.addWidget(self.outline, 1, 0, 1, 2)
        ol.addWidget(QLabel("Show"), 2, 0)
        self.layer = QComboBox()
        self.layer.addItems(["Approved labels", "Prediction", "Both (prediction as outline)"])
        self.layer.setToolTip("Which masks to draw (Tab toggles approved / prediction)")
        self.layer.currentIndexChanged.connect(
            lambda i: self.layerChanged.emit(("approved", "prediction", "both")[i]))
        ol.addWidget(self.layer, 2, 1)
        ol.addWidget(QLabel("Window"), 3, 0)
        self.window = QComboBox()
        self.window.addItems(WINDOW_PRESETS)
        self.window.setToolTip("Window/level preset (right-drag on the image adjusts it)")
        self.window.addItem(CUSTOM)
        self.window.activated.connect(lambda i: i < len(WINDOW_PRESETS) and self.windowPreset.emit(WINDOW_PRESETS[i]))
        ol.addWidget(self.window, 3, 1)
        wl_row = QHBoxLayout()
        self.level_spin = QDoubleSpinBox(minimum=-1e6, maximum=1e6, decimals=1, prefix="L ",
                                         toolTip="Window level (centre), in image units (HU for CT)")
        self.width_spin = QDoubleSpinBox(minimum=1e-3, maximum=2e6, decimals=1, prefix="W ",
                                         toolTip="Window width, in image units (HU for CT)")
        for spin in (self.level_spin, self.width_spin):
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda _v: self.windowValues.emit(self.level_spin.value(),
                                                                        self.width_spin.value()))
            wl_row.addWidget(spin)
        ol.addLayout(wl_row, 4, 0, 1, 2)
        layout.addWidget(overlay)

        slices = QGroupBox("Slice")
        sl = QGridLayout(slices)
        for k, (key, text, icon_name, tip) in enumerate((
                ("done", "Done", "fa5s.check", "Mark this slice done (D)"),
                ("progress", "In progress", "fa5s.adjust", "Mark in progress (I)"),
                ("flag", "Flag", "fa5s.flag", "Flag for review (G)"),
                ("clear-status", "Not started", "fa5.circle", "Reset the slice status"),
                ("copy-prev", "From previous", "fa5s.arrow-down", "Copy the label from the previous slice (Ctrl+↓)"),
                ("copy-next", "From next", "fa5s.arrow-up", "Copy the label from the next slice (Ctrl+↑)"),
                ("interpolate", "Interpolate", "fa5s.layer-group",
                 "Fill the slices between the nearest labelled slices above and below"),
                ("next-unlabelled", "Next unlabelled", "fa5s.forward", "Go to the next slice not done (N)"))):
            button = QPushButton(icon(icon_name), text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _=False, a=key: self.action.emit(a))
            sl.addWidget(button, k // 2, k % 2)
        layout.addWidget(slices)
        layout.addStretch(1)
        self.set_tool("brush")

    # --- state in -----------------------------------------------------------------------------------------------
    def set_classes(self, classes) -> None:
        current = self.current_class()
        self.classes = list(classes)
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for k, c in enumerate(classes):
            marks = ("  · hidden" if c.value in self.hidden else "") + \
                ("  · locked" if c.value in self.locked else "")
            item = QListWidgetItem(f"{c.value}  {c.name}{marks}")
            item.setIcon(swatch(c.color))
            item.setData(Qt.ItemDataRole.UserRole, c.value)
            item.setToolTip(f"Press {c.value} to paint {c.name}" if c.value <= 9 else c.name)
            self.class_list.addItem(item)
        # class 0: erases with the brush, marks background with the scribble tool
        item = QListWidgetItem("0  Background")
        item.setIcon(swatch("#f5f5f5"))
        item.setData(Qt.ItemDataRole.UserRole, 0)
        item.setToolTip("Press 0: background scribbles (the brush erases with it)")
        self.class_list.addItem(item)
        self.class_list.blockSignals(False)
        # every row visible up to five (a tight dock squeezed Background out of sight); more rows scroll
        rows = min(self.class_list.count(), 5)
        self.class_list.setMinimumHeight(rows * max(self.class_list.sizeHintForRow(0), 16)
                                         + 2 * self.class_list.frameWidth())
        keys = f"1–{min(len(classes), 9)}" if len(classes) > 1 else "1"
        self.classes_box.setTitle(f"Classes ({keys}, 0 background)" if classes else "Classes")
        if current is not None and any(c.value == current for c in classes):
            self.select_class(current)
            return
        if classes:
            self.class_list.setCurrentRow(0)

    def current_class(self) -> int | None:
        item = self.class_list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def set_class_view(self, hidden: set[int], locked: set[int]) -> None:
        self.hidden, self.locked = set(hidden), set(locked)
        self.set_classes(getattr(self, "classes", []))
        self._show_view()

    def _show_view(self) -> None:
        value = self.current_class()
        for box, chosen in ((self.hide_class, self.hidden), (self.lock_class, self.locked)):
            box.blockSignals(True)
            box.setChecked(value in chosen)
            box.setEnabled(bool(value))
            box.blockSignals(False)

    def _view(self, which: str, on: bool) -> None:
        value = self.current_class()
        if not value:
            return
        chosen = set(getattr(self, which))
        (chosen.add if on else chosen.discard)(value)
        hidden, locked = (chosen, self.locked) if which == "hidden" else (self.hidden, chosen)
        self.classView.emit(hidden, locked)

    def _edit_class(self, kind: str) -> None:
        from PySide6.QtWidgets import QColorDialog, QInputDialog

        value = self.current_class() or 0
        current = next((c for c in getattr(self, "classes", []) if c.value == value), None)
        if kind == "rename" and current is not None:
            name, ok = QInputDialog.getText(self, "Rename class", f"New name of class {value}:", text=current.name)
            if ok and name.strip():
                self.classEdit.emit("rename", value, name.strip())
        elif kind == "recolour" and current is not None:
            color = QColorDialog.getColor(QColor(current.color), self, f"Colour of {current.name}")
            if color.isValid():
                self.classEdit.emit("recolour", value, color.name())
        elif kind == "remove":
            self.classEdit.emit(kind, value, "")
        elif kind == "add":
            self.classEdit.emit(kind, 0, "")

    def select_class(self, value: int) -> None:
        for row in range(self.class_list.count()):
            if self.class_list.item(row).data(Qt.ItemDataRole.UserRole) == value:
                self.class_list.setCurrentRow(row)

    def set_tool(self, name: str) -> None:
        self.tool_buttons[name].setChecked(True)
        self.toolChanged.emit(name)

    def step_radius(self, delta: int) -> None:
        """[ / ]: one pixel of radius, two of diameter."""
        self.size_spin.setValue(max(1, self.size_spin.value() + 2 * delta))

    def set_pixel_size(self, mm: float) -> None:
        """The open image's in-plane pixel size (mm), for the diameter in mm (0: no image)."""
        self.pixel_mm = float(mm)
        self._show_mm()

    def set_tool_shown(self, name: str) -> None:
        """Check ``name``'s button without emitting (the tool state changed elsewhere)."""
        if name in self.tool_buttons:
            self.tool_buttons[name].setChecked(True)

    def show_window(self, level: float, width: float, preset: str) -> None:
        """The window now shown: its numbers in the fields and ``preset`` (a preset's name or "Custom") in the box."""
        for spin, value in ((self.level_spin, level), (self.width_spin, width)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.window.setCurrentText(preset)

    # --- signals out ----------------------------------------------------------------------------------------------
    def _diameter(self, value: int) -> None:
        self.size_slider.blockSignals(True)
        self.size_slider.setValue(min(value, self.size_slider.maximum()))
        self.size_slider.blockSignals(False)
        self._show_mm()
        self.radiusChanged.emit(value / 2)

    def _show_mm(self) -> None:
        self.size_mm.setText(f"{self.size_spin.value() * self.pixel_mm:.1f} mm" if self.pixel_mm else "")

    def _class_row(self, row: int) -> None:
        item = self.class_list.item(row)
        if item is not None:
            self.classChanged.emit(int(item.data(Qt.ItemDataRole.UserRole)))
            self._show_view()
