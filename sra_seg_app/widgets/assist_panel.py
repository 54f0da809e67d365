"""The assisted-labelling panel: tool, tolerance, 3-D / paint over, accept per class. Layout and bindings only —
the state and rules are :class:`~sra_seg_app.model.assist.AssistModel`'s."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox,
    QToolButton, QVBoxLayout, QWidget,
)

from sra_seg_app.model.assist import K_RANGE, AssistModel, Tool

TOOLS = ((Tool.SMART_FILL, "Smart fill", "Click inside a structure; the wheel or the slider sets the tolerance"),
         (Tool.SCRIBBLE, "Scribble", "Draw a few strokes per class and one in the background (class 0)"),
         (Tool.PROPOSE, "Propose", "The model's labels for this slice (Shift: the whole case)"),
         (Tool.PROPAGATE, "Propagate", "Propose the next slice from this one"))
_K_STEPS = 100  # slider resolution over K_RANGE


class AssistPanel(QWidget):
    """Binds to one :class:`AssistModel` at a time (:meth:`bind`). ``accepted`` carries the edits to push as one
    undo step; the workspace tells the panel the current slice (:meth:`set_slice`)."""

    accepted = Signal(list)
    proposeRequested = Signal(bool)  # the workspace runs the proposal off the GUI thread; True: the whole case
    propagateRequested = Signal()  # the workspace proposes the next slice and shows it

    def __init__(self, class_names: list[str], parent=None):
        super().__init__(parent)
        self.model: AssistModel | None = None
        self.z = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        tools = QGroupBox("Assist")
        grid = QGridLayout(tools)
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[Tool, QToolButton] = {}
        for k, (tool, text, tip) in enumerate(TOOLS):
            button = QToolButton(checkable=True, text=text, toolTip=tip)
            button.setMinimumWidth(80)
            button.clicked.connect(lambda _=False, t=tool: self._use(t))
            self.tool_group.addButton(button)
            self.tool_buttons[tool] = button
            grid.addWidget(button, k // 2, k % 2)
        layout.addWidget(tools)

        row = QHBoxLayout()
        row.addWidget(QLabel("Tolerance"))
        self.k_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=_K_STEPS,
                                toolTip="Smart fill: intensity band in local standard deviations (wheel over the "
                                        "image while the preview shows)")
        self.k_slider.valueChanged.connect(self._k_from_slider)
        row.addWidget(self.k_slider)
        self.k_label = QLabel()
        row.addWidget(self.k_label)
        layout.addLayout(row)
        self.three_d = QCheckBox("3-D (whole volume)")
        self.three_d.toggled.connect(lambda on: self.model and self.model.set_three_d(on))
        self.paint_over = QCheckBox("Paint over other classes")
        self.paint_over.toggled.connect(lambda on: self.model and self.model.set_paint_over(on))
        layout.addWidget(self.three_d)
        layout.addWidget(self.paint_over)

        self.uncertainty = QCheckBox("Show uncertainty (U)", toolTip="Overlay the proposal's entropy: magenta "
                                     "where the model is unsure")
        layout.addWidget(self.uncertainty)

        accept_box = QGroupBox("Accept classes")
        accept_layout = QVBoxLayout(accept_box)
        self.class_boxes: dict[int, QCheckBox] = {}
        self._class_layout = QVBoxLayout()
        accept_layout.addLayout(self._class_layout)
        self.set_classes(class_names)
        buttons = QHBoxLayout()
        self.accept_button = QPushButton("Accept (Enter)")
        self.accept_button.clicked.connect(self.accept)
        self.cancel_button = QPushButton("Cancel (Esc)")
        self.cancel_button.clicked.connect(lambda: self.model and self.model.cancel())
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.cancel_button)
        accept_layout.addLayout(buttons)
        layout.addWidget(accept_box)

        self.status = QLabel(wordWrap=True)
        layout.addWidget(self.status)

        helper = QGroupBox("Assistant (learns while you label)")
        hl = QGridLayout(helper)
        self.assistant_on = QCheckBox("Fine-tune every", toolTip="A short background fine-tune of the newest model "
                                      "on the done slices, at low priority")
        self.assistant_every = QSpinBox(minimum=1, maximum=100, value=5, suffix=" done slices")
        self.assistant_pause = QPushButton("Pause", checkable=True)
        self.assistant_stop = QPushButton("Stop", toolTip="End the running fine-tune (it keeps what it learnt so far "
                                          "in its latest checkpoint)")
        self.assistant_status = QLabel("Assistant off.", wordWrap=True, objectName="muted")
        hl.addWidget(self.assistant_on, 0, 0)
        hl.addWidget(self.assistant_every, 0, 1)
        hl.addWidget(self.assistant_pause, 1, 0)
        hl.addWidget(self.assistant_stop, 1, 1)
        hl.addWidget(self.assistant_status, 2, 0, 1, 2)
        layout.addWidget(helper)
        self.assistant = None
        layout.addStretch(1)
        self._sync()

    # --- binding --------------------------------------------------------------------------------------------------
    def bind(self, model: AssistModel | None) -> None:
        if self.model is not None:
            for signal in (self.model.settingsChanged, self.model.previewChanged, self.model.sourceChanged):
                signal.disconnect(self._sync)
            self.model.busyChanged.disconnect(self._busy)
        self.model = model
        if model is not None:
            for signal in (model.settingsChanged, model.previewChanged, model.sourceChanged):
                signal.connect(self._sync)
            model.busyChanged.connect(self._busy)
        self._sync()

    def bind_assistant(self, assistant) -> None:
        """The background fine-tune's controls drive ``assistant`` (a
        :class:`~sra_seg_app.model.assistant.Assistant`)."""
        self.assistant = assistant
        self.assistant_on.toggled.connect(assistant.set_enabled)
        self.assistant_every.valueChanged.connect(assistant.set_every)
        self.assistant_pause.toggled.connect(assistant.set_paused)
        self.assistant_stop.clicked.connect(assistant.stop)
        assistant.changed.connect(self._sync_assistant)
        self.assistant_every.setValue(assistant.every)
        self._sync_assistant()

    def _sync_assistant(self) -> None:
        a = self.assistant
        self.assistant_pause.setEnabled(a.enabled)
        self.assistant_pause.setText("Resume" if a.paused else "Pause")
        self.assistant_stop.setEnabled(a.monitor.live)
        self.assistant_status.setText(a.status)

    def _busy(self, _on: bool) -> None:
        self._sync()

    def set_classes(self, class_names: list[str]) -> None:
        """One 'accept' box per class (1..N), all checked."""
        if [box.text() for box in self.class_boxes.values()] == [f"{v} {n}" for v, n in
                                                                 enumerate(class_names, start=1)]:
            return
        for box in self.class_boxes.values():
            self._class_layout.removeWidget(box)
            box.hide()   # at once: deleteLater waits for the event loop
            box.deleteLater()
        self.class_boxes = {}
        for value, name in enumerate(class_names, start=1):
            box = QCheckBox(f"{value} {name}", checked=True)
            self.class_boxes[value] = box
            self._class_layout.addWidget(box)

    def set_slice(self, z: int) -> None:
        self.z = int(z)

    def accept(self) -> None:
        if self.model is None:
            return
        chosen = [v for v, box in self.class_boxes.items() if box.isChecked()]
        everything = len(chosen) == len(self.class_boxes)
        edits = self.model.accept(None if everything else chosen)
        if edits:
            self.accepted.emit(edits)

    def _use(self, tool: Tool) -> None:
        if self.model is None:
            return
        self.model.set_tool(tool)
        if tool == Tool.PROPOSE and self.model.model is not None:
            from PySide6.QtWidgets import QApplication

            shift = bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.proposeRequested.emit(shift)
        elif tool == Tool.PROPAGATE:
            self.propagateRequested.emit()

    def _k_from_slider(self, step: int) -> None:
        if self.model is not None:
            lo, hi = K_RANGE
            self.model.set_k(lo * (hi / lo) ** (step / _K_STEPS))  # log scale: fine steps at narrow bands

    def _sync(self) -> None:
        model = self.model
        enabled = model is not None
        for widget in (*self.tool_buttons.values(), self.k_slider, self.three_d, self.paint_over):
            widget.setEnabled(enabled)
        if model is None:
            self.status.setText("Open a case to use the assistant.")
            self.accept_button.setEnabled(False)
            self.cancel_button.setEnabled(False)
            return
        self.tool_buttons[model.tool].setChecked(True)
        self.tool_buttons[Tool.PROPOSE].setEnabled(model.model is not None)
        lo, hi = K_RANGE
        step = round(_K_STEPS * math.log(model.k / lo) / math.log(hi / lo))
        self.k_slider.blockSignals(True)
        self.k_slider.setValue(step)
        self.k_slider.blockSignals(False)
        self.k_label.setText(f"{model.k:.1f} σ")
        for box, value in ((self.three_d, model.three_d), (self.paint_over, model.paint_over)):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)
        has_preview = model.preview is not None
        self.accept_button.setEnabled(has_preview)
        self.cancel_button.setEnabled(has_preview)
        self.status.setText(model.status + ("  — segmenting…" if model.busy else ""))
