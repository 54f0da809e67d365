"""Live training curves: the loss terms and the validation Dice, over the global iteration (stage 2 follows stage 1)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from sra_seg_app._pyqtgraph import pg
from sra_seg_app.theme import MUTED
from sra_seg_app.model.train import RunProgress, Series

LOSS_COLORS = {"total": "#e8edf2", "sup": "#4fb3bf", "unsup": "#d9a441", "sa": "#b38bd9"}
LOSS_NAMES = {"total": "total", "sup": "supervised", "unsup": "unsupervised", "sa": "similarity alignment"}
MEAN_DICE_COLOR = "#e8edf2"
FALLBACK_COLORS = ("#7fc97f", "#fdc086", "#beaed4", "#f0027f", "#bf5b17")


def _plot(y_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="#101317")
    plot.setLabel("bottom", "iteration")
    plot.setLabel("left", y_label)
    for axis in ("bottom", "left"):  # iterations and losses read as plain numbers, never "(x0.001)"
        plot.getAxis(axis).enableAutoSIPrefix(False)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setMenuEnabled(False)
    return plot


def legend_title(title: str, entries: list[tuple[str, str]]) -> str:
    """A plot title that is also its legend (a legend inside the plot would hide the newest points)."""
    keys = "&nbsp;&nbsp;".join(f"<span style='color:{color}'>━ {name}</span>" for name, color in entries)
    return f"<span style='color:{MUTED}'>{title}</span>&nbsp;&nbsp;&nbsp;{keys}"


class TrainingCurves(QWidget):
    """Two plots fed from a :class:`RunProgress`; curves appear as their terms first show up in the events."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss_plot = _plot("loss")
        self.dice_plot = _plot("Dice")
        self.dice_plot.setYRange(0, 1, padding=0.02)
        self.dice_plot.setXLink(self.loss_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.loss_plot, 3)
        layout.addWidget(self.dice_plot, 2)
        self.class_colors: dict[str, str] = {}
        self.loss_curves: dict[str, pg.PlotDataItem] = {}
        self.dice_curves: dict[str, pg.PlotDataItem] = {}
        boundary_pen = pg.mkPen("#3d4753", width=1, style=Qt.PenStyle.DashLine)
        self._stage_lines = [pg.InfiniteLine(angle=90, pen=boundary_pen, label="stage 2",
                                             labelOpts={"position": 0.08, "color": MUTED})
                             for _ in (self.loss_plot, self.dice_plot)]
        for plot, line in zip((self.loss_plot, self.dice_plot), self._stage_lines):
            plot.addItem(line)
        self.clear()

    def set_class_colors(self, colors: dict[str, str]) -> None:
        """Colours of the per-class Dice curves, by class name (the project's label colours)."""
        self.class_colors = dict(colors)

    def clear(self) -> None:
        for plot, title, curves in ((self.loss_plot, "Loss", self.loss_curves),
                                    (self.dice_plot, "Validation Dice", self.dice_curves)):
            for curve in curves.values():
                plot.removeItem(curve)
            curves.clear()
            plot.setTitle(legend_title(title, []), size="10pt")
            plot.enableAutoRange(axis="x")
        self.loss_plot.enableAutoRange(axis="y")
        for line in self._stage_lines:
            line.setVisible(False)

    def show_progress(self, progress: RunProgress) -> None:
        self._update(self.loss_plot, "Loss", self.loss_curves, progress.losses, self._loss_pen, LOSS_NAMES)
        self._update(self.dice_plot, "Validation Dice", self.dice_curves, progress.dice, self._dice_pen,
                     {"mean": "mean"})
        boundary = progress.totals.get("pretrain") if "selftrain" in progress.totals else None
        if not progress.losses.x or progress.losses.x[-1] <= (boundary or 0):
            boundary = None   # marked once stage 2 has points
        for line in self._stage_lines:
            line.setVisible(bool(boundary))
            if boundary:
                line.setValue(boundary)

    def point_count(self) -> int:
        """Loss points plotted (tests and the time-to-first-point measurement read it)."""
        curve = self.loss_curves.get("total")
        return 0 if curve is None or curve.xData is None else len(curve.xData)

    # --- plumbing -----------------------------------------------------------------------------------------------------
    def _update(self, plot, title: str, curves: dict, series: Series, pen, names: dict[str, str]) -> None:
        x = np.asarray(series.x, dtype=float)
        added = False
        for name, values in series.values.items():
            if name not in curves:
                color = pen(name, len(curves)).color()
                curves[name] = plot.plot(pen=pen(name, len(curves)), symbol="o" if plot is self.dice_plot else None,
                                         symbolSize=4, symbolBrush=color, symbolPen=None)
                added = True
            curves[name].setData(x, np.asarray(values, dtype=float), connect="finite")
        if added:
            plot.setTitle(legend_title(title, [(names.get(n, n), c.opts["pen"].color().name())
                                               for n, c in curves.items()]), size="10pt")

    def _loss_pen(self, name: str, index: int):
        return pg.mkPen(LOSS_COLORS.get(name, FALLBACK_COLORS[index % len(FALLBACK_COLORS)]),
                        width=2 if name == "total" else 1.4)

    def _dice_pen(self, name: str, index: int):
        if name == "mean":
            return pg.mkPen(MEAN_DICE_COLOR, width=2.2)
        return pg.mkPen(self.class_colors.get(name, FALLBACK_COLORS[index % len(FALLBACK_COLORS)]), width=1.3)
