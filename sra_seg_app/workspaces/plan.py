"""The "Plan" panel: which real patients to label next (the "which 10 %" helper) and how far labelling has come.

Suggestions come from ``sra-seg project suggest`` in a child process (DINOv2 and the networks load torch, which the
window never imports); the labelling progress is counted here, from the open project, whenever a slice changes
status.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton, QSpinBox,
    QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from sra_seg_core.errors import SraSegError
from sra_seg_core.selection import SuggestOptions
from sra_seg_app.model import plan as model
from sra_seg_app.model.jobs import EngineRun
from sra_seg_app.model.plan import FEATURES, STRATEGIES, UNITS
from sra_seg_app.theme import MUTED, icon

SUGGESTION_ROLE = Qt.ItemDataRole.UserRole


class PlanPanel(QWidget):
    """Target fraction, strategy and "Suggest"; the suggestions (double-click opens the case); labelling progress."""

    caseOpened = Signal(str)     # a suggestion was opened in the viewer

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.run = EngineRun(self)
        self.result: dict | None = None
        self._cancelled = False

        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_note = QLabel("", objectName="muted", wordWrap=True)

        self.target = QSpinBox(suffix=" %", minimum=1, maximum=100, value=10)
        self.target.setToolTip("Share of the real patients to label (the method's setting: 10 %)")
        self.strategy = QComboBox()
        for key, text, tip in STRATEGIES:
            self.strategy.addItem(text, key)
            self.strategy.setItemData(self.strategy.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.unit = QComboBox()
        for key, text in UNITS:
            self.unit.addItem(text, key)
        self.features = QComboBox()
        for key, text in FEATURES:
            self.features.addItem(text, key)
        self.features.setToolTip("What 'different' means: DINOv2 embeddings (needs DINOv2 weights) or, without them, "
                                 "intensity histograms and layout")
        self.weights_label = QLabel("", objectName="muted")
        self.weights_button = QPushButton(icon("fa5s.folder-open"), "Choose…")
        self.weights_button.setToolTip("A DINOv2 weights file (official .pth or timm .safetensors), kept in the "
                                       "project settings; without one, diversity uses intensity features")
        self.weights_clear = QToolButton(icon=icon("fa5s.times"), toolTip="Forget the weights file")
        weights = QHBoxLayout()
        weights.setContentsMargins(0, 0, 0, 0)
        weights.addWidget(self.weights_label, 1)
        weights.addWidget(self.weights_clear)
        weights.addWidget(self.weights_button)
        self.weights_row = QWidget()
        self.weights_row.setLayout(weights)
        self.run_combo = QComboBox()
        self.run_combo.setToolTip("The training run whose teacher and student are compared (its latest checkpoint)")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Target", self.target)
        form.addRow("Strategy", self.strategy)
        form.addRow("Suggest", self.unit)
        form.addRow("Features", self.features)
        form.addRow("DINOv2", self.weights_row)
        form.addRow("Run", self.run_combo)
        self.form = form

        self.suggest_button = QPushButton(icon("fa5s.lightbulb"), "Suggest", objectName="primary")
        self.cancel_button = QPushButton(icon("fa5s.stop"), "Cancel")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.suggest_button, 1)
        buttons.addWidget(self.cancel_button)
        self.busy = QProgressBar()
        self.busy.setVisible(False)
        self.banner = QLabel("", objectName="banner", wordWrap=True)
        self.banner.setVisible(False)
        self.error = QLabel("", objectName="error", wordWrap=True)
        self.error.setVisible(False)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.list = QTreeWidget()
        self.list.setHeaderLabels(["Suggestion", "Score"])
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.setAlternatingRowColors(True)
        header = self.list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        header.setSectionResizeMode(1, header.ResizeMode.ResizeToContents)
        self.summary = QLabel("", objectName="muted", wordWrap=True)
        self.details = QLabel("Choose a strategy and press Suggest. Double-click a suggestion to open it.",
                              objectName="muted", wordWrap=True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(QLabel("Labelling progress", objectName="subtitle"))
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_note)
        layout.addSpacing(6)
        layout.addWidget(QLabel("What to label next", objectName="subtitle"))
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)
        layout.addWidget(self.error)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.details)

        self.target.valueChanged.connect(lambda _v: self.update_progress())
        self.strategy.currentIndexChanged.connect(lambda _i: self._strategy_changed())
        self.suggest_button.clicked.connect(self.suggest)
        self.weights_button.clicked.connect(self.choose_weights)
        self.weights_clear.clicked.connect(lambda: self.set_weights(None))
        self.cancel_button.clicked.connect(self.cancel)
        self.list.itemActivated.connect(self._open)   # double-click or Enter
        self.list.currentItemChanged.connect(self._show_details)
        self.run.event.connect(self._event)
        self.run.finished.connect(self._finished)
        session.statusChanged.connect(lambda _case: self.update_progress())
        session.casesChanged.connect(self.update_progress)
        session.projectChanged.connect(self._project_changed)
        self._project_changed()

    # --- state --------------------------------------------------------------------------------------------------------
    @property
    def fraction(self) -> float:
        return self.target.value() / 100

    def _strategy_changed(self) -> None:
        strategy = self.strategy.currentData()
        self.form.setRowVisible(self.features, strategy == "diverse")
        self.form.setRowVisible(self.weights_row, strategy == "diverse")
        self.form.setRowVisible(self.run_combo, strategy == "disagreement")
        self.unit.setEnabled(strategy != "random")
        if strategy == "random":
            self.unit.setCurrentIndex(0)
        self.unit.setToolTip("Random draws whole patients, as the published protocol does" if strategy == "random"
                             else "Whole patients (a patient is labelled whole) or single slices")
        if strategy == "disagreement":
            self.refresh_runs()
        self._update_enabled()

    def refresh_runs(self) -> None:
        """Fill the run choice with the project's runs that offer a teacher (disagreement needs it), newest first."""
        current = self.run_combo.currentData()
        self.run_combo.clear()
        project = self.session.project
        for run in model.teacher_runs(project):
            self.run_combo.addItem(run.name, str(run.path))
        if self.run_combo.count() == 0:
            self.run_combo.addItem("no trained run yet — train first", None)
        index = self.run_combo.findData(current)
        self.run_combo.setCurrentIndex(max(index, 0))
        self._update_enabled()

    def _update_enabled(self) -> None:
        running = self.run.running
        ready = self.session.project is not None and not running
        if self.strategy.currentData() == "disagreement":
            ready = ready and self.run_combo.currentData() is not None
        self.suggest_button.setEnabled(ready)
        self.cancel_button.setEnabled(running)
        for widget in (self.target, self.strategy, self.features, self.run_combo):
            widget.setEnabled(not running)
        writable = self.session.project is not None and not self.session.read_only
        self.weights_button.setEnabled(writable and not running)
        self.weights_clear.setEnabled(writable and not running)
        self.unit.setEnabled(not running and self.strategy.currentData() != "random")

    def _project_changed(self) -> None:
        if self.run.running:
            self.cancel()
        self.list.clear()
        self.summary.clear()
        self.banner.setVisible(False)
        self.error.setVisible(False)
        self._strategy_changed()
        self._show_weights()
        self.update_progress()

    def weights_file(self) -> str | None:
        """The DINOv2 weights file named in the project settings (what ``project suggest`` uses), or None."""
        return model.weights_file(self.session.project)

    def choose_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "DINOv2 weights", "",
                                              "DINOv2 weights (*.pth *.pt *.safetensors);;All files (*)")
        if path:
            self.set_weights(path)

    def set_weights(self, path: str | None) -> None:
        """Keep (or, with None, forget) the DINOv2 weights file in the project settings."""
        project = self.session.project
        if project is None:
            return
        try:
            model.set_weights_file(project, path)
        except SraSegError as exc:
            QMessageBox.critical(self, "Cannot save the setting", str(exc))
        self._show_weights()

    def _show_weights(self) -> None:
        path = self.weights_file()
        self.weights_label.setText(Path(path).name if path else "none: intensity fallback")
        self.weights_label.setToolTip(path or "No DINOv2 weights file: 'Auto' tries timm's download, then falls back "
                                              "to intensity features")
        self.weights_clear.setVisible(bool(path))

    def activated(self) -> None:
        self.refresh_runs()
        self.update_progress()

    def update_progress(self) -> None:
        """Labelled real patients (any slice done) against the target, in the progress bar."""
        view = model.progress_view(self.session.project, self.fraction)
        self.progress_bar.setRange(0, view.maximum)
        self.progress_bar.setValue(view.value)
        self.progress_bar.setFormat(view.caption)
        self.progress_note.setText(view.note)

    # --- suggesting ---------------------------------------------------------------------------------------------------
    def options(self) -> SuggestOptions:
        """The current choices as the engine's typed options."""
        return model.suggest_options(self.strategy.currentData(), self.fraction, self.unit.currentData(),
                                     self.features.currentData(), self.run_combo.currentData())

    def arguments(self) -> list[str]:
        """The ``sra-seg`` arguments for the current choices."""
        return model.suggest_args(self.session.project.path, self.options())

    def suggest(self) -> None:
        if self.session.project is None or self.run.running:
            return
        self.list.clear()
        self.summary.clear()
        self.banner.setVisible(False)
        self.error.setVisible(False)
        self.result, self._cancelled = None, False
        self.busy.setRange(0, 0)
        self.busy.setFormat("starting…")
        self.busy.setVisible(True)
        self.details.setText("Working…")
        self.run.start(*self.arguments())
        self._update_enabled()

    def cancel(self) -> None:
        if self.run.running:
            self._cancelled = True
            self.run.stop()

    def _event(self, event) -> None:
        if event.event == "progress" and event.total:
            self.busy.setRange(0, event.total)
            self.busy.setValue(event.iteration)
            self.busy.setFormat(f"reading {event.case or '…'}  ({event.iteration}/{event.total})")
        elif event.event == "warning":
            self._warn(event.message or "")
        elif event.event == "done":
            self.result = event.result

    def _warn(self, message: str) -> None:
        known = self.banner.text()
        if message and message not in known:
            self.banner.setText(f"{known}\n{message}" if known else message)
        self.banner.setVisible(bool(self.banner.text()))

    def _finished(self, code: int, error: str) -> None:
        self.busy.setVisible(False)
        self._update_enabled()
        if self._cancelled:
            self.details.setText("Cancelled.")
            return
        if code != 0:
            self.error.setText(model.failure_text(code, error, self.run.stderr_tail))
            self.error.setVisible(True)
            self.details.setText("")
            return
        if self.result is None:
            self.error.setText(model.UNREADABLE)
            self.error.setVisible(True)
            return
        self.show_result(self.result)

    def show_result(self, result: dict) -> None:
        """Fill the list from the result of ``project suggest`` (its done event, or its --json answer)."""
        self.list.clear()
        for warning in result.get("warnings", []):
            self._warn(warning)
        for title, score, tip, suggestion in model.suggestion_rows(result):
            item = QTreeWidgetItem([title, score])
            item.setData(0, SUGGESTION_ROLE, suggestion)
            item.setIcon(0, icon("fa5s.user" if result["unit"] == "patients" else "fa5s.layer-group", MUTED))
            item.setToolTip(0, tip)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.list.addTopLevelItem(item)
        self.summary.setText(model.summary_text(result))
        if self.list.topLevelItemCount():
            self.list.setCurrentItem(self.list.topLevelItem(0))
        else:
            self.details.setText(model.NOTHING_LEFT)

    def _show_details(self, item, _previous=None) -> None:
        if item is None:
            return
        self.details.setText(model.details_text(item.data(0, SUGGESTION_ROLE)))

    def _open(self, item, _column: int = 0) -> None:
        s = item.data(0, SUGGESTION_ROLE)
        if self.session.project is None or s is None:
            return
        self.session.select_case(s["case"], s["slice"])
        self.caseOpened.emit(s["case"])
