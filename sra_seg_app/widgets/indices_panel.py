"""Cardiac indices of a case set: a table (patient, source, EDV, ESV, SV, EF, mass) and a Bland–Altman plot.

The numbers come from :func:`sra_seg_core.indices.project_indices` or :func:`~sra_seg_core.indices.acdc_indices`; the
panel only shows them. The plot draws, for the chosen index, each patient's (mean of method and reference, method −
reference), the bias and the 95 % limits of agreement — the figure the ACDC challenge's agreement analysis uses.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sra_seg_app._pyqtgraph import pg
from sra_seg_core.indices import INDEX_NAMES, INDEX_TITLES, IndicesReport


def _text(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f}"


class IndicesPanel(QWidget):
    """``set_report(report)`` fills the table and the agreement plot."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.report = IndicesReport()
        self.table = QTableWidget(0, 2 + len(INDEX_NAMES), self)
        self.table.setHorizontalHeaderLabels(["patient", "source", *(INDEX_TITLES[n] for n in INDEX_NAMES)])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.comparison = QComboBox(self)
        self.index = QComboBox(self)
        for name in INDEX_NAMES:
            self.index.addItem(INDEX_TITLES[name], name)
        self.summary = QLabel(self)
        self.plot = pg.PlotWidget(self)
        self.plot.setLabel("bottom", "mean of method and reference")
        self.plot.setLabel("left", "method − reference")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        for axis in ("left", "bottom"):  # mL and % read as they are, never as "(x0.001)"
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.scatter = pg.ScatterPlotItem(size=8, brush=pg.mkBrush("#56B4E9"), pen=pg.mkPen("w"))
        self.plot.addItem(self.scatter)
        self.lines = {key: pg.InfiniteLine(angle=0, pen=pg.mkPen(color, width=1, style=style))
                      for key, color, style in (("bias", "#E69F00", Qt.PenStyle.SolidLine),
                                                ("low", "#CC79A7", Qt.PenStyle.DashLine),
                                                ("high", "#CC79A7", Qt.PenStyle.DashLine))}
        for line in self.lines.values():
            self.plot.addItem(line)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("agreement of", self))
        controls.addWidget(self.comparison)
        controls.addWidget(QLabel("index", self))
        controls.addWidget(self.index)
        controls.addStretch(1)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(controls)
        right_layout.addWidget(self.plot, 1)
        right_layout.addWidget(self.summary)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(right)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.comparison.currentIndexChanged.connect(self._update_plot)
        self.index.currentIndexChanged.connect(self._update_plot)

    def set_report(self, report: IndicesReport) -> None:
        self.report = report
        self.table.setRowCount(len(report.rows))
        for r, row in enumerate(report.rows):
            cells = [row.patient, row.source, *(_text(getattr(row.indices, n)) for n in INDEX_NAMES)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.comparison.blockSignals(True)
        self.comparison.clear()
        for method, reference in report.agreements:
            self.comparison.addItem(f"{method} vs {reference}", (method, reference))
        self.comparison.blockSignals(False)
        self._update_plot()

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(means, differences) of the chosen comparison and index, one per patient with both values."""
        pair, name = self.comparison.currentData(), self.index.currentData()
        if pair is None:
            return np.zeros(0), np.zeros(0)
        by_source: dict[str, dict[str, float]] = {}
        for row in self.report.rows:
            by_source.setdefault(row.source, {})[row.patient] = getattr(row.indices, name)
        method, reference = (by_source.get(s, {}) for s in pair)
        patients = [p for p in method if p in reference and not (math.isnan(method[p]) or math.isnan(reference[p]))]
        a = np.array([method[p] for p in patients])
        b = np.array([reference[p] for p in patients])
        return (a + b) / 2, a - b

    def _update_plot(self) -> None:
        means, diffs = self.points()
        self.scatter.setData(means, diffs)
        pair, name = self.comparison.currentData(), self.index.currentData()
        stats = self.report.agreements.get(pair, {}).get(name) if pair else None
        for key, value in (("bias", stats and stats.bias), ("low", stats and stats.loa_low),
                           ("high", stats and stats.loa_high)):
            line = self.lines[key]
            shown = stats is not None and value is not None and not math.isnan(value)
            line.setVisible(shown)
            if shown:
                line.setPos(value)
        if stats is None:
            self.summary.setText("no patient has both a method and a reference value" if self.report.rows else "")
        else:
            self.summary.setText(f"{INDEX_TITLES[name]}: n = {stats.n}, bias {stats.bias:.2f}, SD {stats.sd:.2f}, "
                                 f"limits of agreement {stats.loa_low:.2f} .. {stats.loa_high:.2f}, r = {stats.r:.3f}")
