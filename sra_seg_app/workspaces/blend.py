"""The Blend workspace: what soft edge blending feeds the network, for one labelled real slice and one synthetic slice.

Everything shown comes from the functions training calls (gathered, with the workspace's rules, in
:mod:`sra_seg_app.model.blend`): the slice preparation of :mod:`sra_seg_core.datasets`
(per-volume min-max, resize to the training size), the teacher's pseudo-label rule (:mod:`sra_seg_core.teacher`) and
:mod:`sra_seg_core.blend` driven by a :class:`~sra_seg_core.config.BlendConfig` built from the controls — so the
preview is what the model gets. Those modules import torch, which the window must not load at start-up: the first
time the workspace is shown, torch is imported in a background thread while a progress page is up.
"""

from __future__ import annotations

import random
import sys
import time

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPixmap, QValidator
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar,
    QPushButton, QScrollArea, QSizePolicy, QSlider, QSpinBox, QStackedWidget, QToolButton, QVBoxLayout, QWidget,
)

from sra_seg_core.config import BlendConfig, preset
from sra_seg_core.errors import SraSegError
from sra_seg_core.project.status import is_labelled
from sra_seg_app.model import blend as model
from sra_seg_app.model.blend import (
    BACKGROUND_RGB, DEFAULT_SEED, ENGINE_MODULES, HATCH_RGB, HOLE_STEPS, SMOOTHING, BlendPreview, blend_inputs,
    compute_preview, hatch, prepare_slice, pseudo_label_map, soft_label_rgb,
)
from sra_seg_app._pyqtgraph import pg
from sra_seg_app.model.worker import Worker
from sra_seg_app.widgets.canvas import label_lut, outline
from sra_seg_app.theme import icon

# --- widgets ---------------------------------------------------------------------------------------------------------
class OddSpinBox(QSpinBox):
    """A spin box for kernel sizes: odd values only (an even value typed in becomes the next odd one)."""

    def __init__(self, minimum: int, maximum: int, value: int, parent=None):
        super().__init__(parent, minimum=minimum, maximum=maximum, singleStep=2, value=value)

    def _odd(self, value: int) -> int:
        return value if value % 2 else min(value + 1, self.maximum())

    def validate(self, text, pos):
        state, text, pos = super().validate(text, pos)
        if state == QValidator.State.Acceptable and self.valueFromText(text) % 2 == 0:
            state = QValidator.State.Intermediate   # fixup() makes it odd when editing ends
        return state, text, pos

    def fixup(self, text):
        value = self.valueFromText(text) if super().validate(text, 0)[0] == QValidator.State.Acceptable else None
        return text if value is None else self.textFromValue(self._odd(value))

    def setValue(self, value: int) -> None:
        super().setValue(self._odd(int(value)))


class _ImagePanel(QWidget):
    """A titled pyqtgraph view of one (N, N) image with an optional colour overlay; pixels are square."""

    def __init__(self, title: str, tip: str, parent=None):
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setMinimumWidth(1)   # a long case name is cut in a narrow window rather than widen the grid
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setToolTip(tip)
        self.view = pg.GraphicsView()
        self.view.setMinimumSize(100, 100)
        self.view.setToolTip(tip + "\n\nWheel: zoom · drag: pan (all panels move together)")
        self.box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setCentralItem(self.box)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(1)
        self.box.addItem(self.image)
        self.box.addItem(self.overlay)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)

    def show_grey(self, image: np.ndarray) -> None:
        self.image.setImage(image, levels=(0.0, 1.0), autoLevels=False)

    def show_rgb(self, rgb: np.ndarray) -> None:
        self.image.setImage(rgb, levels=None, autoLevels=False)

    def show_overlay(self, labels: np.ndarray | None, lut: np.ndarray | None) -> None:
        if labels is None:
            self.overlay.clear()
        else:
            self.overlay.setImage(outline(labels), lut=lut, levels=None, autoLevels=False)


def _hatch_swatch(size: int = 14) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(QColor(*HATCH_RGB[1]))
    painter = QPainter(pix)
    painter.fillRect(0, 0, size, size, QBrush(QColor(*HATCH_RGB[0]), Qt.BrushStyle.BDiagPattern))
    painter.end()
    return pix


def _swatch(color: QColor, size: int = 14) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(color)
    return pix


def _slice_picker(title: str, case_tip: str, slice_tip: str) -> tuple[QGroupBox, QComboBox, QSpinBox, QLabel]:
    """A box choosing one side's case and slice, with a note under them."""
    box = QGroupBox(title)
    form = QFormLayout(box)
    case = QComboBox(toolTip=case_tip)
    z = QSpinBox(minimum=1, maximum=1, toolTip=slice_tip)
    note = QLabel(objectName="muted")
    note.setWordWrap(True)
    form.addRow("Case", case)
    form.addRow("Slice", z)
    form.addRow(note)
    return box, case, z, note


class BlendWorkspace(QWidget):
    """Pick a labelled real slice and a synthetic slice, tune the soft mask, and see both mixes and their targets."""

    previewUpdated = Signal()

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.preview: BlendPreview | None = None
        self._corner_inclusive: bool | None = None   # the box-corner range of the preset last applied
        self.ready = False                           # torch and the engine are imported (see activated)
        self._wanted = False                         # activated at least once: the engine may be loaded
        self.import_seconds: float | None = None     # the first activation: importing torch and the engine
        self.first_view_seconds: float | None = None  # the first activation: from the switch to the first preview
        self._activated_at = 0.0
        self.update_ms: float | None = None          # the last recompute: controls to images handed to the views
        self._loader: Worker | None = None
        self._volumes: dict[str, np.ndarray] = {}    # case -> min-max normalised volume, the two shown cases only
        self._prepared: dict[str, PreparedSlice] = {}   # "real" / "synthetic" -> the prepared slice
        self._inputs: BlendInputs | None = None
        self._stale_inputs = True
        self._fitted_size: tuple[int, int] | None = None
        self._auto_fit = True
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self.update_preview)

        self.pages = QStackedWidget()
        self.message_page, self.message_title, self.message_text = self._build_message_page()
        self.loading_page = self._build_loading_page()
        self.main_page = self._build_main_page()
        for page in (self.message_page, self.loading_page, self.main_page):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)

        session.projectChanged.connect(self._project_changed)
        session.casesChanged.connect(self._rebuild_pickers)
        session.labelsChanged.connect(self._labels_changed)
        session.statusChanged.connect(self._status_changed)
        session.predictionChanged.connect(self._prediction_changed)
        self._fill_legend()
        self._rebuild_pickers()

    # --- construction ---------------------------------------------------------------------------------------------
    def _build_message_page(self) -> tuple[QWidget, QLabel, QLabel]:
        page = QWidget()
        column = QVBoxLayout(page)
        column.addStretch(1)
        glyph = QLabel()
        glyph.setPixmap(icon("fa5s.adjust", "#8b96a3").pixmap(48, 48))
        glyph.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        title = QLabel(objectName="title")
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        text = QLabel(objectName="subtitle")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        text.setMinimumWidth(420)
        text.setMaximumWidth(620)
        centred = QHBoxLayout()   # stretches, not an alignment flag: a wrapped label then gets its full height
        centred.addStretch(1)
        centred.addWidget(text, 4)
        centred.addStretch(1)
        column.addWidget(glyph)
        column.addWidget(title)
        column.addSpacing(8)
        column.addLayout(centred)
        column.addStretch(2)
        return page, title, text

    def _build_loading_page(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.addStretch(1)
        self.loading_label = QLabel("Loading PyTorch for the blend preview (once per session)…", objectName="subtitle")
        self.loading_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.loading_label.setWordWrap(True)
        self.loading_bar = QProgressBar(minimum=0, maximum=0)
        self.loading_bar.setFixedWidth(320)
        column.addWidget(self.loading_label)
        column.addWidget(self.loading_bar, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(2)
        return page

    def _build_main_page(self) -> QWidget:
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(8)
        head = QHBoxLayout()
        self.explanation = QLabel(
            "<b>α</b> is the weight training blends with: 1 outside a box (its side a fraction of the slice's), 0 "
            "inside, smoothed so the seam is soft. Each mix keeps one slice inside the box and the other around it, "
            "and the labels are blended with the same α. &nbsp;<b>R</b> real slice, <b>Y</b> its label · "
            "<b>S</b> synthetic slice, <b>P</b> its pseudo-label.")
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        fit = QToolButton(toolTip="Show the whole slice in every panel")
        fit.setIcon(icon("fa5s.expand"))
        fit.clicked.connect(self.fit)
        head.addWidget(self.explanation, 1)
        head.addWidget(fit, 0, Qt.AlignmentFlag.AlignTop)
        outer.addLayout(head)
        row = QHBoxLayout()
        row.setSpacing(10)
        outer.addLayout(row, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        controls = self._build_controls()
        scroll.setWidget(controls)
        scroll.setFixedWidth(controls.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        row.addWidget(scroll)
        row.addLayout(self._build_display(), 1)
        return page

    def _build_controls(self) -> QWidget:
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 8, 0)

        real, self.real_case, self.real_slice, self.real_note = _slice_picker(
            "Labelled real slice  (R, Y)", "Real cases with an approved label",
            "Slice (training uses the slices marked done)")
        syn, self.syn_case, self.syn_slice, self.syn_note = _slice_picker(
            "Synthetic slice  (S, P)", "Synthetic cases: the unlabelled stream of stage 2", "")

        mask = QGroupBox("Soft mask  α")
        form = QFormLayout(mask)
        presets = QHBoxLayout()
        self.preset_buttons = {}
        for name, tip in (("acdc", "ACDC: 5 × 5 Gaussian, σ = 1, hole 2/3"), ("fives", "FIVES: 7 × 7 box, hole 2/3")):
            button = QPushButton(name.upper(), toolTip=tip)
            button.clicked.connect(lambda _=False, n=name: self.apply_preset(n))
            presets.addWidget(button)
            self.preset_buttons[name] = button
        form.addRow("Preset", presets)
        self.hole = QSlider(Qt.Orientation.Horizontal, minimum=3, maximum=HOLE_STEPS - 3,
                            value=HOLE_STEPS * 2 // 3, toolTip="Side of the box, as a fraction of the slice side")
        self.hole.setPageStep(3)
        self.hole_note = QLabel(objectName="muted")
        form.addRow("Hole size", self.hole)
        form.addRow("", self.hole_note)
        self.smoothing = QComboBox(toolTip="How the box edge is softened (zero padding, as in training)")
        self.smoothing.addItems(list(SMOOTHING))
        self.kernel = OddSpinBox(1, 15, 5)
        self.kernel.setSuffix(" px")
        self.kernel.setToolTip("Kernel side in pixels (odd)")
        self.sigma = QDoubleSpinBox(minimum=0.1, maximum=8.0, singleStep=0.1, value=1.0, decimals=1, suffix=" px",
                                    toolTip="Gaussian σ in pixels")
        form.addRow("Smoothing", self.smoothing)
        form.addRow("Kernel", self.kernel)
        form.addRow("σ", self.sigma)

        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=DEFAULT_SEED,
                             toolTip="Random seed of the box position: the same seed gives the same view")
        self.reseed = QPushButton(icon("fa5s.dice"), " Reseed", toolTip="Draw a new box position (Ctrl+R)")
        self.reseed.setShortcut("Ctrl+R")
        self.reseed.clicked.connect(self.draw_new_box)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.reseed)
        form.addRow("Box seed", seed_row)

        prep = QGroupBox("Preparation")
        form = QFormLayout(prep)
        self.size = QSpinBox(minimum=32, maximum=1024, singleStep=16, value=256, suffix=" px",
                             toolTip="Training size (data.image_size): slices are resized to it, as in training")
        form.addRow("Training size", self.size)
        note = QLabel("As in training: per-volume min-max to [0, 1], then resized (bilinear for images, nearest "
                      "for labels) to square slices.", objectName="muted")
        note.setWordWrap(True)
        form.addRow(note)

        for group in (real, syn, mask, prep):
            column.addWidget(group)
        column.addStretch(1)

        self.real_case.currentIndexChanged.connect(lambda _i: self._case_picked("real"))
        self.syn_case.currentIndexChanged.connect(lambda _i: self._case_picked("synthetic"))
        self.real_slice.valueChanged.connect(lambda _v: self._inputs_changed())
        self.syn_slice.valueChanged.connect(lambda _v: self._inputs_changed())
        self.size.valueChanged.connect(lambda _v: self._inputs_changed())
        for signal in (self.hole.valueChanged, self.smoothing.currentIndexChanged, self.kernel.valueChanged,
                       self.sigma.valueChanged, self.seed.valueChanged):
            signal.connect(lambda *_: self._controls_changed())
        self._controls_changed(schedule=False)
        return holder

    def _build_display(self) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(6)
        self.error = QLabel(objectName="error")
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        column.addWidget(self.error)

        self.panels = {
            "real": _ImagePanel("<b>R</b> real", "The labelled real slice as training sees it, its label Y outlined"),
            "synthetic": _ImagePanel("<b>S</b> synthetic", "The synthetic slice, its pseudo-label P outlined"),
            "alpha": _ImagePanel("<b>α</b> soft mask", "α: 1 (white) outside the box, 0 (black) inside, soft edge"),
            "x1": _ImagePanel("<b>x₁</b> = S·α + R·(1−α)", "Mix 1: the real slice inside the box, synthetic around"),
            "x2": _ImagePanel("<b>x₂</b> = R·α + S·(1−α)", "Mix 2: the synthetic slice inside the box, real around"),
            "y1": _ImagePanel("<b>y₁</b> = P·α + Y·(1−α)", "Target of x₁: class colours mixed by the soft weights"),
            "y2": _ImagePanel("<b>y₂</b> = Y·α + P·(1−α)", "Target of x₂: class colours mixed by the soft weights"),
        }
        first = self.panels["real"].box
        for panel in self.panels.values():
            panel.box.disableAutoRange()   # fitted by fit() and on resize, until the user zooms or pans
            panel.box.sigRangeChangedManually.connect(self._zoomed)
            if panel.box is not first:
                panel.box.setXLink(first)
                panel.box.setYLink(first)
        first.sigResized.connect(self._resized)
        self.profile = self._build_profile()
        self.legend = self._build_legend()
        grid = QGridLayout()
        grid.setSpacing(10)
        for (r, c), widget in {(0, 0): self.panels["real"], (0, 1): self.panels["synthetic"],
                               (0, 2): self.panels["alpha"], (1, 0): self.panels["x1"], (1, 1): self.panels["x2"],
                               (1, 2): self.profile, (2, 0): self.panels["y1"], (2, 1): self.panels["y2"],
                               (2, 2): self.legend}.items():
            grid.addWidget(widget, r, c)
        for k in range(3):
            grid.setRowStretch(k, 1)
            grid.setColumnStretch(k, 1)
        column.addLayout(grid, 1)
        self.stats = QLabel(objectName="muted")
        self.stats.setWordWrap(True)
        column.addWidget(self.stats)
        return column

    def _build_profile(self) -> QWidget:
        holder = QWidget()
        layout = QVBoxLayout(holder)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.profile_title = QLabel("<b>α</b> along the row through the box centre")
        self.profile_title.setTextFormat(Qt.TextFormat.RichText)
        self.profile_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        plot = pg.PlotWidget()
        plot.setMinimumSize(100, 100)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.setYRange(-0.05, 1.05, padding=0)
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setLabel("bottom", "column (px)")
        self.profile_mask = plot.plot(pen=pg.mkPen("#8b96a3", width=1, style=Qt.PenStyle.DashLine), name="m")
        self.profile_alpha = plot.plot(pen=pg.mkPen("#2b8a90", width=2), name="α")
        self.profile_plot = plot
        layout.addWidget(self.profile_title)
        layout.addWidget(plot, 1)
        holder.setToolTip("Dashed: the hard box mask m. Teal: α = m smoothed. Where α is between 0 and 1, images "
                          "and labels are mixed.")
        return holder

    def _build_legend(self) -> QWidget:
        holder = QWidget()
        self.legend_layout = QVBoxLayout(holder)
        self.legend_layout.setContentsMargins(4, 22, 4, 4)
        self.legend_body: QWidget | None = None
        return holder

    def _fill_legend(self) -> None:
        """The colour key of the label maps, for the open project's classes."""
        if self.legend_body is not None:
            self.legend_body.setParent(None)   # off the layout now; deleted with its last reference
        body = QWidget()
        grid = QGridLayout(body)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.addWidget(QLabel("<b>Label colours</b>", textFormat=Qt.TextFormat.RichText), 0, 0, 1, 2)
        entries = [(_swatch(QColor(*BACKGROUND_RGB)), "background")]
        project = self.session.project
        entries += [(_swatch(QColor(c.color)), f"{c.value}  {c.name}") for c in (project.classes if project else [])]
        entries.append((_hatch_swatch(), "no label yet (synthetic side without a prediction)"))
        for row, (pixmap, text) in enumerate(entries, start=1):
            swatch = QLabel()
            swatch.setPixmap(pixmap)
            label = QLabel(text)
            label.setWordWrap(True)
            grid.addWidget(swatch, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(label, row, 1)
        note = QLabel("Where α is between 0 and 1 the colours mix, so soft edges look soft: zoom in (wheel) on "
                      "the box border to see them.", objectName="muted")
        note.setWordWrap(True)
        grid.addWidget(note, len(entries) + 1, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(len(entries) + 2, 1)
        self.legend_layout.addWidget(body)
        self.legend_body = body

    # --- activation and engine loading ----------------------------------------------------------------------------
    def activated(self) -> None:
        """Called when the user switches to this workspace: load the engine once, then show the preview."""
        if not self._wanted:
            self._wanted = True
            self._activated_at = time.perf_counter()
        self._show_state()

    def _load_engine(self) -> None:
        """Import torch and the engine (once; in a thread unless another part of the app already did)."""
        if self.ready or self._loader is not None:
            return
        if all(name in sys.modules for name in ENGINE_MODULES):
            self._engine_loaded(0.0, "")
            return
        # no parent: launch keeps it until it ends, even if the window closes first
        self._loader = Worker(model.import_engine)
        self._loader.done.connect(lambda seconds: self._engine_loaded(seconds, ""))
        # a broken torch install must become a message, not a dead thread
        self._loader.failed.connect(lambda exc: self._engine_loaded(0.0, f"{type(exc).__name__}: {exc}"))
        self.setCursor(Qt.CursorShape.BusyCursor)
        self._loader.launch()

    def _engine_loaded(self, seconds: float, error: str) -> None:
        self.unsetCursor()
        self._loader = None
        if error:
            self.loading_bar.setVisible(False)
            self.loading_label.setText(f"The blend preview needs PyTorch, which could not be loaded ({error}). "
                                       "Check the installation (python -m sra_seg_core devices) and restart.")
            return
        import torch

        # a 256 x 256 preview gains nothing from intra-op threads, and on a busy machine their hand-offs cost tens
        # of ms per operation; heavy torch work never runs in the GUI process (training and prediction are children)
        torch.set_num_threads(1)
        self.ready = True
        self.import_seconds = seconds
        self._stale_inputs = True
        self._show_state()
        self.update_preview()
        if self.preview is not None:
            self.first_view_seconds = time.perf_counter() - self._activated_at

    def _can_preview(self) -> bool:
        return self.real_case.count() > 0 and self.syn_case.count() > 0

    def _show_state(self) -> None:
        """Pick the page: a message when something is missing, loading while torch imports, else the preview."""
        missing = model.missing_message(self.session.project, self.real_case.count(), self.syn_case.count())
        if missing is not None:
            self._message(*missing)
        elif not self.ready:
            self.pages.setCurrentWidget(self.loading_page)
            if self._wanted:   # never before the first activation: torch stays out of the app's start-up
                self._load_engine()
        else:
            self.pages.setCurrentWidget(self.main_page)
            self._schedule()

    def _message(self, title: str, text: str) -> None:
        self.message_title.setText(title)
        self.message_text.setText(text)
        self.pages.setCurrentWidget(self.message_page)

    # --- pickers --------------------------------------------------------------------------------------------------
    def _project_changed(self) -> None:
        self._volumes.clear()
        self.preview = None
        for combo in (self.real_case, self.syn_case):   # emptied, so the same case ids in a new project re-pick
            combo.blockSignals(True)
            combo.clear()
            combo.blockSignals(False)
        self._fill_legend()
        self._rebuild_pickers()

    def _rebuild_pickers(self) -> None:
        real, synthetic = model.offered_cases(self.session.project)
        for combo, chosen in ((self.real_case, real), (self.syn_case, synthetic)):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for case_id in chosen:
                combo.addItem(case_id, case_id)
            index = combo.findData(current)
            combo.setCurrentIndex(max(index, 0) if combo.count() else -1)
            combo.blockSignals(False)
            if combo.currentData() != current:
                self._case_picked("real" if combo is self.real_case else "synthetic")
        self._show_state()

    def _case_picked(self, side: str) -> None:
        """A new case on one side: its slice range, and a default slice (a done one on the real side)."""
        project = self.session.project
        combo, spin = (self.real_case, self.real_slice) if side == "real" else (self.syn_case, self.syn_slice)
        case_id = combo.currentData()
        for key in [k for k in self._volumes if k not in (self.real_case.currentData(), self.syn_case.currentData())]:
            del self._volumes[key]
        if project is None or case_id is None:
            return
        depth = project.case(case_id).shape[0]
        default = model.default_slice(project, case_id, side)
        spin.blockSignals(True)
        spin.setRange(1, depth)
        spin.setValue(default + 1)
        spin.setSuffix(f" / {depth}")
        spin.blockSignals(False)
        self._inputs_changed()

    def _labels_changed(self, case_id: str, _z: int) -> None:
        if case_id == self.real_case.currentData():
            self._inputs_changed()

    def _status_changed(self, case_id: str) -> None:
        project = self.session.project
        if project is None or project.case(case_id).role != "real":
            return
        if (self.real_case.findData(case_id) >= 0) != is_labelled(project, project.case(case_id)):
            self._rebuild_pickers()
        elif case_id == self.real_case.currentData():
            self._update_notes()

    def _prediction_changed(self, case_id: str) -> None:
        if case_id == self.syn_case.currentData():
            self._inputs_changed()

    # --- controls -------------------------------------------------------------------------------------------------
    def blend_config(self) -> BlendConfig:
        """The :class:`BlendConfig` the controls describe (one shared box: a single pair is shown)."""
        return model.blend_config(self.hole.value(), SMOOTHING[self.smoothing.currentText()], self.kernel.value(),
                                  self.sigma.value(), self._corner_inclusive)

    def apply_preset(self, name: str) -> None:
        """Set the mask controls from a config preset's blend section (``acdc`` or ``fives``)."""
        hole, smoothing, kernel, sigma = model.preset_controls(name)
        self._corner_inclusive = preset(name).blend.corner_inclusive
        self.hole.setValue(hole)
        self.smoothing.setCurrentIndex(list(SMOOTHING.values()).index(smoothing))
        self.kernel.setValue(kernel)
        self.sigma.setValue(sigma)

    def draw_new_box(self) -> None:
        """Reseed: a new random seed whose box lands somewhere else (when the hole leaves room to move)."""
        if not self.ready or self.preview is None:
            self.seed.setValue(random.randrange(2**31))
            return
        import torch

        from sra_seg_core.blend import box_mask

        size, config = self.size.value(), self.blend_config()
        for _ in range(32):
            seed = random.randrange(2**31)
            m = box_mask(1, size, size, hole_fraction=config.hole_fraction,
                         generator=torch.Generator().manual_seed(seed))[0, 0].numpy()
            if not np.array_equal(m, self.preview.mask):
                break
        self.seed.setValue(seed)

    def _controls_changed(self, schedule: bool = True) -> None:
        config = self.blend_config()
        self.hole_note.setText(model.hole_text(self.hole.value(), self.size.value()))
        self.kernel.setEnabled(config.smoothing != "none")
        self.sigma.setEnabled(config.smoothing == "gaussian")
        if schedule:
            self._schedule()

    def _inputs_changed(self) -> None:
        self._stale_inputs = True
        self._update_notes()
        self._controls_changed()

    def _update_notes(self) -> None:
        project = self.session.project
        real_id, syn_id = self.real_case.currentData(), self.syn_case.currentData()
        if project is None:
            return
        if real_id is not None:
            self.real_note.setText(model.real_note(project, real_id, self.real_slice.value() - 1))
        if syn_id is not None:
            self.syn_note.setText(model.synthetic_note(project, syn_id))

    # --- computing and drawing ------------------------------------------------------------------------------------
    def _schedule(self) -> None:
        """Recompute once control changes settle (all changes of one event-loop turn are drawn together)."""
        self._timer.start()

    def update_preview(self) -> None:
        """Recompute the preview from the pickers and controls and draw it (only while shown and loaded)."""
        self._timer.stop()
        if not self.ready or not self._can_preview() or self.session.project is None:
            return
        if not self.isVisible():
            return  # drawn when shown again (showEvent)
        started = time.perf_counter()
        try:
            if self._stale_inputs:
                self._prepare_inputs()
            preview = compute_preview(self._inputs, self.blend_config(), self.seed.value())
        except SraSegError as exc:
            self.error.setText(f"{exc}")
            self.error.setVisible(True)
            return
        self.error.setVisible(False)
        self.preview = preview
        self._draw(preview)
        self.update_ms = (time.perf_counter() - started) * 1000
        self._update_stats(preview)
        self.previewUpdated.emit()

    def _volume(self, case_id: str) -> np.ndarray:
        if case_id not in self._volumes:
            from sra_seg_core.datasets import normalise_minmax

            self._volumes[case_id] = normalise_minmax(self.session.project.read_image(case_id).array)
        return self._volumes[case_id]

    def _prepare_inputs(self) -> None:
        session, size = self.session, self.size.value()
        real_id, syn_id = self.real_case.currentData(), self.syn_case.currentData()
        real = prepare_slice(self._volume(real_id), self.real_slice.value() - 1, size, session.labels(real_id))
        prediction = session.prediction(syn_id)
        synthetic = prepare_slice(self._volume(syn_id), self.syn_slice.value() - 1, size, prediction)
        if synthetic.label is not None:
            synthetic.label = pseudo_label_map(synthetic.label, session.project.num_classes)
        self._prepared = {"real": real, "synthetic": synthetic}
        self._inputs = blend_inputs(real, synthetic, session.project.num_classes)
        self._stale_inputs = False

    def _palette(self) -> tuple[np.ndarray, dict[int, str]]:
        classes = self.session.project.classes
        colors = [BACKGROUND_RGB] + [QColor(c.color).getRgb()[:3] for c in classes]
        return np.asarray(colors, np.float32), {c.value: c.color for c in classes}

    def _draw(self, preview: BlendPreview) -> None:
        real, synthetic, p = self._prepared["real"], self._prepared["synthetic"], self.panels
        palette, colors = self._palette()
        lut = label_lut(colors, 0.9)
        unknown = hatch(*preview.alpha.shape) if preview.unlabelled else None
        p["real"].show_grey(real.image)
        p["real"].show_overlay(real.label, lut)
        p["synthetic"].show_grey(synthetic.image)
        p["synthetic"].show_overlay(synthetic.label, lut)
        p["alpha"].show_grey(preview.alpha)
        p["x1"].show_grey(preview.x1)
        p["x2"].show_grey(preview.x2)
        p["y1"].show_rgb(soft_label_rgb(preview.y1, palette, unknown))
        p["y2"].show_rgb(soft_label_rgb(preview.y2, palette, unknown))
        z_real, z_syn = self.real_slice.value(), self.syn_slice.value()
        p["real"].title.setText(f"<b>R</b> real, slice {z_real}")
        p["synthetic"].title.setText(f"<b>S</b> synthetic, slice {z_syn}")
        top, left, h, w = preview.box
        row = min(top + h // 2, preview.alpha.shape[0] - 1)
        columns = np.arange(preview.alpha.shape[1])
        self.profile_alpha.setData(columns, preview.alpha[row])
        self.profile_mask.setData(columns, preview.mask[row])
        self.profile_title.setText(f"<b>α</b> along row {row + 1} (dashed: m)")
        size = preview.alpha.shape
        if self._fitted_size != size:
            self._fitted_size = size
            self.fit()

    def fit(self) -> None:
        """Show the whole slice in every panel, and keep it fitted as the window resizes until the next zoom."""
        self._auto_fit = True
        self._fit_range()

    def _fit_range(self) -> None:
        if self.preview is not None:
            h, w = self.preview.alpha.shape
            self.panels["real"].box.setRange(QRectF(0, 0, w, h), padding=0.02)

    def _zoomed(self, *_args) -> None:
        self._auto_fit = False

    def _resized(self, *_args) -> None:
        if self._auto_fit:
            self._fit_range()

    def _update_stats(self, preview: BlendPreview) -> None:
        top, left, h, w = preview.box
        soft = float(((preview.alpha > 1e-6) & (preview.alpha < 1 - 1e-6)).mean() * 100)
        size = preview.alpha.shape
        self.stats.setText(f"{size[1]} × {size[0]} px · box {h} × {w} px at row {top + 1}, column {left + 1} · "
                           f"soft pixels (0 < α < 1): {soft:.1f} % · α in [{preview.alpha.min():.2f}, "
                           f"{preview.alpha.max():.2f}] · updated in {self.update_ms:.0f} ms")

    def sizeHint(self) -> QSize:
        # the wrapped text and the graphics views ask for far more than needed: leave the docks their width
        return QSize(900, 640)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.ready and self.pages.currentWidget() is self.main_page:
            self._schedule()
