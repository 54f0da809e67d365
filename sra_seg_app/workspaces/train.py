"""The Train workspace: the settings form, Start / Stop / Resume, progress with ETA, live curves, the log, past runs.

Training is the engine's ``sra-seg train`` in a detached child process that writes its events to
``<run>/events.jsonl``; this workspace follows those files (:class:`~sra_seg_app.model.train.RunMonitor`), so the
window never blocks, a crash or an out-of-memory error in training cannot take it down, and a run left running when
the window closes is picked up again when its project is reopened.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QMessageBox,
    QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSplitter, QTableWidget, QTableWidgetItem, QTabWidget,
    QVBoxLayout, QWidget,
)

from sra_seg_core.config import RunConfig
from sra_seg_core.errors import SraSegError
from sra_seg_core.events import format_event
from sra_seg_core import runs
from sra_seg_app.widgets.config_form import ConfigForm, spin_box
from sra_seg_app.theme import icon
from sra_seg_app.model.train import (
    STAGE_NAMES, RunMonitor, RunProgress, can_resume, can_start, default_gpus, dice_text, duration_text,
    failure_message, gpu_choices, gpu_refusal, gpus_found_text, gpu_count, initial_config, latest_checkpoint,
    launch_resume, launch_training, offers_gpu_choice, processes_for, run_row_status, stage_text, title_state,
    uses_gpu_choice,
)
from sra_seg_app.widgets.train_plots import TrainingCurves

STOP_TIMEOUT_MS = 20_000
LOG_LINES = 5000


class TrainWorkspace(QWidget):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.device_info: dict | None = None
        self.monitor = RunMonitor(self)
        self.form = ConfigForm()
        self._runs: list[runs.Run] = []
        self._kill_timer = QTimer(self, singleShot=True, interval=STOP_TIMEOUT_MS)
        self._kill_timer.timeout.connect(self._stop_overdue)
        self._clock = QTimer(self, interval=1000)      # counts the ETA down between progress events
        self._clock.timeout.connect(self._update_status)
        self.kill_box: QMessageBox | None = None

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_settings())
        splitter.addWidget(self._build_run_view())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([420, 980])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        QShortcut(QKeySequence("Ctrl+Return"), self, self.start, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume_selected)
        self.resume_main.clicked.connect(self.resume_selected)
        self.folder_button.clicked.connect(self.open_selected_folder)
        self.runs_table.itemSelectionChanged.connect(self._selection_changed)
        self.monitor.updated.connect(self._on_update)
        self.monitor.ended.connect(self._on_ended)
        session.projectChanged.connect(self._project_changed)
        self._project_changed()

    # --- construction -------------------------------------------------------------------------------------------------
    def _build_settings(self) -> QWidget:
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.form)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.start_button = QPushButton(icon("fa5s.play"), "  Start training", objectName="primary")
        self.start_button.setToolTip("Save the labels, then train in a separate process; the window stays usable "
                                     "(Ctrl+Enter)")
        self.stop_button = QPushButton(icon("fa5s.stop"), "  Stop", objectName="danger")
        self.stop_button.setToolTip("Save the latest checkpoint and stop; Resume continues from it")
        # Resume sits by the main button too: a stopped run is continued where a new one would be started.
        self.resume_main = QPushButton(icon("fa5s.redo"), "  Resume…")
        self.resume_main.setToolTip("Continue the selected run from its latest checkpoint (iterations may be raised)")
        for button in (self.start_button, self.stop_button, self.resume_main):
            button.setMinimumHeight(34)
        # Shown only with more than one GPU: a run then trains on several through torchrun (one DDP job).
        self.gpus = QComboBox()
        self.gpus.setToolTip("How many GPUs this run trains on: one run, the batch shared between them (torchrun)")
        self.gpus_found = QLabel(objectName="muted")
        self.gpus_note = QLabel(objectName="error", wordWrap=True)
        gpus_row = QHBoxLayout()
        gpus_row.addWidget(QLabel("GPUs"))
        gpus_row.addWidget(self.gpus)
        gpus_row.addWidget(self.gpus_found, 1)
        self.gpus_box = QWidget()
        gpus_layout = QVBoxLayout(self.gpus_box)
        gpus_layout.setContentsMargins(0, 0, 0, 0)
        gpus_layout.addLayout(gpus_row)
        gpus_layout.addWidget(self.gpus_note)
        self.gpus_box.setVisible(False)
        self.gpus.currentIndexChanged.connect(self._update_gpus_note)
        self.form.changed.connect(self._update_gpus_note)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.stop_button, 1)
        buttons.addWidget(self.resume_main)
        column = QWidget()
        column.setMinimumWidth(380)
        layout = QVBoxLayout(column)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.gpus_box)
        layout.addLayout(buttons)
        return column

    def _build_run_view(self) -> QWidget:
        self.run_title = QLabel("No run yet", objectName="subtitle")
        self.stage_label = QLabel("Choose the settings and press Start training.", objectName="muted")
        self.stage_label.setWordWrap(True)
        self.progress_bar = QProgressBar(textVisible=True)
        self.progress_bar.setFormat("%v / %m iterations  (%p %)")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.eta_label, self.rate_label, self.memory_label, self.best_label = (QLabel("") for _ in range(4))
        stats = QHBoxLayout()
        stats.setSpacing(22)
        for label, tip in ((self.eta_label, "Estimated time left for the whole run"),
                           (self.rate_label, "Training iterations per second (recent)"),
                           (self.memory_label, "Peak device memory (GPU) or the training process's memory (CPU)"),
                           (self.best_label, "Best validation mean Dice so far; that checkpoint is kept")):
            label.setToolTip(tip)
            stats.addWidget(label)
        stats.addStretch(1)
        self.encoder_banner = QLabel(objectName="banner", wordWrap=True)
        self.encoder_banner.setText("This run uses an UNTRAINED DINOv2 encoder (allowed for tests and demos): the "
                                    "similarity-alignment term has no pretrained meaning, so its results are not the "
                                    "method's.")
        self.encoder_banner.setVisible(False)
        self.error_label = QLabel(objectName="error", wordWrap=True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)
        self.curves = TrainingCurves()

        header = QWidget()
        top = QVBoxLayout(header)
        top.setContentsMargins(6, 6, 6, 0)
        top.setSpacing(4)
        top.addWidget(self.run_title)
        top.addWidget(self.stage_label)
        top.addWidget(self.progress_bar)
        top.addLayout(stats)
        top.addWidget(self.encoder_banner)
        top.addWidget(self.error_label)

        self.runs_table = QTableWidget(0, 5)
        self.runs_table.setHorizontalHeaderLabels(["Run", "Method", "Status", "Best Dice", "Started"])
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs_table.setAlternatingRowColors(True)
        self.runs_table.verticalHeader().setVisible(False)
        self.runs_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header_view = self.runs_table.horizontalHeader()
        header_view.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 5):
            header_view.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.resume_button = QPushButton(icon("fa5s.redo"), "  Resume…")
        self.resume_button.setToolTip("Continue the selected run from its latest checkpoint (iterations may be raised)")
        self.folder_button = QPushButton(icon("fa5s.folder-open"), "  Open folder")
        self.folder_button.setToolTip("Show the run's folder: config, events, log and checkpoints")
        runs_buttons = QVBoxLayout()
        runs_buttons.addWidget(self.resume_button)
        runs_buttons.addWidget(self.folder_button)
        runs_buttons.addStretch(1)
        runs_page = QWidget()
        runs_layout = QHBoxLayout(runs_page)
        runs_layout.setContentsMargins(4, 4, 4, 4)
        runs_layout.addWidget(self.runs_table, 1)
        runs_layout.addLayout(runs_buttons)

        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setFont(QFont("monospace", 9))
        self.log.setPlaceholderText("The run's events and its train.log appear here.")
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(self.log, icon("fa5s.stream"), "Log")
        self.bottom_tabs.addTab(runs_page, icon("fa5s.history"), "Runs")
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.addWidget(self.curves)
        vertical.addWidget(self.bottom_tabs)
        vertical.setStretchFactor(0, 3)
        vertical.setStretchFactor(1, 1)
        vertical.setSizes([500, 260])
        view = QWidget()
        layout = QVBoxLayout(view)
        layout.setContentsMargins(0, 0, 6, 6)
        layout.addWidget(header)
        layout.addWidget(vertical, 1)
        return view

    # --- the main window's hooks --------------------------------------------------------------------------------------
    def activated(self) -> None:
        info = getattr(self.window(), "device_info", None)
        if info and info is not self.device_info:
            self.set_device_info(info)
        self._refresh_runs()
        if not self.monitor.live:
            self._reattach()

    def set_device_info(self, info: dict) -> None:
        """The devices ``sra-seg devices --json`` reported: fills the device choice."""
        self.device_info = info
        self.form.set_device_info(info)
        self.gpus.blockSignals(True)
        self.gpus.clear()
        for k in gpu_choices(info):
            self.gpus.addItem("1 GPU" if k == 1 else f"{k} GPUs", k)
        self.gpus.setCurrentIndex(self.gpus.findData(default_gpus(info, self.form.config())))
        self.gpus.blockSignals(False)
        self.gpus_box.setVisible(offers_gpu_choice(info))
        self._update_gpus_note()

    def chosen_gpus(self) -> int:
        """The GPUs choice (1 when it is not offered)."""
        if not offers_gpu_choice(self.device_info):
            return 1
        return self.gpus.currentData() or 1

    def _update_gpus_note(self) -> None:
        config = self.form.config()
        pinned = not uses_gpu_choice(config)
        self.gpus.setEnabled(not pinned and not self.monitor.live)
        found = gpus_found_text(gpu_count(self.device_info))
        self.gpus_found.setText(f"{found} · the device is set to {config.train.device}: one process" if pinned
                                else found)
        refusal = gpu_refusal(config, self.chosen_gpus())
        self.gpus_note.setText(refusal)
        self.gpus_note.setVisible(bool(refusal))

    def can_close(self) -> bool:
        """Before the window closes: a run still followed here is stopped, left running, or the close is cancelled."""
        if not self.monitor.live:
            return True
        choice = self._ask_close()
        if choice == "cancel":
            return False
        if choice == "stop":
            self.monitor.request_stop()
        self.monitor.detach()   # the run goes on (or stops by itself) without the window
        self._clock.stop()
        return True

    def _ask_close(self) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                          f"The run {self.monitor.run_dir.name} is still training.", parent=self)
        box.setInformativeText("Stop it (the latest checkpoint is saved, Resume continues it), or leave it running "
                               "in the background: reopening this project shows it again.")
        stop = box.addButton("Stop training", QMessageBox.ButtonRole.DestructiveRole)
        leave = box.addButton("Leave it running", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(leave)
        box.exec()
        return {stop: "stop", leave: "leave"}.get(box.clickedButton(), "cancel")

    # --- project ------------------------------------------------------------------------------------------------------
    def _project_changed(self) -> None:
        self.monitor.detach()   # a run of the previous project trains on; reopening that project shows it again
        self._kill_timer.stop()
        self._clock.stop()
        self._show_run_state(None)
        project = self.session.project
        if project is None:
            self._runs = []
            self.runs_table.setRowCount(0)
            self._update_buttons()
            return
        self.curves.set_class_colors({c.name: c.color for c in project.classes})
        self._refresh_runs()
        self.form.set_config(self._initial_config())
        if not self._reattach() and self._runs:
            self.show_run(self._runs[0].path)
        self._update_buttons()

    def _initial_config(self) -> RunConfig:
        return initial_config(self.session.project, self._runs)

    def _reattach(self) -> bool:
        """Follow a run of this project whose process is still training (started before this window opened)."""
        live = next((run for run in self._runs if run.running), None)
        if live is None:
            return False
        self.show_run(live.path)
        self.log.appendPlainText(f"— re-attached to {live.name} (process {live.pid}), still training —")
        return True

    # --- runs ---------------------------------------------------------------------------------------------------------
    def show_run(self, run_dir: Path, *, process=None, config: RunConfig | None = None) -> None:
        """Show a run's curves and log; follow it live when its process is running."""
        self._clear_run_view()
        self.monitor.attach(run_dir, process=process, config=config)
        self._show_run_state(self.monitor.run_dir)
        if self.monitor.live:
            self._clock.start()
        self._refresh_runs()   # the table's best Dice of this run is the header's
        self._select_row(run_dir)
        self._update_buttons()

    def start(self) -> None:
        """Save the labels, create the run folder with the resolved config, and launch ``sra-seg train``."""
        project = self.session.project
        if project is None or self.monitor.live:
            return
        if project.read_only:
            self._show_error("This project is open read-only: training writes to its runs folder. Close the other "
                             "window that edits it, then reopen the project.")
            return
        config = self.form.config()
        config.data.root = str(project.path)
        processes = processes_for(config, self.chosen_gpus())
        try:
            config.validate()
            if refusal := gpu_refusal(config, self.chosen_gpus()):
                self._show_error(f"Cannot start training: {refusal}")
                return
            self.session.save()   # the trainer reads the label files
            run_dir, process = launch_training(project, config, processes=processes)
        except SraSegError as exc:
            self._show_error(f"Cannot start training: {exc}")
            return
        except OSError as exc:
            self._show_error(f"Cannot start the training process: {exc}")
            return
        self.show_run(run_dir, process=process, config=config)
        self._refresh_runs()
        self.bottom_tabs.setCurrentWidget(self.log)
        on = f" on {processes} GPUs" if processes > 1 else ""
        self.log.appendPlainText(f"— started {run_dir.name}{on} (process {process.pid}) —")

    def stop(self) -> None:
        """SIGTERM: the trainer saves latest.pt and ends; after 20 s without an end, offer to kill it."""
        if not self.monitor.live:
            return
        self.monitor.request_stop()
        self.log.appendPlainText("— stop requested: saving the latest checkpoint —")
        self._kill_timer.start()
        self._update_buttons()

    def _stop_overdue(self) -> None:
        if not self.monitor.live:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Training does not stop",
                          f"The run {self.monitor.run_dir.name} has not stopped after "
                          f"{STOP_TIMEOUT_MS // 1000} s.", parent=self)
        box.setInformativeText("It may be validating or building the DINOv2 bank, and stops after that. Kill it "
                               "now? Its latest saved checkpoint stays; iterations since then are lost.")
        kill = box.addButton("Kill it", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Keep waiting", QMessageBox.ButtonRole.RejectRole)
        box.buttonClicked.connect(lambda button: self.monitor.kill() if button is kill else self._kill_timer.start())
        self.kill_box = box
        box.open()

    def resume_selected(self) -> None:
        run = self._selected_run()
        project = self.session.project
        if run is None or project is None or self.monitor.live:
            return
        if not run.resumable:
            QMessageBox.information(self, "Nothing to resume", f"{run.name} has no checkpoint to continue from "
                                    "(it ended before its first save). Start a new run instead.")
            return
        config = runs.read_config(run.path)
        if config is None:
            self._show_error(f"Cannot resume {run.name}: its config.yaml is missing or damaged.")
            return
        dialog = ResumeDialog(run, config, latest_checkpoint(run.path, config), parent=self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        pretrain, selftrain = dialog.iterations()
        try:
            config, process = launch_resume(project, run.path, pretrain, selftrain, gpus=self.chosen_gpus())
        except (SraSegError, OSError) as exc:
            self._show_error(f"Cannot resume {run.name}: {exc}")
            return
        self.show_run(run.path, process=process, config=config)
        self._refresh_runs()
        self.bottom_tabs.setCurrentWidget(self.log)
        self.log.appendPlainText(f"— resumed {run.name} (process {process.pid}) —")

    def open_selected_folder(self) -> None:
        run = self._selected_run()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.path)))

    def _refresh_runs(self) -> None:
        project = self.session.project
        selected = self._selected_run()
        self._runs = runs.list_runs(project.runs_dir) if project is not None else []
        table = self.runs_table
        table.blockSignals(True)
        table.setRowCount(len(self._runs))
        for row, run in enumerate(self._runs):
            status, best = run_row_status(run, self.monitor)
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)) if run.started else "–"
            for col, text in enumerate((run.name, run.method, status, best, started)):
                item = QTableWidgetItem(text)
                if col == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if run.encoder_pretrained is False and col == 0:
                    item.setToolTip("trained with an UNTRAINED DINOv2 encoder")
                table.setItem(row, col, item)
        table.blockSignals(False)
        self.bottom_tabs.setTabText(1, f"Runs ({len(self._runs)})")
        self._select_row(selected.path if selected else self.monitor.run_dir)

    def _select_row(self, path: Path | None) -> None:
        self.runs_table.blockSignals(True)
        self.runs_table.clearSelection()
        for row, run in enumerate(self._runs):
            if path is not None and run.path == Path(path):
                self.runs_table.selectRow(row)
        self.runs_table.blockSignals(False)
        self._update_buttons()

    def _selected_run(self) -> runs.Run | None:
        rows = self.runs_table.selectionModel().selectedRows() if self.runs_table.selectionModel() else []
        return self._runs[rows[0].row()] if rows and rows[0].row() < len(self._runs) else None

    def _selection_changed(self) -> None:
        run = self._selected_run()
        if run is not None and not self.monitor.live and run.path != self.monitor.run_dir:
            self.show_run(run.path)   # while a run trains, the view stays on it
        self._update_buttons()

    # --- following the run --------------------------------------------------------------------------------------------
    def _on_update(self, events: list, lines: list) -> None:
        shown = [format_event(e) for e in events]
        text = shown + [line for line in lines if line not in shown]   # the CLI repeats the error event's line
        if text:
            self.log.appendPlainText("\n".join(text))
        self.curves.show_progress(self.monitor.progress)
        self._update_status()
        if any(e.event == "validation" for e in events):
            self._refresh_runs()

    def _on_ended(self, status: str) -> None:
        self._kill_timer.stop()
        self._clock.stop()
        if self.kill_box is not None:
            self.kill_box.close()
            self.kill_box = None
        self._show_run_state(self.monitor.run_dir)
        self._refresh_runs()
        self._update_buttons()

    def _clear_run_view(self) -> None:
        self.curves.clear()
        self.log.clear()
        self.error_label.setVisible(False)
        self.encoder_banner.setVisible(False)

    def _show_run_state(self, run_dir: Path | None) -> None:
        """Title, end message and error of the shown run (None: no run)."""
        if run_dir is None:
            self._clear_run_view()
            self.run_title.setText("No run yet")
            self.stage_label.setText("Choose the settings and press Start training." if self.session.project
                                     else "Open a project to train on its labelled slices.")
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("")
            for label in (self.eta_label, self.rate_label, self.memory_label, self.best_label):
                label.setText("")
            return
        p = self.monitor.progress
        if p.status in ("failed", runs.DIED):
            self._show_error(failure_message(p, runs.log_tail(run_dir, 40), run_dir))
        self.curves.show_progress(p)
        self._update_status()

    def _update_status(self) -> None:
        m, p = self.monitor, self.monitor.progress
        if m.run_dir is None:
            return
        state = title_state(m)
        self.run_title.setText(f"{m.run_dir.name}  ·  {state}" if state else m.run_dir.name)
        self.progress_bar.setFormat("%v / %m iterations  (%p %)")
        self.progress_bar.setRange(0, max(1, p.total_iterations))
        self.progress_bar.setValue(min(p.global_iteration, max(1, p.total_iterations)))
        self.stage_label.setText(self._stage_text(p))
        eta = p.eta_now() if m.live else None
        self.eta_label.setText(f"ETA {duration_text(eta)}" if eta is not None else "")
        self.rate_label.setText(f"{p.throughput:.2f} it/s" if p.throughput else "")
        if p.memory_mb:
            where = "GPU memory" if p.device.startswith("cuda") else "memory"
            self.memory_label.setText(f"{where} {p.memory_mb / 1024:.1f} GB")
        else:
            self.memory_label.setText("")
        stage = f" (stage {2 if p.best_stage == 'selftrain' else 1})" if p.best_stage and len(p.totals) > 1 else ""
        self.best_label.setText(f"best Dice {dice_text(p.best_dice)}{stage}")
        self.encoder_banner.setVisible(p.untrained_encoder)
        for label in (self.eta_label, self.rate_label, self.memory_label, self.best_label):
            label.setVisible(bool(label.text()))

    def _stage_text(self, p: RunProgress) -> str:
        return stage_text(self.monitor)

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(True)

    def _update_buttons(self) -> None:
        project = self.session.project
        live = self.monitor.live
        # One of the two at a time: the style sheet gives disabled primary / danger buttons no look of their own.
        self.start_button.setVisible(not live)
        self.stop_button.setVisible(live)
        self.start_button.setEnabled(can_start(project))
        self.stop_button.setEnabled(not self.monitor.stop_requested)
        self.stop_button.setText("  Stopping…" if live and self.monitor.stop_requested else "  Stop")
        self.form.setEnabled(not live)
        self._update_gpus_note()
        run = self._selected_run()
        resumable = can_resume(project, run, self.monitor)
        self.resume_button.setEnabled(resumable)
        self.resume_main.setVisible(resumable)
        if resumable:
            self.resume_main.setToolTip(f"Continue {run.name} from its latest checkpoint (iterations may be raised)")
        self.folder_button.setEnabled(run is not None)


class ResumeDialog(QDialog):
    """Continue a run from latest.pt; the iteration counts may only grow (the CLI allows exactly that change)."""

    def __init__(self, run: runs.Run, config: RunConfig, latest: tuple[str, int] | None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Resume {run.name}")
        t = config.train
        self._current = (t.pretrain_iters, t.selftrain_iters)
        self._finished = run.status == "finished"
        where = (f"its last checkpoint ({STAGE_NAMES.get(latest[0], latest[0])}, iteration {latest[1]:,})"
                 if latest else "its last checkpoint")
        intro = QLabel(f"Continue {run.name} from {where} with its saved settings." +
                       (" It finished: raise an iteration count to train it further." if self._finished else ""),
                       wordWrap=True)
        self.pretrain = spin_box(t.pretrain_iters, 10_000_000, 100)
        self.pretrain.setValue(t.pretrain_iters)
        self.selftrain = spin_box(t.selftrain_iters, 10_000_000, 100)
        self.selftrain.setValue(t.selftrain_iters)
        form = QFormLayout()
        form.addRow("Stage 1 iterations", self.pretrain)
        form.addRow("Stage 2 iterations", self.selftrain)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Resume")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        for spin in (self.pretrain, self.selftrain):
            spin.valueChanged.connect(self._update)
        self._update()

    def iterations(self) -> tuple[int, int]:
        return self.pretrain.value(), self.selftrain.value()

    def _update(self) -> None:
        raised = self.iterations() != self._current
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(raised or not self._finished)
