"""The Blend workspace: what soft edge blending feeds the network, for one labelled real slice and one synthetic slice.

Everything shown comes from the functions training calls: the slice preparation of :mod:`sra_seg_core.datasets`
(per-volume min-max, resize to the training size), the teacher's pseudo-label rule (:mod:`sra_seg_core.teacher`) and
:mod:`sra_seg_core.blend` driven by a :class:`~sra_seg_core.config.BlendConfig` built from the controls — so the
preview is what the model gets. Those modules import torch, which the window must not load at start-up: the first
time the workspace is shown, torch is imported in a background thread while a progress page is up.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPixmap, QValidator
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar,
    QPushButton, QScrollArea, QSizePolicy, QSlider, QSpinBox, QStackedWidget, QToolButton, QVBoxLayout, QWidget,
)

from sra_seg_core.config import BlendConfig, preset
from sra_seg_core.errors import SraSegError
from sra_seg_core.project import SliceStatus
from sra_seg_core.project.status import is_labelled, labelled_slices
from sra_seg_app._pyqtgraph import pg
from sra_seg_app.model.worker import Worker
from sra_seg_app.widgets.canvas import label_lut, outline
from sra_seg_app.theme import icon

if TYPE_CHECKING:
    import torch

HOLE_STEPS = 60          # the hole slider moves in 1/60ths of the side, so the reference's 2/3 is exact
SMOOTHING = {"Gaussian": "gaussian", "Box": "box", "None (hard edge)": "none"}
BACKGROUND_RGB = (38, 44, 51)                  # the background class in the soft-label maps
HATCH_RGB = ((92, 101, 112), (46, 52, 60))     # stripes of "no label yet"
ENGINE_MODULES = ("torch", "sra_seg_core.blend", "sra_seg_core.datasets.slices", "sra_seg_core.teacher")
DEFAULT_SEED = 1337


# --- the computation (no widgets) -----------------------------------------------------------------------------------
@dataclass
class PreparedSlice:
    """One slice as training sees it: image (N, N) float32 in [0, 1]; label (N, N) uint8 class map or None."""

    image: np.ndarray
    label: np.ndarray | None


def prepare_slice(normalised: np.ndarray, z: int, size: int, labels: np.ndarray | None = None) -> PreparedSlice:
    """Slice ``z`` of a volume already min-max normalised per volume ((Z, Y, X) float32, see
    :func:`sra_seg_core.datasets.normalise_minmax`), resized to ``size`` x ``size`` as training does: bilinear for
    the image, nearest for the label volume ((Z, Y, X) uint8, optional)."""
    from sra_seg_core.datasets import resize_slices

    image = resize_slices(normalised[z : z + 1], size, "linear")[0]
    label = None if labels is None else resize_slices(np.asarray(labels[z : z + 1], np.uint8), size, "nearest")[0]
    return PreparedSlice(image, label)


def pseudo_label_map(prediction: np.ndarray, num_classes: int) -> np.ndarray:
    """The teacher's pseudo-label rule applied to a predicted class map (N, N) uint8: the largest 8-connected
    component of each foreground class is kept. Returns (N, N) uint8."""
    import torch

    from sra_seg_core.blend import one_hot
    from sra_seg_core.teacher import pseudo_labels

    classes = torch.from_numpy(np.minimum(prediction, num_classes - 1).astype(np.int64))[None]
    return pseudo_labels(one_hot(classes, num_classes)).numpy()[0].astype(np.uint8)


@dataclass
class BlendInputs:
    """A real and a synthetic slice as the batch tensors of one training pair: images (1, 1, N, N) float32, labels
    one-hot (1, K', N, N) float32. K' = num_classes, plus a last "no label yet" class that fills the synthetic side
    when it has no pseudo-label (``unlabelled``)."""

    real: torch.Tensor
    synthetic: torch.Tensor
    label: torch.Tensor
    pseudo: torch.Tensor
    unlabelled: bool


def blend_inputs(real: PreparedSlice, synthetic: PreparedSlice, num_classes: int) -> BlendInputs:
    """The tensors training builds from a prepared pair (``one_hot`` of :mod:`sra_seg_core.blend`)."""
    import torch

    from sra_seg_core.blend import one_hot

    unlabelled = synthetic.label is None
    k = num_classes + unlabelled
    pseudo = np.full(synthetic.image.shape, num_classes) if unlabelled else synthetic.label
    return BlendInputs(real=torch.from_numpy(real.image)[None, None],
                       synthetic=torch.from_numpy(synthetic.image)[None, None],
                       label=one_hot(torch.from_numpy(real.label.astype(np.int64))[None], k),
                       pseudo=one_hot(torch.from_numpy(pseudo.astype(np.int64))[None], k),
                       unlabelled=unlabelled)


@dataclass
class BlendPreview:
    """One pair mixed both ways. Images (N, N) float32; soft labels (K', N, N) float32 summing to 1 per pixel
    (K' as in :class:`BlendInputs`)."""

    alpha: np.ndarray
    mask: np.ndarray                  # m, the box mask before smoothing: 1 outside the box, 0 inside
    x1: np.ndarray                    # S * alpha + R * (1 - alpha): real inside the box
    x2: np.ndarray                    # R * alpha + S * (1 - alpha): synthetic inside the box
    y1: np.ndarray                    # P * alpha + Y * (1 - alpha)
    y2: np.ndarray                    # Y * alpha + P * (1 - alpha)
    box: tuple[int, int, int, int]    # top, left, height, width of the box, in pixels
    unlabelled: bool                  # the synthetic side has no pseudo-label (last channel of y1, y2)


def compute_preview(inputs: BlendInputs, config: BlendConfig, seed: int) -> BlendPreview:
    """Blend the pair exactly as a training step does: ``blend_alpha`` with a generator seeded by ``seed``, then
    ``bidirectional_mix`` of the images and one-hot labels (the same slice serves as halves a and b)."""
    import torch

    from sra_seg_core.blend import bidirectional_mix, blend_alpha

    height, width = inputs.real.shape[-2:]
    alpha, m = blend_alpha(1, height, width, config, generator=torch.Generator().manual_seed(int(seed)))
    r, s, y, p = inputs.real, inputs.synthetic, inputs.label, inputs.pseudo
    pair = bidirectional_mix(r, r, s, s, y, y, p, p, alpha)
    mask = m[0, 0].numpy()
    rows, cols = np.flatnonzero(mask.min(axis=1) == 0), np.flatnonzero(mask.min(axis=0) == 0)
    box = (int(rows[0]), int(cols[0]), len(rows), len(cols)) if len(rows) else (0, 0, 0, 0)
    return BlendPreview(alpha=pair.alpha[0, 0].numpy(), mask=mask, x1=pair.x1[0, 0].numpy(),
                        x2=pair.x2[0, 0].numpy(), y1=pair.y1[0].numpy(), y2=pair.y2[0].numpy(), box=box,
                        unlabelled=inputs.unlabelled)


@lru_cache(maxsize=4)
def hatch(height: int, width: int, period: int = 8) -> np.ndarray:
    """Diagonal grey stripes as colour planes (3, H, W) float32 in 0..255, read-only: the look of "no label yet"."""
    stripe = ((np.arange(height)[:, None] + np.arange(width)[None, :]) // (period // 2)) % 2
    pattern = np.ascontiguousarray(np.moveaxis(np.asarray(HATCH_RGB, np.float32)[stripe], -1, 0))
    pattern.flags.writeable = False
    return pattern


def soft_label_rgb(y: np.ndarray, palette: np.ndarray, unknown: np.ndarray | None = None) -> np.ndarray:
    """Soft labels (K', H, W) -> (H, W, 3) uint8: each pixel is the class colours (``palette`` (K, 3), 0..255,
    background first) mixed by the label weights, so a soft edge looks soft. With ``unknown`` (colour planes
    (3, H, W), see :func:`hatch`), channel K (the last) is drawn with that pattern."""
    k = len(palette)
    planes = []
    for c in range(3):   # plane by plane: a few contiguous multiply-adds, faster here than tensordot or einsum
        plane = y[0] * palette[0, c]
        for i in range(1, k):
            plane += y[i] * palette[i, c]
        if unknown is not None and len(y) > k:
            plane += y[k] * unknown[c]
        planes.append(plane)
    return np.clip(np.rint(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)


# --- widgets ---------------------------------------------------------------------------------------------------------
def _import_engine(_worker) -> float:
    """Import torch and the blend engine; the seconds it took."""
    started = time.perf_counter()
    for name in ENGINE_MODULES:
        __import__(name)
    return time.perf_counter() - started


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


class BlendWorkspace(QWidget):
    """Pick a labelled real slice and a synthetic slice, tune the soft mask, and see both mixes and their targets."""

    previewUpdated = Signal()

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.preview: BlendPreview | None = None
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

        real = QGroupBox("Labelled real slice  (R, Y)")
        form = QFormLayout(real)
        self.real_case = QComboBox(toolTip="Real cases with an approved label")
        self.real_slice = QSpinBox(minimum=1, maximum=1, toolTip="Slice (training uses the slices marked done)")
        self.real_note = QLabel(objectName="muted")
        self.real_note.setWordWrap(True)
        form.addRow("Case", self.real_case)
        form.addRow("Slice", self.real_slice)
        form.addRow(self.real_note)

        syn = QGroupBox("Synthetic slice  (S, P)")
        form = QFormLayout(syn)
        self.syn_case = QComboBox(toolTip="Synthetic cases: the unlabelled stream of stage 2")
        self.syn_slice = QSpinBox(minimum=1, maximum=1)
        self.syn_note = QLabel(objectName="muted")
        self.syn_note.setWordWrap(True)
        form.addRow("Case", self.syn_case)
        form.addRow("Slice", self.syn_slice)
        form.addRow(self.syn_note)

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
        self._loader = Worker(_import_engine)
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
        project = self.session.project
        if project is None:
            self._message("No project open", "Open a project to preview how its real and synthetic slices are "
                          "blended for training.")
        elif not self.syn_case.count():
            self._message("No synthetic images yet",
                          "The blend preview mixes a labelled real slice with a synthetic one. This project has no "
                          "synthetic cases: import a folder of synthetic images (role “synthetic”), then come back.")
        elif not self.real_case.count():
            self._message("No labelled real slices yet",
                          "The blend preview needs a real case with an approved label. Label some slices in the "
                          "Label workspace and mark them done (D), then come back.")
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
        project = self.session.project
        cases = project.cases if project else []
        real = [c for c in cases if is_labelled(project, c)]
        synthetic = [c for c in cases if c.role == "synthetic"]
        for combo, chosen in ((self.real_case, real), (self.syn_case, synthetic)):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for case in chosen:
                combo.addItem(case.id, case.id)
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
        case = project.case(case_id)
        depth = case.shape[0]
        done = labelled_slices(project, case)
        default = done[len(done) // 2] if side == "real" and done else depth // 2
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
        smoothing = SMOOTHING[self.smoothing.currentText()]
        return BlendConfig(hole_fraction=self.hole.value() / HOLE_STEPS, smoothing=smoothing,
                           kernel_size=self.kernel.value(), sigma=self.sigma.value(), hard=smoothing == "none")

    def apply_preset(self, name: str) -> None:
        """Set the mask controls from a config preset's blend section (``acdc`` or ``fives``)."""
        blend = preset(name).blend
        self.hole.setValue(round(blend.hole_fraction * HOLE_STEPS))
        self.smoothing.setCurrentIndex(list(SMOOTHING.values()).index("none" if blend.hard else blend.smoothing))
        self.kernel.setValue(blend.kernel_size)
        self.sigma.setValue(blend.sigma)

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
        fraction = Fraction(self.hole.value(), HOLE_STEPS)
        side = int(self.size.value() * config.hole_fraction)
        simple = fraction.denominator <= 4   # 1/2, 2/3, 3/4 read better than 0.50, 0.67, 0.75
        shown = f"{fraction.numerator}/{fraction.denominator}" if simple else f"{float(fraction):.2f}"
        self.hole_note.setText(f"{shown} of the side: box {side} × {side} px")
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
            z = self.real_slice.value() - 1
            status = project.case(real_id).slice_status[z]
            self.real_note.setText("Marked done: training uses this slice." if status == SliceStatus.DONE.value
                                   else "Not marked done: training skips this slice until it is.")
        if syn_id is not None:
            has_pred = project.case(syn_id).prediction is not None   # the manifest: no file read here
            self.syn_note.setText(
                "P = this case's prediction, largest component per class kept (the teacher's rule)."
                if has_pred else "No prediction for this case yet: P's share of y₁ and y₂ is hatched. In training "
                "the teacher's pseudo-labels fill it; predict the synthetic cases in Review to see them here.")

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
