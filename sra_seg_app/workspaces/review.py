"""The Review workspace: run a trained model on cases, then step through its predictions, most uncertain first, and
accept them (a slice or a whole case) or take them to the Label workspace for correction.

The model runs in a child process (``sra-seg project predict``, read-only on the project); the window, which holds
the project's lock, imports each case's prediction as soon as the child reports it, so cancelling keeps the cases
already done. Uncertainty and metrics come with each prediction (see :mod:`sra_seg_core.review`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
    QMessageBox, QProgressBar, QPushButton, QSizePolicy, QSlider, QSplitter, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from sra_seg_core.errors import SraSegError
from sra_seg_core.annotation import make_edit
from sra_seg_core.project import SliceStatus
from sra_seg_core.review import PredictOptions, import_prediction, review_reports
from sra_seg_app.widgets.canvas import SliceCanvas, label_lut, outline
from sra_seg_app.model import review as model
from sra_seg_app.model.jobs import EngineRun
from sra_seg_app.model.review import METRIC_COLUMNS, NO_VALUE, SCOPES, PredictionRun
from sra_seg_app.widgets.slice_strip import SliceStrip
from sra_seg_app.theme import MUTED, icon, status_icon

COLUMNS = ("Case", "Uncertainty", "Dice", "Done")
CASE, UNCERTAINTY, DICE, STATUS = range(len(COLUMNS))
SORT_ROLE = Qt.ItemDataRole.UserRole + 1      # table cells: the number to sort by
BROWSED_ROLE = Qt.ItemDataRole.UserRole + 2   # model choices: a file picked with Browse…, kept across refreshes


class _SortItem(QTableWidgetItem):
    """A table cell that sorts by the number stored under SORT_ROLE (missing values sort as lowest)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return mine < theirs


class ReferenceCanvas(SliceCanvas):
    """A read-only view of the current slice whose label layer shows the approved labels or, on request, the case's
    reference ground truth (which the session does not cache: it is read once per case here)."""

    def __init__(self, session, parent=None):
        super().__init__(session, parent, editable=False)
        self.show_reference = False
        self._reference: tuple[tuple, np.ndarray | None] = ((), None)   # (project, case), array

    def set_show_reference(self, on: bool) -> None:
        self.show_reference = on
        self.refresh_labels()

    def reference(self) -> np.ndarray | None:
        """The current case's reference, (Z, Y, X) uint8, or None."""
        s = self.session
        key = (s.project.path if s.project else None, s.case_id)
        if self._reference[0] != key:
            self._reference = (key, s.reference(s.case_id) if s.case_id else None)
        return self._reference[1]

    def refresh_labels(self) -> None:
        if not self.show_reference:
            super().refresh_labels()
            return
        s = self.session
        if s.image is None:
            return
        reference = self.reference()
        if reference is not None:
            data = reference[s.z]
            self.label_item.setImage(outline(data) if self.outline_only else data,
                                     lut=label_lut(self.class_colors(), self.opacity), levels=None, autoLevels=False)
        self.label_item.setVisible(reference is not None)
        self.pred_item.setVisible(False)


class SideBySide(QWidget):
    """Two widgets side by side at exactly the same size, whatever their contents ask for: linked views show the
    same region only when they are the same size."""

    def __init__(self, left: QWidget, right: QWidget, spacing: int = 6, parent=None):
        super().__init__(parent)
        self.left, self.right, self.spacing = left, right, spacing
        for widget in (left, right):
            widget.setParent(self)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def minimumSizeHint(self) -> QSize:
        hints = [w.minimumSizeHint() for w in (self.left, self.right)]
        return QSize(2 * max(h.width() for h in hints) + self.spacing, max(h.height() for h in hints))

    def sizeHint(self) -> QSize:
        return self.minimumSizeHint()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        width = (self.width() - self.spacing) // 2
        self.left.setGeometry(0, 0, width, self.height())
        self.right.setGeometry(self.width() - width, 0, width, self.height())


class ReviewWorkspace(QWidget):
    correctRequested = Signal(str, int)      # case, slice: show them in the Label workspace for correction

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.run = EngineRun(self)
        self._output: Path | None = None           # the child's output folder while it runs
        self._run_project = None                   # the project the running child predicts for
        self._tally = PredictionRun(total=0)        # what the last "Run model" did
        self._rows: dict[str, int] = {}
        self._build_run_bar()
        self._build_table()
        self._build_viewer()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.cases_panel)
        splitter.addWidget(self.viewer)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([220, 600])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.run_box)
        layout.addWidget(splitter, 1)
        self._build_shortcuts()
        self._connect()
        self._project_changed()

    # --- construction ---------------------------------------------------------------------------------------------
    def _build_run_bar(self) -> None:
        self.run_box = QGroupBox("Run the model")
        self.checkpoint = QComboBox()
        self.checkpoint.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.checkpoint.setMinimumContentsLength(20)
        self.checkpoint.setToolTip("The trained model: each training run's best checkpoint, newest first")
        self.browse = QPushButton(icon("fa5s.folder-open"), "Browse…")
        self.browse.setToolTip("Use a checkpoint file (best.pt) from elsewhere")
        self.scope = QComboBox()
        self.scope.setToolTip("Which cases to predict")
        self.tta = QCheckBox("Flip averaging (TTA)")
        self.tta.setToolTip("Average the prediction over the image and its two flips (3x slower). The uncertainty "
                            "is then the disagreement between the flips instead of the entropy of one prediction.")
        self.run_button = QPushButton(icon("fa5s.play"), "Run model", objectName="primary")
        self.cancel_button = QPushButton(icon("fa5s.stop"), "Cancel", objectName="danger")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.run_status = QLabel("", objectName="muted")
        self.run_status.setWordWrap(True)
        self.run_error = QLabel("", objectName="error")
        self.run_error.setWordWrap(True)
        self.run_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid = QGridLayout(self.run_box)
        grid.setContentsMargins(8, 10, 8, 8)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.addWidget(QLabel("Model"), 0, 0)
        grid.addWidget(self.checkpoint, 0, 1, 1, 3)
        grid.addWidget(self.browse, 0, 4)
        grid.addWidget(QLabel("Cases"), 1, 0)
        grid.addWidget(self.scope, 1, 1)
        grid.addWidget(self.tta, 1, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        grid.addLayout(buttons, 1, 4)
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(3, 1)
        status_row = QHBoxLayout()
        status_row.addWidget(self.progress, 1)
        status_row.addWidget(self.run_status, 2)
        grid.addLayout(status_row, 2, 0, 1, 5)
        grid.addWidget(self.run_error, 3, 0, 1, 5)
        self.progress.setVisible(False)
        self.run_status.setVisible(False)
        self.cancel_button.setVisible(False)
        self.run_error.setVisible(False)

    def _build_table(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeaderItem(UNCERTAINTY).setToolTip(
            "How unsure the model is inside what it calls foreground (see the cell's tooltip for the measure); "
            "review the most uncertain cases first")
        self.table.horizontalHeaderItem(DICE).setToolTip("Mean Dice of the prediction against the reference labels, "
                                                         "where the case has them")
        done_header = self.table.horizontalHeaderItem(STATUS)
        done_header.setToolTip("Slices done (accepted or labelled) of all slices")
        done_header.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        for column in (CASE, UNCERTAINTY, DICE):   # the case name and the numbers never elide
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(STATUS, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(UNCERTAINTY, Qt.SortOrder.DescendingOrder)

        self.metrics_box = QGroupBox("Metrics against the reference")
        self.metrics = QTableWidget(0, len(METRIC_COLUMNS) + 1)
        self.metrics.setHorizontalHeaderLabels(["Class", *(title for _key, title, _tip in METRIC_COLUMNS)])
        for column, (_key, _title, tip) in enumerate(METRIC_COLUMNS, 1):
            self.metrics.horizontalHeaderItem(column).setToolTip(tip)
        self.metrics.verticalHeader().setVisible(False)
        self.metrics.verticalHeader().setDefaultSectionSize(22)
        self.metrics.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.metrics.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.metrics.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.metrics_note = QLabel("", objectName="muted")
        self.metrics_note.setWordWrap(True)
        self.metrics_note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        box = QVBoxLayout(self.metrics_box)
        box.setContentsMargins(6, 8, 6, 6)
        box.addWidget(self.metrics)
        box.addWidget(self.metrics_note)
        box.addStretch(1)
        self.metrics.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        self.metrics.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.metrics.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.metrics_box.setFixedWidth(250)   # the same width with or without metrics: the table must not jump

        self.cases_panel = QWidget()
        row = QHBoxLayout(self.cases_panel)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.table, 1)
        row.addWidget(self.metrics_box)

    def _build_viewer(self) -> None:
        s = self.session
        self.pred_canvas = SliceCanvas(s, editable=False)
        self.pred_canvas.set_layer("prediction")
        self.ref_canvas = ReferenceCanvas(s)
        for canvas in (self.pred_canvas, self.ref_canvas):
            canvas.set_tool("pan")    # left drag pans: nothing here paints
            canvas.setMinimumSize(200, 200)
        # one camera for both: zoom and pan in either view move the other
        self.ref_canvas.view.setXLink(self.pred_canvas.view)
        self.ref_canvas.view.setYLink(self.pred_canvas.view)
        self.pred_title = QLabel("Prediction", objectName="muted")
        self.compare = QComboBox()
        self.compare.addItem("Approved labels", "approved")
        self.compare.addItem("Reference (ground truth)", "reference")
        self.compare.setToolTip("What the right view shows beside the prediction (R)")
        self.compare_note = QLabel("", objectName="muted")
        self.outline = QCheckBox("Outlines")
        self.outline.setToolTip("Draw the labels as outlines to see the image underneath")
        self.legend = QLabel("")
        columns = []
        head_height = self.compare.sizeHint().height()   # both heads alike, so both canvases are the same size
        for widgets, canvas in (((self.pred_title, 1, self.legend), self.pred_canvas),
                                ((self.compare, self.compare_note, 1, self.outline), self.ref_canvas)):
            head = QWidget()
            head.setFixedHeight(head_height)
            row = QHBoxLayout(head)
            row.setContentsMargins(0, 0, 0, 0)
            for widget in widgets:
                if isinstance(widget, int):
                    row.addStretch(widget)
                else:
                    row.addWidget(widget)
            column = QWidget()
            layout = QVBoxLayout(column)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.setSpacing(3)
            layout.addWidget(head)
            layout.addWidget(canvas, 1)
            columns.append(column)
        views = SideBySide(*columns)

        self.strip = SliceStrip()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Slice (wheel, PgUp/PgDn, ↑/↓)")
        self.slice_label = QLabel(NO_VALUE)
        self.slice_label.setMinimumWidth(200)
        self.readout = QLabel("", objectName="muted")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)   # never widens the window
        self.readout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(self.slice_label)

        self.accept_slice_button = QPushButton(icon("fa5s.check"), "Accept slice")
        self.accept_slice_button.setToolTip("Copy the prediction of this slice into the approved labels and mark it "
                                            "done (A)")
        self.accept_case_button = QPushButton(icon("fa5s.check-double"), "Accept case")
        self.accept_case_button.setToolTip("Copy the whole prediction into the approved labels and mark every slice "
                                           "done (Shift+A)")
        self.correct_button = QPushButton(icon("fa5s.paint-brush"), "Correct in Label")
        self.correct_button.setToolTip("Open this slice in the Label workspace to correct it; an unlabelled slice "
                                       "starts from the prediction (C)")
        self.previous_button = QPushButton(icon("fa5s.chevron-left"), "Previous case")
        self.previous_button.setToolTip("The case above in the table (Ctrl+PgUp)")
        self.next_button = QPushButton(icon("fa5s.chevron-right"), "Next case")
        self.next_button.setToolTip("The case below in the table (Ctrl+PgDown)")
        self.next_button.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
        buttons = QHBoxLayout()
        for button in (self.accept_slice_button, self.accept_case_button, self.correct_button):
            buttons.addWidget(button)
        buttons.addWidget(self.readout, 1)
        buttons.addWidget(self.previous_button)
        buttons.addWidget(self.next_button)

        self.viewer = QWidget()
        layout = QVBoxLayout(self.viewer)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(views, 1)
        layout.addWidget(self.strip)
        layout.addLayout(slider_row)
        layout.addLayout(buttons)

    def _build_shortcuts(self) -> None:
        for seq, slot in (("A", self.accept_slice), ("Shift+A", self.accept_case), ("C", self.correct_in_label),
                          ("Ctrl+PgDown", self.next_case), ("Ctrl+PgUp", self.previous_case),
                          ("R", self.toggle_compare)):
            # window-wide, but Qt ignores shortcuts of hidden widgets: they act only while Review is shown
            QShortcut(QKeySequence(seq), self, activated=slot)

    def _connect(self) -> None:
        s = self.session
        self.browse.clicked.connect(self.browse_checkpoint)
        self.run_button.clicked.connect(self.run_model)
        self.cancel_button.clicked.connect(self.cancel)
        self.run.event.connect(self._run_event)
        self.run.finished.connect(self._run_finished)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellClicked.connect(lambda row, _col: self._show_row(row))
        self.table.currentCellChanged.connect(lambda row, _c, previous, _p: row != previous and self._show_row(row))
        self.compare.currentIndexChanged.connect(self._compare_changed)
        self.outline.toggled.connect(self.set_outline)
        self.slider.valueChanged.connect(s.set_slice)
        self.strip.sliceClicked.connect(s.set_slice)
        for canvas in (self.pred_canvas, self.ref_canvas):
            canvas.wheelSlice.connect(s.step_slice)
            canvas.cursorMoved.connect(self._show_readout)
        self.accept_slice_button.clicked.connect(self.accept_slice)
        self.accept_case_button.clicked.connect(self.accept_case)
        self.correct_button.clicked.connect(self.correct_in_label)
        self.next_button.clicked.connect(self.next_case)
        self.previous_button.clicked.connect(self.previous_case)
        s.projectChanged.connect(self._project_changed)
        s.casesChanged.connect(self.refresh_table)
        s.caseChanged.connect(self._case_changed)
        s.sliceChanged.connect(self._slice_changed)
        s.statusChanged.connect(self._update_row)
        s.predictionChanged.connect(self._update_row)

    # --- project, models and cases --------------------------------------------------------------------------------
    def activated(self) -> None:
        """Called when the workspace is shown: pick up models trained and labels changed meanwhile."""
        self.refresh_checkpoints()
        self.refresh_table()
        self._slice_changed(self.session.z)

    def _project_changed(self) -> None:
        if self.run.running:
            self.cancel()
        project = self.session.project
        self.legend.setText("  ".join(f'<span style="color:{c.color}">■</span> {c.name}' for c in project.classes)
                            if project else "")
        self.run_error.setVisible(False)
        self._set_status("")
        self.refresh_checkpoints()
        self.refresh_table()
        self._case_changed(self.session.case_id)

    def refresh_checkpoints(self) -> None:
        """List each run's best checkpoint, newest first and chosen by default; a model the user chose instead (an
        older run, or a file picked with Browse…) stays chosen."""
        current = self.checkpoint.currentData() if self.checkpoint.currentIndex() > 0 else None
        browsed = [self.checkpoint.itemData(i) for i in range(self.checkpoint.count())
                   if self.checkpoint.itemData(i, BROWSED_ROLE)]
        self.checkpoint.clear()
        for text, path, tip in model.model_choices(self.session.project):
            self.checkpoint.addItem(icon("fa5s.brain"), text, path)
            self.checkpoint.setItemData(self.checkpoint.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        for path in browsed:
            self._add_browsed(Path(path))
        if self.checkpoint.count() == 0:
            self.checkpoint.addItem("No trained model yet: train one in Train, or Browse…", None)
        index = self.checkpoint.findData(current)
        self.checkpoint.setCurrentIndex(max(index, 0))
        self._update_controls()

    def browse_checkpoint(self) -> None:
        start = str(self.session.project.runs_dir) if self.session.project else ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a trained model", start,
                                              "Checkpoints (*.pt);;All files (*)")
        if path:
            self.add_checkpoint(path)

    def add_checkpoint(self, path: str | Path) -> None:
        """Offer a checkpoint file from outside the project's runs and choose it."""
        path = Path(path)
        index = self.checkpoint.findData(str(path))
        if index < 0:
            if self.checkpoint.currentData() is None:   # the "no trained model" placeholder
                self.checkpoint.clear()
            index = self._add_browsed(path)
        self.checkpoint.setCurrentIndex(index)
        self._update_controls()

    def _add_browsed(self, path: Path) -> int:
        self.checkpoint.addItem(icon("fa5s.file"), f"{path.parent.name}/{path.name}", str(path))
        index = self.checkpoint.count() - 1
        self.checkpoint.setItemData(index, str(path), Qt.ItemDataRole.ToolTipRole)
        self.checkpoint.setItemData(index, True, BROWSED_ROLE)
        return index

    def _scope_cases(self, key: str) -> list[str]:
        return model.scope_cases(self.session.project, key, self.selected_cases() if key == "selected" else [])

    def selected_cases(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.table.item(row, CASE).data(Qt.ItemDataRole.UserRole) for row in rows]

    def _refresh_scopes(self) -> None:
        key = self.scope.currentData() or SCOPES[0][0]
        self.scope.blockSignals(True)
        self.scope.clear()
        for scope, text in SCOPES:
            self.scope.addItem(f"{text} ({len(self._scope_cases(scope))})", scope)
        self.scope.setCurrentIndex(max(self.scope.findData(key), 0))
        self.scope.blockSignals(False)

    def _selection_changed(self) -> None:
        index = self.scope.findData("selected")
        self.scope.setItemText(index, f"{dict(SCOPES)['selected']} ({len(self.selected_cases())})")

    # --- the case table ---------------------------------------------------------------------------------------------
    def refresh_table(self) -> None:
        project = self.session.project
        self.table.blockSignals(True)   # rebuilding must not select cases
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        self._rows.clear()
        cases = project.cases if project is not None else []
        reports = review_reports(project) if project is not None else {}
        self.table.setRowCount(len(cases))
        for row, case in enumerate(cases):
            for column in range(len(COLUMNS)):
                self.table.setItem(row, column, _SortItem())
            self.table.item(row, CASE).setData(Qt.ItemDataRole.UserRole, case.id)
            self._fill_row(row, case, reports.get(case.id))
        self.table.setSortingEnabled(True)
        self.table.blockSignals(False)
        self._reindex_rows()
        self._refresh_scopes()
        self._select_row(self.session.case_id)
        self._update_controls()

    def _reindex_rows(self) -> None:
        self._rows = {self.table.item(r, CASE).data(Qt.ItemDataRole.UserRole): r for r in range(self.table.rowCount())}

    def _fill_row(self, row: int, case, report: dict | None) -> None:
        status = case.slice_status
        done = status.count(SliceStatus.DONE.value)
        name = self.table.item(row, CASE)
        name.setText(case.id)
        name.setData(SORT_ROLE, None)
        # as in the cases dock: the slice-status icon for real cases, a wand for synthetic ones
        name.setIcon(icon("fa5s.magic", MUTED) if case.role == "synthetic" else status_icon(status))
        name.setToolTip(f"{case.id} ({case.role}, {len(status)} slices)")
        score = report.get("uncertainty") if report else None
        uncertainty = self.table.item(row, UNCERTAINTY)
        uncertainty.setText(NO_VALUE if score is None else f"{score:.3g}")
        uncertainty.setData(SORT_ROLE, -1.0 if score is None else float(score))
        uncertainty.setToolTip(model.uncertainty_tip(report))
        mean_dice = report.get("mean_dice") if report else None
        dice = self.table.item(row, DICE)
        dice.setText(NO_VALUE if mean_dice is None else f"{100 * mean_dice:.1f} %")
        dice.setData(SORT_ROLE, -1.0 if mean_dice is None else float(mean_dice))
        dice.setToolTip("" if mean_dice is not None else "No reference labels for this case" if report else
                        "Not predicted yet")
        state = self.table.item(row, STATUS)
        state.setText(f"{done}/{len(status)}")
        state.setToolTip(model.status_tip(case.prediction is not None, done, len(status)))
        state.setData(SORT_ROLE, done / max(len(status), 1))
        for column in (UNCERTAINTY, DICE):
            self.table.item(row, column).setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for column in range(len(COLUMNS)):
            if case.prediction is None:   # nothing to review yet: shown, but quietly
                self.table.item(row, column).setForeground(QBrush(QColor(MUTED)))
            else:
                self.table.item(row, column).setData(Qt.ItemDataRole.ForegroundRole, None)

    def _update_row(self, case_id: str) -> None:
        project = self.session.project
        row = self._rows.get(case_id)
        if project is None or row is None:
            return
        report = review_reports(project).get(case_id)
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)   # keep the row where it is while it is filled
        self._fill_row(row, project.case(case_id), report)
        self.table.setSortingEnabled(sorting)
        self._reindex_rows()
        if case_id == self.session.case_id:
            self._show_metrics(case_id)
            self._update_controls()

    def _select_row(self, case_id: str) -> None:
        row = self._rows.get(case_id)
        self.table.blockSignals(True)
        if row is None:
            self.table.clearSelection()
        else:
            self.table.selectRow(row)
            self.table.setCurrentCell(row, CASE)
            self.table.scrollToItem(self.table.item(row, CASE))
        self.table.blockSignals(False)
        self._selection_changed()

    def _show_row(self, row: int) -> None:
        if row < 0 or self.table.item(row, CASE) is None:
            return
        self.show_case(self.table.item(row, CASE).data(Qt.ItemDataRole.UserRole))

    def show_case(self, case_id: str) -> None:
        """Show a case, on its most uncertain slice when the prediction's report gives one."""
        s = self.session
        if s.project is None or case_id == s.case_id:
            return
        report = review_reports(s.project).get(case_id)
        per_slice = (report or {}).get("slice_uncertainty") or []
        z = int(np.argmax([-1.0 if v is None else v for v in per_slice])) if per_slice else None
        try:
            s.select_case(case_id, z)
        except SraSegError as exc:
            QMessageBox.warning(self, "Cannot show the case", str(exc))

    def _step_case(self, delta: int) -> None:
        row = self._rows.get(self.session.case_id, -1 if delta > 0 else self.table.rowCount())
        target = row + delta
        if not 0 <= target < self.table.rowCount():
            self.session.message.emit("This is the last case in the table." if delta > 0 else
                                      "This is the first case in the table.")
            return
        self.show_case(self.table.item(target, CASE).data(Qt.ItemDataRole.UserRole))

    def next_case(self) -> None:
        self._step_case(1)

    def previous_case(self) -> None:
        self._step_case(-1)

    # --- the viewer -----------------------------------------------------------------------------------------------
    def _case_changed(self, case_id: str) -> None:
        image = self.session.image
        self.slider.blockSignals(True)
        self.slider.setRange(0, image.shape[0] - 1 if image is not None else 0)
        self.slider.blockSignals(False)
        self._select_row(case_id)
        has_reference = bool(case_id) and self.session.project is not None and \
            self.session.project.case(case_id).reference is not None
        self.compare.model().item(1).setEnabled(has_reference)
        if not has_reference and self.compare.currentIndex() == 1:
            self.compare.setCurrentIndex(0)
        self._show_metrics(case_id)
        self._slice_changed(self.session.z)
        self._update_controls()

    def _slice_changed(self, z: int) -> None:
        s = self.session
        image = s.image
        self.slider.blockSignals(True)
        self.slider.setValue(z)
        self.slider.blockSignals(False)
        self.strip.set_state(s.slice_status(), z)
        self._update_compare_note()
        if image is None:
            self.slice_label.setText(NO_VALUE)
            self.pred_title.setText("Prediction")
            return
        report = review_reports(s.project).get(s.case_id) if s.project else None
        per_slice = (report or {}).get("slice_uncertainty") or []
        note = ""
        if len(per_slice) == image.shape[0] and per_slice[z] is not None:
            note = "  ·  most uncertain" if z == int(np.argmax(per_slice)) else ""
            note = f"  ·  uncertainty {per_slice[z]:.3g}{note}"
        self.slice_label.setText(f"slice {z + 1} / {image.shape[0]}{note}")
        has_prediction = s.prediction() is not None
        self.pred_title.setText("Prediction" if has_prediction else "Prediction (none yet)")

    def toggle_compare(self) -> None:
        """Switch the right view between the approved labels and the reference (when the case has one)."""
        other = 1 - self.compare.currentIndex()
        if self.compare.model().item(other).isEnabled():
            self.compare.setCurrentIndex(other)

    def _compare_changed(self) -> None:
        self.ref_canvas.set_show_reference(self.compare.currentData() == "reference")
        self._update_compare_note()

    def _update_compare_note(self) -> None:
        s = self.session
        if s.image is None or self.compare.currentData() == "reference":
            self.compare_note.setText("")
            return
        labels = s.labels()
        self.compare_note.setText("" if labels is not None and labels[s.z].any() else "none on this slice")

    def set_outline(self, on: bool) -> None:
        """Draw both views' labels as outlines (the Outlines box; the tools dock may drive it too)."""
        self.outline.setChecked(on)
        for canvas in (self.pred_canvas, self.ref_canvas):
            canvas.set_outline(on)

    def set_opacity(self, value: float) -> None:
        """Label opacity of both views, 0..1 (for the tools dock's opacity slider)."""
        for canvas in (self.pred_canvas, self.ref_canvas):
            canvas.set_opacity(value)

    def _show_readout(self, info) -> None:
        if info is None:
            self.readout.setText("")
            return
        names = {c.value: c.name for c in self.session.project.classes} if self.session.project else {}

        def name(value):
            return "background" if not value else names.get(value, str(value))

        i, j, k = info["voxel"]
        pred = "" if info["prediction"] is None else f"   prediction {name(info['prediction'])}"
        self.readout.setText(f"({i}, {j}, {k})   value {info['value']:.4g}{pred}   approved {name(info['label'])}")

    def _show_metrics(self, case_id: str) -> None:
        project = self.session.project
        report = review_reports(project).get(case_id) if project is not None and case_id else None
        metrics = (report or {}).get("metrics")
        self.metrics.setVisible(bool(metrics))
        self.metrics_note.setVisible(not metrics)
        if not metrics:
            self.metrics.setRowCount(0)
            if not case_id:
                note = ""
            elif project.case(case_id).reference is None:
                note = ("This case has no reference labels, so there is nothing to compare the prediction with. "
                        "Import ground truth as reference labels to see Dice and distances here.")
            else:
                note = "Run the model on this case to see how its prediction compares with the reference labels."
            self.metrics_note.setText(note)
            return
        colors = {c.name: c.color for c in project.classes}
        rows = model.metric_rows(report)
        self.metrics.setRowCount(len(rows))
        for r, row in enumerate(rows):
            head = QTableWidgetItem(row.name)
            if row.name in colors:
                head.setIcon(icon("fa5s.square", colors[row.name]))
            cells = [head] + [QTableWidgetItem(row.text(key)) for key, _title, _tip in METRIC_COLUMNS]
            tip = f"{row.name}: Jaccard {row.text('jaccard')} %, ASD {row.text('asd_mm')} mm"
            for c, item in enumerate(cells):
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row.name == "Mean":
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                item.setToolTip(tip)
                self.metrics.setItem(r, c, item)
        self.metrics.setToolTip("“no prediction”: the model did not predict the class, so it has no distance (its "
                                "Dice is 0, and the mean distance leaves it out); '–': the class is predicted but "
                                "absent from the reference.")

    # --- accepting --------------------------------------------------------------------------------------------------
    def accept_slice(self) -> bool:
        return self._accept([self.session.z])

    def accept_case(self) -> bool:
        return self._accept(None)

    def _accept(self, slices: list[int] | None) -> bool:
        """Copy the prediction into the approved labels of ``slices`` (all when None) and mark them done, asking first
        when that would replace approved labels that differ from the prediction."""
        s = self.session
        case_id = s.case_id
        if not self._can_accept():
            return False
        try:
            s.save()   # accepting rewrites the label file: unsaved strokes must be in it first
        except SraSegError:
            return False    # the session said why; the strokes wait safely in the journal
        chosen = range(s.image.shape[0]) if slices is None else slices
        labels, prediction = s.labels(case_id), s.prediction(case_id)
        replaced = model.replaced_slices(labels, prediction, chosen)
        if replaced and not self._confirm_replace(case_id, replaced):
            return False
        try:
            s.project.accept_prediction(case_id, slices)
        except SraSegError as exc:
            QMessageBox.warning(self, "Could not accept the prediction", str(exc))
            return False
        s.reload_case(case_id)
        s.message.emit(model.accepted_message(case_id, slices))
        self._slice_changed(s.z)
        return True

    def _can_accept(self) -> bool:
        s = self.session
        if s.project is None or not s.case_id:
            return False
        refusal = model.accept_refusal(s)
        if refusal:
            s.message.emit(refusal)
        return not refusal

    def _confirm_replace(self, case_id: str, slices: list[int]) -> bool:
        listed = ", ".join(str(z + 1) for z in slices[:12]) + (" …" if len(slices) > 12 else "")
        answer = QMessageBox.question(
            self, "Replace approved labels?",
            f"{len(slices)} slice(s) of {case_id} already have approved labels that differ from the prediction "
            f"(slice {listed}).\n\nAccepting replaces them with the prediction. Replace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def correct_in_label(self) -> None:
        """Take the current slice to the Label workspace. A slice without approved labels starts from the prediction,
        copied in as one undoable edit (the undo history stays) and marked in progress, since it is being corrected;
        labels already there are left as they are."""
        s = self.session
        case_id, z = s.case_id, s.z
        if not case_id:
            return
        labels, prediction = s.labels(case_id), s.prediction()
        if prediction is not None and not labels[z].any() and not s.read_only:
            edit = make_edit(labels[z], z, np.arange(labels[z].size), prediction[z].ravel())
            if s.commit([edit], "Start from the prediction"):
                s.set_status(SliceStatus.IN_PROGRESS, z)
                s.message.emit(f"Slice {z + 1} of {case_id} starts from the prediction, in progress: correct it, "
                               "then mark it done (D).")
        self.correctRequested.emit(case_id, z)

    # --- running the model ------------------------------------------------------------------------------------------
    def run_model(self) -> bool:
        """Start ``sra-seg project predict`` in a child process on the chosen cases. Returns whether it started."""
        s = self.session
        checkpoint = self.checkpoint.currentData()
        if self.run.running or s.project is None:
            return False
        if s.read_only:
            return self._fail("This project is open read-only: predictions cannot be stored. Close the other "
                              "window or process that edits it, then open the project again.")
        if not checkpoint:
            return self._fail("Choose a trained model first: train one in the Train workspace, or use Browse… to "
                              "pick a checkpoint file (best.pt).")
        scope = self.scope.currentData()
        cases = self._scope_cases(scope)
        if not cases:
            return self._fail(model.EMPTY_SCOPE.get(scope, "This project has no cases to predict."))
        self._output = Path(tempfile.mkdtemp(prefix="sra-seg-review-"))
        self._run_project, self._tally = s.project, PredictionRun(total=len(cases))
        options = PredictOptions(checkpoint=str(checkpoint), tta=self.tta.isChecked())
        args = model.predict_args(s.project.path, self._output, scope, cases, options)
        self.run_error.setVisible(False)
        self.progress.setRange(0, 0)    # busy until the model is loaded
        self.progress.setFormat("loading the model…")
        self._set_status(f"Starting the model on {len(cases)} case(s)…")
        self.run.start(*args)
        self._update_controls()
        return True

    def cancel(self) -> None:
        if self.run.running:
            self._tally.cancelled = True
            self._set_status("Cancelling…")
            self.run.stop()

    def _set_status(self, text: str) -> None:
        self.run_status.setText(text)
        self.run_status.setVisible(bool(text))   # an empty line would still take its height

    def _fail(self, text: str) -> bool:
        self.run_error.setText(text)
        self.run_error.setVisible(True)
        return False

    def _run_event(self, event) -> None:
        if self.session.project is not self._run_project:   # the project was closed or changed meanwhile
            return
        if event.event == "stage" and event.total is not None:
            self.progress.setRange(0, max(event.total, 1))
            self.progress.setValue(0)
            self.progress.setFormat("%v / %m cases")
            self._set_status(f"Predicting {event.total} case(s)…")
        elif event.event == "progress" and event.case:
            self._import(event.case)
            self.progress.setValue(event.iteration)
            self._set_status(f"Predicted {event.case} ({event.iteration} of {event.total})")
        elif event.event == "warning" and event.message:
            self._tally.problems.append(event.message)

    def _import(self, case_id: str) -> None:
        s = self.session
        try:
            import_prediction(s.project, case_id, self._output)
        except SraSegError as exc:
            self._tally.problems.append(f"case {case_id} could not be stored: {exc}")
            return
        self._tally.imported.append(case_id)
        s.forget_prediction(case_id)   # the table row and the views update through predictionChanged

    def _run_finished(self, code: int, error: str) -> None:
        if self._output is not None:
            shutil.rmtree(self._output, ignore_errors=True)
            self._output = None
        if self.session.project is not self._run_project:   # stopped because the project was closed or changed
            self._run_project = None
            self._update_controls()
            return
        tally = self._tally
        self._set_status(tally.status_text(code))
        error_text = tally.error_text(code, error, self.run.stderr_tail)
        if error_text:
            self._fail(error_text)
        self.progress.setRange(0, max(tally.total, 1))
        self.progress.setValue(len(tally.imported))
        self.progress.setFormat("%v / %m cases")
        self._run_project = None
        self._refresh_scopes()
        self._update_controls()
        s = self.session
        if tally.imported and s.project is not None and s.prediction() is None and self.table.rowCount():
            self._show_row(0)   # nothing to review where we are: go to the most uncertain case

    def _update_controls(self) -> None:
        s = self.session
        running = self.run.running
        writable = s.project is not None and not s.read_only
        self.run_button.setEnabled(writable and not running and bool(self.checkpoint.currentData()))
        self.run_button.setVisible(not running)
        self.cancel_button.setVisible(running)
        self.progress.setVisible(running or self.progress.maximum() > 0 and bool(self.run_status.text()))
        for widget in (self.checkpoint, self.browse, self.scope, self.tta):
            widget.setEnabled(s.project is not None and not running)
        has_prediction = writable and bool(s.case_id) and s.prediction() is not None
        for button in (self.accept_slice_button, self.accept_case_button):
            button.setEnabled(has_prediction)
        self.correct_button.setEnabled(bool(s.case_id))
        has_rows = self.table.rowCount() > 0
        self.next_button.setEnabled(has_rows)
        self.previous_button.setEnabled(has_rows)


