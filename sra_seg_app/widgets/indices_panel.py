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
    QPushButton,
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


class ProjectIndicesPanel(QWidget):
    """The open project's cardiac indices: a Compute button, ED/ES pairs chosen by the user for patients without an
    ACDC ``Info.cfg``, the reasons patients were left out, and the :class:`IndicesPanel` table and plot.

    The numbers are :func:`sra_seg_core.indices.project_indices`'s (approved labels follow the project's status rule);
    the panel computes on request, never on its own, so a big project costs nothing until asked.
    """

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.pairs: dict[str, tuple[str, str]] = {}
        self.panel = IndicesPanel(self)
        self.compute_button = QPushButton("Compute", self)
        self.compute_button.setToolTip("EDV, ESV, SV, EF and myocardial mass of every patient with ED and ES frames, "
                                       "from reference labels, approved labels and predictions")
        self.ed_box, self.es_box = QComboBox(self), QComboBox(self)
        self.pair_button = QPushButton("Use as ED / ES", self)
        self.pair_button.setToolTip("For data without an ACDC Info.cfg: the end-diastolic and end-systolic case of a "
                                    "patient (the patient is the ED case's group)")
        self.notes = QLabel(self)
        self.notes.setWordWrap(True)
        self.notes.setObjectName("muted")
        row = QHBoxLayout()
        row.addWidget(self.compute_button)
        row.addWidget(QLabel("ED", self))
        row.addWidget(self.ed_box, 1)
        row.addWidget(QLabel("ES", self))
        row.addWidget(self.es_box, 1)
        row.addWidget(self.pair_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.notes)
        layout.addWidget(self.panel, 1)
        self.compute_button.clicked.connect(self.compute)
        self.pair_button.clicked.connect(self._add_pair)
        session.projectChanged.connect(self._project_changed)
        session.casesChanged.connect(self._fill_cases)
        self._project_changed()

    def _project_changed(self) -> None:
        self.pairs = {}
        self.panel.set_report(IndicesReport())
        self.notes.setText("")
        self._fill_cases()

    def _fill_cases(self) -> None:
        project = self.session.project
        ids = [c.id for c in project.cases if c.role == "real"] if project else []
        for box in (self.ed_box, self.es_box):
            box.clear()
            box.addItems(ids)
        enabled = project is not None
        for widget in (self.compute_button, self.pair_button, self.ed_box, self.es_box):
            widget.setEnabled(enabled)

    def _add_pair(self) -> None:
        ed, es = self.ed_box.currentText(), self.es_box.currentText()
        if not ed or not es or ed == es:
            self.notes.setText("Choose two different cases as the ED and the ES frame.")
            return
        self.pairs[self.session.project.case(ed).group] = (ed, es)
        self.compute()

    def compute(self) -> IndicesReport | None:
        """Compute the project's indices now and show them; a user error (classes not named RV, Myo, LV, an unknown
        case) is shown in the panel, not raised."""
        from sra_seg_core.errors import SraSegError
        from sra_seg_core.indices import project_indices

        project = self.session.project
        if project is None:
            return None
        try:
            report = project_indices(project, self.pairs)
        except SraSegError as exc:
            self.notes.setText(str(exc))
            return None
        self.panel.set_report(report)
        chosen = ", ".join(f"{p} = {ed} / {es}" for p, (ed, es) in self.pairs.items())
        # one line in the dock; the reasons, one patient a line, on hover (the engine's wording names the CLI's
        # --pair, which here is the ED / ES boxes)
        self.notes.setText(" ".join(part for part in (
            f"{len(report.rows)} row(s).", f"Chosen frames: {chosen}." if chosen else "",
            f"{len(report.skipped)} patient(s) left out (hover for why; choose their ED and ES above)."
            if report.skipped else "") if part))
        self.notes.setToolTip("\n".join(f"{patient}: {why}" for patient, why in report.skipped))
        return report
