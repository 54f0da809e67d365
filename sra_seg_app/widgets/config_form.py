"""The training form: the settings a clinician changes, and an Advanced dialog generated from the config dataclasses.

Both edit one :class:`~sra_seg_core.config.RunConfig` (the same object the CLI and a run's ``config.yaml`` use), so a
field is described once: the form binds widgets to dotted keys (``train.batch_size``), the dialog lists every other
field with its type's editor and the comment it has in ``config.py`` as help.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout,
    QLabel, QLineEdit, QPushButton, QScrollArea, QSpinBox, QTabWidget, QVBoxLayout, QWidget,
)

from sra_seg_core.config import METHODS, PRESETS, RunConfig, preset
from sra_seg_core.errors import ConfigError
from sra_seg_app.theme import icon

METHOD_NAMES = {"sra-seg": ("SRA-Seg", "soft edge blending of real and synthetic images + DINOv2 similarity alignment"),
                "bcp": ("BCP", "bidirectional copy-paste (hard box) with pseudo-labels"),
                "mean-teacher": ("Mean teacher", "consistency with an EMA teacher on the unlabelled images"),
                "supervised": ("Supervised only", "the labelled slices alone (a baseline)")}
ENCODER_SIZES = ("small", "base", "large")   # alignment.encoder accepts these names (see alignment.ENCODERS)
CUSTOM = "custom"

# Choices of the user that picking a preset keeps (a preset sets the schedule, not the method or the hardware).
PRESET_KEEPS = ("data.root", "train.method", "train.device", "alignment.enabled", "alignment.encoder",
                "alignment.weights_file", "alignment.download", "alignment.allow_untrained")
# data.root is always the open project; the form's own widgets cover the rest.
FORM_KEYS = ("data.root", "train.method", "train.pretrain_iters", "train.selftrain_iters", "train.batch_size",
             "data.image_size", "train.device", "train.validate_every", "blend.hard", "alignment.enabled",
             "alignment.encoder", "alignment.weights_file", "alignment.download", "alignment.allow_untrained")


def get_value(config: RunConfig, key: str):
    section, _, name = key.partition(".")
    return getattr(getattr(config, section), name)


def apply_preset(name: str, current: RunConfig) -> RunConfig:
    """The preset's schedule with the user's method, device and encoder choices kept."""
    config = preset(name)
    for key in PRESET_KEEPS:
        config.set(key, get_value(current, key), source="form")
    return config


def matching_preset(config: RunConfig) -> str:
    """The preset ``config`` is (up to the choices a preset keeps), or :data:`CUSTOM`."""
    target = config.to_dict()
    return next((name for name in PRESETS if apply_preset(name, config).to_dict() == target), CUSTOM)


def preset_summary(name: str) -> str:
    if name == CUSTOM:
        return "settings changed from every preset"
    c = preset(name)
    return (f"{c.train.pretrain_iters:,} + {c.train.selftrain_iters:,} iterations · batch {c.train.batch_size} · "
            f"{c.data.image_size} px")


def encoder_status(config: RunConfig) -> tuple[str, str]:
    """(style, text) saying which DINOv2 weights a run would use; style is an object name of the style sheet."""
    a = config.alignment
    if not config.uses_alignment:
        return "muted", "Similarity alignment is off: no DINOv2 encoder is needed."
    if a.weights_file:
        path = Path(a.weights_file).expanduser()
        if not path.is_file():
            return "error", f"Weights file not found: {path}"
        return "muted", f"pretrained weights: {path.name}"
    if a.download:
        fallback = ("if that fails, an UNTRAINED encoder is used (allowed)" if a.allow_untrained else
                    "if that fails (offline), training stops: choose a weights file")
        return "muted", f"will try timm's download (Hugging Face cache first); {fallback}"
    if a.allow_untrained:
        return "banner", "UNTRAINED encoder (allowed): results are not the method's"
    return "error", ("No encoder weights: choose a weights file, allow the download, or allow an untrained encoder; "
                     "otherwise training stops at once.")


def field_help(section_type: type) -> dict[str, str]:
    """The comment after each field in the dataclass's source ({} when the source is not available)."""
    try:
        source = inspect.getsource(section_type)
    except (OSError, TypeError):
        return {}
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s+(\w+):[^#\n]*#\s*(.+)$", source, re.M)}


def set_style(label: QLabel, name: str) -> None:
    """Switch a label between style-sheet looks (muted, banner, error) at run time."""
    if label.objectName() != name:
        label.setObjectName(name)
        label.style().unpolish(label)
        label.style().polish(label)


class KeepEditingKeys(QObject):
    """Lets a focused spin box or combo box have the arrow and page keys, which the main window also binds as
    window-wide shortcuts (slice navigation)."""

    KEYS = {Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown, Qt.Key.Key_Home, Qt.Key.Key_End}

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in self.KEYS:
            event.accept()
        return False


def spin_box(minimum: int, maximum: int, step: int = 1, suffix: str = "") -> QSpinBox:
    """An integer box with thousands separators that reports a typed number once, not per digit."""
    spin = QSpinBox(minimum=minimum, maximum=maximum, singleStep=step, suffix=suffix)
    spin.setGroupSeparatorShown(True)
    spin.setKeyboardTracking(False)
    return spin


class ConfigForm(QWidget):
    """The main settings; :meth:`config` / :meth:`set_config` round-trip a RunConfig exactly."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._config = RunConfig()
        self._bindings: list[tuple[str, QWidget]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        method_box = QGroupBox("Method and schedule")
        form = QFormLayout(method_box)
        self.method = QComboBox()
        for name in METHODS[::-1]:
            title, description = METHOD_NAMES.get(name, (name, ""))
            self.method.addItem(title, name)
            self.method.setItemData(self.method.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        self.method_note = QLabel(objectName="muted", wordWrap=True)
        self.preset = QComboBox(toolTip="A preset sets the schedule (iterations, batch, image size, blending); "
                                        "the method, device and encoder choices stay")
        for name in (*PRESETS, CUSTOM):
            self.preset.addItem(name, name)
            self.preset.setItemData(self.preset.count() - 1, preset_summary(name), Qt.ItemDataRole.ToolTipRole)
        self.preset_note = QLabel(objectName="muted", wordWrap=True)
        self.preset.activated.connect(self._preset_chosen)
        self.pretrain = spin_box(0, 10_000_000, 100)
        self.pretrain.setToolTip("Stage 1: labelled slices only (real blended into real). Supervised training runs "
                                 "for stage 1 + stage 2 iterations in one stage.")
        self.selftrain = spin_box(0, 10_000_000, 100)
        self.selftrain.setToolTip("Stage 2: labelled + synthetic images with teacher pseudo-labels")
        self.batch = spin_box(2, 4096, 2)
        self.batch.setToolTip("Half labelled real slices, half synthetic (unlabelled) slices")
        self.image_size = spin_box(32, 4096, 16, " px")
        self.image_size.setToolTip("Slices are resized to this square size for training (a multiple of 16)")
        self.validate_every = spin_box(1, 1_000_000, 10, " iterations")
        self.validate_every.setToolTip("Validation Dice on the reference cases; the best checkpoint is kept")
        self.hard_blend = QCheckBox("Hard blend (ablation)")
        self.hard_blend.setToolTip("Blend with the unsmoothed box instead of the soft edge (the paper's ablation)")
        form.addRow("Method", self.method)
        form.addRow("", self.method_note)
        form.addRow("Preset", self.preset)
        form.addRow("", self.preset_note)
        form.addRow("Stage 1 iterations", self.pretrain)
        form.addRow("Stage 2 iterations", self.selftrain)
        form.addRow("Batch size", self.batch)
        form.addRow("Image size", self.image_size)
        form.addRow("Validate every", self.validate_every)
        form.addRow("", self.hard_blend)
        layout.addWidget(method_box)

        device_box = QGroupBox("Device")
        device_form = QFormLayout(device_box)
        self.device = QComboBox(toolTip="Where training runs; automatic picks the first GPU, else the CPU")
        self._fill_devices(None)
        device_form.addRow("Train on", self.device)
        layout.addWidget(device_box)

        sa_box = QGroupBox("Similarity alignment (DINOv2)")
        sa = QFormLayout(sa_box)
        self.sa_enabled = QCheckBox("Use similarity alignment")
        self.sa_enabled.setToolTip("Pull the network's features of each synthetic image towards the DINOv2 embedding "
                                   "of its nearest real slice")
        self.encoder = QComboBox(toolTip="DINOv2 size: small is fast; base and large need more memory")
        for size in ENCODER_SIZES:
            self.encoder.addItem(size, size)
        self.weights = QLineEdit(placeholderText="none: download, or an untrained encoder", clearButtonEnabled=True)
        self.weights.setToolTip("The official DINOv2 .pth (e.g. dinov2_vits14_pretrain.pth) or a timm .safetensors, "
                                "for computers without internet access")
        browse = QPushButton(icon("fa5s.folder-open"), "")
        browse.setToolTip("Choose a weights file…")
        browse.clicked.connect(self._browse_weights)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights, 1)
        weights_row.addWidget(browse)
        self.download = QCheckBox("Try the download (timm)")
        self.download.setToolTip("When no file is given: timm's pretrained weights from the Hugging Face hub (its "
                                 "local cache first)")
        self.allow_untrained = QCheckBox("Allow an untrained encoder")
        self.allow_untrained.setToolTip("For tests and demos only: a random encoder, flagged in the log and the run; "
                                        "results are not the method's")
        self.encoder_status = QLabel(objectName="muted", wordWrap=True)
        sa.addRow("", self.sa_enabled)
        sa.addRow("Encoder", self.encoder)
        sa.addRow("Weights file", weights_row)
        sa.addRow("", self.download)
        sa.addRow("", self.allow_untrained)
        sa.addRow(self.encoder_status)
        self._sa_widgets = (self.encoder, self.weights, browse, self.download, self.allow_untrained)
        layout.addWidget(sa_box)

        self.advanced = QPushButton(icon("fa5s.sliders-h"), "Advanced settings…")
        self.advanced.setToolTip("Every other setting of the run: data split, model, augmentation, blending, "
                                 "alignment, optimiser and training details")
        self.advanced.clicked.connect(self.edit_advanced)
        layout.addWidget(self.advanced)
        layout.addStretch(1)
        for combo in (self.method, self.preset, self.device, self.encoder):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        self._keys = KeepEditingKeys(self)
        for widget in self.findChildren(QSpinBox) + self.findChildren(QComboBox):
            widget.installEventFilter(self._keys)

        for key, widget in (("train.method", self.method), ("train.pretrain_iters", self.pretrain),
                            ("train.selftrain_iters", self.selftrain), ("train.batch_size", self.batch),
                            ("data.image_size", self.image_size), ("train.validate_every", self.validate_every),
                            ("blend.hard", self.hard_blend), ("train.device", self.device),
                            ("alignment.enabled", self.sa_enabled), ("alignment.encoder", self.encoder),
                            ("alignment.weights_file", self.weights), ("alignment.download", self.download),
                            ("alignment.allow_untrained", self.allow_untrained)):
            self._bind(key, widget)
        self._refresh()

    # --- the config ---------------------------------------------------------------------------------------------------
    def config(self) -> RunConfig:
        return self._config.copy()

    def set_config(self, config: RunConfig) -> None:
        self._config = config.copy()
        self._refresh()
        self.changed.emit()

    def set_device_info(self, info: dict | None) -> None:
        """Fill the device list from ``sra-seg devices --json`` ({"gpus": [{"index", "name", "memory_gb"}], …})."""
        self._fill_devices(info)
        self._refresh()

    def _fill_devices(self, info: dict | None) -> None:
        self.device.blockSignals(True)
        self.device.clear()
        self.device.addItem("Automatic (GPU if available)", "auto")
        for gpu in (info or {}).get("gpus") or []:
            self.device.addItem(f"GPU {gpu['index']}: {gpu['name']} ({gpu['memory_gb']} GB)", f"cuda:{gpu['index']}")
        threads = (info or {}).get("cpu_threads")
        self.device.addItem(f"CPU ({threads} threads)" if threads else "CPU", "cpu")
        self.device.blockSignals(False)

    def edit_advanced(self) -> None:
        dialog = AdvancedDialog(self._config, parent=self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.set_config(dialog.result_config)

    # --- widgets <-> config -------------------------------------------------------------------------------------------
    def _bind(self, key: str, widget: QWidget) -> None:
        self._bindings.append((key, widget))
        if isinstance(widget, QSpinBox):
            widget.valueChanged.connect(lambda _v, k=key, w=widget: self._widget_changed(k, w))
        elif isinstance(widget, QCheckBox):
            widget.toggled.connect(lambda _v, k=key, w=widget: self._widget_changed(k, w))
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(lambda _v, k=key, w=widget: self._widget_changed(k, w))
        elif isinstance(widget, QLineEdit):
            widget.textChanged.connect(lambda _v, k=key, w=widget: self._widget_changed(k, w))

    def _widget_value(self, key: str, widget: QWidget):
        if isinstance(widget, QSpinBox):
            return widget.value()
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QLineEdit):
            return widget.text().strip() or None
        value = widget.currentData()
        if key == "alignment.encoder" and _encoder_size(self._config.alignment.encoder) == value:
            return self._config.alignment.encoder   # the same size under its full timm name: keep the name
        return value

    def _show_value(self, key: str, widget: QWidget, value) -> None:
        if isinstance(widget, QSpinBox):
            widget.setMaximum(max(widget.maximum(), value))
            widget.setValue(value)
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QLineEdit):
            if widget.text().strip() != (value or ""):
                widget.setText(value or "")
        else:
            data = _encoder_size(value) if key == "alignment.encoder" else value
            index = widget.findData(data)
            if index < 0:   # a value the list does not offer (a device of another computer): show it as it is
                widget.addItem(str(data), data)
                index = widget.count() - 1
            widget.setCurrentIndex(index)

    def _widget_changed(self, key: str, widget: QWidget) -> None:
        self._config.set(key, self._widget_value(key, widget), source="form")
        self._update_state()
        self.changed.emit()

    def _refresh(self) -> None:
        for key, widget in self._bindings:
            widget.blockSignals(True)
            self._show_value(key, widget, get_value(self._config, key))
            widget.blockSignals(False)
        self._update_state()

    def _update_state(self) -> None:
        c = self._config
        name = matching_preset(c)
        self.preset.blockSignals(True)
        self.preset.setCurrentIndex(self.preset.findData(name))
        self.preset.blockSignals(False)
        self.preset_note.setText(preset_summary(name))
        self.method_note.setText(METHOD_NAMES.get(c.train.method, ("", ""))[1])
        self.sa_enabled.setEnabled(c.train.method == "sra-seg")
        for widget in self._sa_widgets:
            widget.setEnabled(c.uses_alignment)
        style, text = encoder_status(c)
        set_style(self.encoder_status, style)
        self.encoder_status.setText(text)

    def _preset_chosen(self, index: int) -> None:
        name = self.preset.itemData(index)
        if name != CUSTOM:
            self.set_config(apply_preset(name, self._config))

    def _browse_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "DINOv2 weights", str(Path.home()),
                                              "DINOv2 weights (*.pth *.pt *.safetensors);;All files (*)")
        if path:
            self.weights.setText(path)


def _encoder_size(name: str) -> str:
    """"small" / "base" / "large" for a size or a timm DINOv2 name; the name itself for anything else."""
    return next((size for size in ENCODER_SIZES if name == size or f"_{size}_" in name), name)


# --- the Advanced dialog ----------------------------------------------------------------------------------------------
class AdvancedDialog(QDialog):
    """Every config field the form does not show, section by section; OK validates and keeps the dialog open with
    the error when a value is wrong."""

    def __init__(self, config: RunConfig, *, exclude: tuple[str, ...] = FORM_KEYS, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Advanced training settings")
        self.resize(860, 560)
        self._base = config.copy()
        self.result_config = config.copy()
        self.editors: dict[str, QWidget] = {}
        tabs = QTabWidget()
        for section in dataclasses.fields(config):
            values = getattr(config, section.name)
            hints = typing.get_type_hints(type(values))
            help_texts = field_help(type(values))
            page = QWidget()
            grid = QGridLayout(page)
            grid.setColumnStretch(2, 1)
            row = 0
            for f in dataclasses.fields(values):
                key = f"{section.name}.{f.name}"
                if key in exclude:
                    continue
                editor = _editor(getattr(values, f.name), hints[f.name])
                editor.setToolTip(f"{key}: {help_texts.get(f.name, '')}".rstrip(": "))
                hint = QLabel(help_texts.get(f.name, ""), objectName="muted", wordWrap=True)
                grid.addWidget(QLabel(f.name.replace("_", " ")), row, 0)
                grid.addWidget(editor, row, 1)
                grid.addWidget(hint, row, 2)
                self.editors[key] = editor
                row += 1
            if not row:
                continue
            grid.setRowStretch(row, 1)
            scroll = QScrollArea(widgetResizable=True)
            scroll.setWidget(page)
            tabs.addTab(scroll, section.name.capitalize())
        self.error = QLabel(objectName="error", wordWrap=True)
        self.error.setVisible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Every value is a field of the run's config.yaml; hover a value for its key.",
                                objectName="muted"))
        layout.addWidget(tabs, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def collect(self) -> RunConfig:
        """The edited config (raises ConfigError naming the wrong value)."""
        config = self._base.copy()
        for key, editor in self.editors.items():
            value = editor.isChecked() if isinstance(editor, QCheckBox) else editor.text().strip()
            config.set(key, value, source="Advanced settings")
        return config.validate()

    def accept(self) -> None:
        try:
            self.result_config = self.collect()
        except ConfigError as exc:
            self.error.setText(str(exc))
            self.error.setVisible(True)
            return
        super().accept()


def _editor(value, hint) -> QWidget:
    if hint is bool:
        return QCheckBox(checked=bool(value))
    optional = type(None) in typing.get_args(hint)
    editor = QLineEdit(_as_text(value), placeholderText="none" if optional else "")
    editor.setMinimumWidth(160)
    return editor


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return ", ".join(_as_text(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)
