"""The Export workspace: choose cases, labels and formats, export in a child process, and see what was written.

The export itself is ``sra-seg project export … --events -`` (see :mod:`sra_seg_core.export`), run through
:class:`~sra_seg_app.model.jobs.EngineRun`, so a large export never freezes the window and Cancel always works. The
output folder and the chosen options are remembered in the project's settings. The overlay preview is drawn by the
engine's own overlay function, so it is exactly what the overlay PNGs will look like.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup, QFileDialog, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QMessageBox, QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSlider, QTreeWidget,
    QTreeWidgetItem, QVBoxLayout, QWidget,
)

from sra_seg_core.errors import SraSegError
from sra_seg_core.events import Event
from sra_seg_core.export import ExportOptions, display_window, hex_rgb, overlay_rgb
from sra_seg_core.project import SliceStatus
from sra_seg_core.project.status import has_label_data
from sra_seg_app.model import export as model
from sra_seg_app.model.export import FORMATS, SOURCES, WHAT, ExportChoices, FolderState, has_source
from sra_seg_app.model.jobs import EngineRun
from sra_seg_app.theme import MUTED, icon

ICONS = {"nifti": "fa5s.cube", "png_masks": "fa5s.th", "png_overlays": "fa5s.layer-group", "metrics_csv": "fa5s.table",
         "dicom_seg": "fa5s.hospital"}
_CASE, _APPROVED, _PREDICTION, _REFERENCE = range(4)
_ID = Qt.ItemDataRole.UserRole
_WARN, _FAIL = "#d9a441", "#d9534f"


def _toggle(text: str, icon_name: str | None, tip: str) -> QPushButton:
    button = QPushButton(icon(icon_name), f" {text}", checkable=True, toolTip=tip) if icon_name else \
        QPushButton(text, checkable=True, toolTip=tip)
    button.setMinimumHeight(30)
    return button


class ExportWorkspace(QWidget):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.run = EngineRun(self)
        self.run.event.connect(self._on_event)
        self.run.finished.connect(self._on_finished)
        self.result: dict | None = None          # the last export's report (ExportReport.to_json())
        self._preview_cache: dict[tuple[str, str], tuple] = {}   # (case, kind) -> (image, window, labels)
        self._preview_pixmap: QPixmap | None = None
        self._stale = False
        self._cancelling = False

        content = QWidget()
        columns = QHBoxLayout(content)
        columns.setContentsMargins(10, 8, 10, 8)
        columns.setSpacing(12)
        columns.addWidget(self._build_cases(), 5)
        right = QVBoxLayout()
        right.setSpacing(8)
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(self._build_options(), 1)
        top.addWidget(self._build_preview(), 1)
        right.addLayout(top, 3)
        right.addWidget(self._build_result(), 2)
        columns.addLayout(right, 7)
        # scrolls in a narrow window instead of imposing its width on the other workspaces (they share one stack)
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        session.projectChanged.connect(self._project_changed)
        session.casesChanged.connect(self._cases_changed)
        session.predictionChanged.connect(lambda _case: self._cases_changed())
        session.statusChanged.connect(lambda _case: self._cases_changed())
        self._project_changed()

    # --- construction -------------------------------------------------------------------------------------------------
    def _build_cases(self) -> QWidget:
        box = QGroupBox("Cases")
        box.setMinimumWidth(280)
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.quick: dict[str, QPushButton] = {}
        for key, text, tip in (("all", "All", "Tick every case"),
                               ("labelled", "Labelled", "Tick the cases with approved labels"),
                               ("predicted", "Predicted", "Tick the cases with a model prediction"),
                               ("none", "None", "Untick every case")):
            button = QPushButton(text, toolTip=tip)
            button.clicked.connect(lambda _=False, k=key: self.select(k))
            row.addWidget(button)
            self.quick[key] = button
        row.addStretch(1)
        layout.addLayout(row)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Case", "Approved", "Pred.", "Ref."])
        for column, tip in ((_APPROVED, "Slices done in the approved label"),
                            (_PREDICTION, "Has a model prediction"),
                            (_REFERENCE, "Has a reference label (for the metrics table)")):
            self.tree.headerItem().setToolTip(column, tip)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(_CASE, header.ResizeMode.Stretch)
        for column in (_APPROVED, _PREDICTION, _REFERENCE):
            header.setSectionResizeMode(column, header.ResizeMode.ResizeToContents)
            self.tree.headerItem().setTextAlignment(column, Qt.AlignmentFlag.AlignCenter)
        self.tree.itemChanged.connect(lambda _item, column: column == _CASE and self._update_count())
        self.tree.currentItemChanged.connect(lambda *_: self._update_preview())
        layout.addWidget(self.tree, 1)
        self.count_label = QLabel("", objectName="muted", wordWrap=True)
        layout.addWidget(self.count_label)
        return box

    def _build_options(self) -> QWidget:
        column = QWidget()
        column.setMinimumWidth(290)
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)

        labels = QGroupBox("Labels to export")
        self._option_groups = [labels]
        ll = QVBoxLayout(labels)
        row = QHBoxLayout()
        self.source_group = QButtonGroup(self)
        self.source_buttons: dict[str, QPushButton] = {}
        for key, (text, hint) in SOURCES.items():
            button = _toggle(text, None, hint)
            self.source_group.addButton(button)
            self.source_buttons[key] = button
            row.addWidget(button)
        self.source_group.buttonToggled.connect(lambda _button, on: on and self._options_changed())
        ll.addLayout(row)
        self.source_hint = QLabel("", objectName="muted", wordWrap=True)
        ll.addWidget(self.source_hint)
        layout.addWidget(labels)

        formats = QGroupBox("Formats")
        self._option_groups.append(formats)
        fl = QGridLayout(formats)
        self.format_buttons: dict[str, QPushButton] = {}
        for k, (key, (text, tip, _writes)) in enumerate(FORMATS.items()):
            button = _toggle(text, ICONS[key], tip)
            button.toggled.connect(lambda _on: self._options_changed())
            self.format_buttons[key] = button
            fl.addWidget(button, k // 2, k % 2)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Overlay opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=45)
        self.opacity.setToolTip("How strongly the class colours cover the scan (outlines stay solid)")
        self.opacity_label = QLabel("45 %")
        self.opacity_label.setMinimumWidth(40)
        self.opacity.valueChanged.connect(self._opacity_changed)
        opacity_row.addWidget(self.opacity, 1)
        opacity_row.addWidget(self.opacity_label)
        rows = (len(FORMATS) + 1) // 2
        fl.addLayout(opacity_row, rows, 0, 1, 2)
        self.writes = QLabel("", objectName="muted", wordWrap=True)
        self.writes.setTextFormat(Qt.TextFormat.PlainText)
        fl.addWidget(self.writes, rows + 1, 0, 1, 2)
        layout.addWidget(formats)

        output = QGroupBox("Output folder")
        self._option_groups.append(output)
        ol = QVBoxLayout(output)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit(placeholderText="A folder for the exported files")
        self.folder_edit.textChanged.connect(self._folder_edited)
        browse = QPushButton(icon("fa5s.folder-open"), " Choose…")
        browse.clicked.connect(self.choose_folder)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        ol.addLayout(row)
        ol.addWidget(QLabel("Same-named files are replaced; nothing else is touched.", objectName="muted",
                            wordWrap=True))
        layout.addWidget(output)

        layout.addStretch(1)
        self.progress_label = QLabel("", objectName="muted", wordWrap=True)
        self.progress_label.setVisible(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.progress)
        buttons = QHBoxLayout()
        self.export_button = QPushButton(icon("fa5s.file-export"), "  Export", objectName="primary")
        self.export_button.setMinimumHeight(34)
        self.export_button.setToolTip("Save unsaved edits, then write the chosen files (Ctrl+E)")
        self.export_button.setShortcut("Ctrl+E")
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button = QPushButton(icon("fa5s.stop"), "  Cancel", objectName="danger")
        self.cancel_button.setMinimumHeight(34)
        self.cancel_button.setToolTip("Stop after the current slice; files already written are kept")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setVisible(False)
        buttons.addWidget(self.export_button, 1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        return column

    def _build_preview(self) -> QWidget:
        box = QGroupBox("Overlay preview")
        box.setMinimumWidth(240)
        layout = QVBoxLayout(box)
        self.preview = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(200, 180)
        self.preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.preview_caption = QLabel("", objectName="muted", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.preview_caption)
        return box

    def _build_result(self) -> QWidget:
        box = QGroupBox("Last export")
        layout = QVBoxLayout(box)
        self.error_label = QLabel("", objectName="error", wordWrap=True)
        self.error_label.setVisible(False)
        layout.addWidget(self.error_label)
        row = QHBoxLayout()
        self.summary = QLabel("", wordWrap=True, alignment=Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton(icon("fa5s.external-link-alt"), "  Open folder")
        self.open_button.setToolTip("Show the exported files in the file manager")
        self.open_button.clicked.connect(self.open_folder)
        row.addWidget(self.summary, 1)
        row.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(row)
        self.problems = QListWidget()
        self.problems.setWordWrap(True)
        self.problems.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.problems.setVisible(False)
        layout.addWidget(self.problems, 1)
        layout.addStretch(0)
        return box

    # --- state from the project ---------------------------------------------------------------------------------------
    def activated(self) -> None:
        """Called by the main window when the workspace is shown: cases may have gained labels or predictions."""
        self._stale = False
        self._rebuild_cases()
        self._update_preview()

    def _cases_changed(self) -> None:
        # while another workspace is shown (labelling), the list is brought up to date when this one is shown
        if self.isVisible():
            self._rebuild_cases()
        else:
            self._stale = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.activated()

    def _project_changed(self) -> None:
        """Options from the project's settings (or defaults), the default ticks, and no result yet."""
        project = self.session.project
        self.tree.clear()  # the previous project's cases must not be previewed while the options are set
        choices = ExportChoices.from_settings(project)
        source = choices.source
        self.source_buttons[source].setChecked(True)
        for key, button in self.format_buttons.items():
            button.setChecked(choices.formats[key])
        self.opacity.setValue(round(100 * choices.opacity))
        self.folder_edit.setText(choices.folder)
        self._rebuild_cases(default=source)
        self._show_result(None)
        self.error_label.setVisible(False)
        self._options_changed()

    def _rebuild_cases(self, default: str | None = None) -> None:
        """Fill the case list, keeping the ticks of cases already listed; ``default`` ticks new cases having it."""
        project = self.session.project
        ticked = self._tick_states()
        current = self.current_case()
        self._preview_cache.clear()  # labels or predictions may have changed on disk
        self.tree.blockSignals(True)
        self.tree.clear()
        for case in project.cases if project is not None else []:
            status = case.slice_status
            approved = (f"{status.count(SliceStatus.DONE.value)}/{len(status)}" if has_label_data(project, case)
                        else "—")
            item = QTreeWidgetItem([case.id, approved, "✓" if case.prediction else "—",
                                    "✓" if case.reference else "—"])
            item.setData(_CASE, _ID, case.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            tick = ticked.get(case.id, bool(default) and has_source(project, case, default))
            item.setCheckState(_CASE, Qt.CheckState.Checked if tick else Qt.CheckState.Unchecked)
            item.setIcon(_CASE, icon("fa5s.magic", MUTED) if case.role == "synthetic" else icon("fa5s.user"))
            item.setToolTip(_CASE, f"{case.id}: {case.role} case, {' x '.join(map(str, case.shape))} voxels")
            for column in (_APPROVED, _PREDICTION, _REFERENCE):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignCenter)
                if item.text(column) == "—":
                    item.setForeground(column, self.palette().placeholderText())
            self.tree.addTopLevelItem(item)
            if case.id == current:
                self.tree.setCurrentItem(item)
        self.tree.blockSignals(False)
        self._update_count()

    def _items(self) -> list[QTreeWidgetItem]:
        return [self.tree.topLevelItem(k) for k in range(self.tree.topLevelItemCount())]

    def _tick_states(self) -> dict[str, bool]:
        return {item.data(_CASE, _ID): item.checkState(_CASE) == Qt.CheckState.Checked for item in self._items()}

    # --- choices --------------------------------------------------------------------------------------------------
    def selected_source(self) -> str:
        return next((key for key, button in self.source_buttons.items() if button.isChecked()), "approved")

    def selected_cases(self) -> list[str]:
        """Ticked case ids, in project order."""
        return [case_id for case_id, on in self._tick_states().items() if on]

    def current_case(self) -> str:
        item = self.tree.currentItem()
        return item.data(_CASE, _ID) if item is not None else ""

    def select(self, which: str) -> None:
        """Tick "all", "none", the "labelled" or the "predicted" cases."""
        if self.session.project is not None:
            self.set_selected_cases(model.quick_selection(self.session.project, which))

    def set_selected_cases(self, case_ids) -> None:
        """Tick exactly these cases."""
        wanted = set(case_ids)
        self.tree.blockSignals(True)
        for item in self._items():
            on = item.data(_CASE, _ID) in wanted
            item.setCheckState(_CASE, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.tree.blockSignals(False)
        self._update_count()

    def choices(self) -> ExportChoices:
        """The chosen options, as the model keeps them (and the project settings remember them)."""
        return ExportChoices(folder=self.folder_edit.text().strip(), source=self.selected_source(),
                             formats={key: button.isChecked() for key, button in self.format_buttons.items()},
                             opacity=self.opacity.value() / 100)

    def options(self) -> dict:
        """The chosen options, as saved in the project settings."""
        return self.choices().to_settings()

    def export_options(self) -> ExportOptions:
        """The chosen options as the engine's typed options (what the CLI and export_project take)."""
        return self.choices().options()

    def _options_changed(self) -> None:
        source = self.selected_source()
        self.source_hint.setText(SOURCES[source][1])
        self.opacity.setEnabled(self.format_buttons["png_overlays"].isChecked())
        self.writes.setText(self.choices().writes_text())
        self._update_count()
        self._update_preview()

    def _opacity_changed(self, value: int) -> None:
        self.opacity_label.setText(f"{value} %")
        self._update_preview()

    def _update_count(self) -> None:
        text = model.count_text(self.session.project, self.selected_cases(), self.tree.topLevelItemCount(),
                                self.selected_source())
        self.count_label.setText(text)
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.run.running
        ready = (self.session.project is not None and bool(self.selected_cases())
                 and bool(self.folder_edit.text().strip())
                 and any(button.isChecked() for button in self.format_buttons.values()))
        self.export_button.setEnabled(ready and not running)
        self.export_button.setVisible(not running)
        # the running export took its options when it started: show them as they are until it ends
        for widget in (*self.quick.values(), self.tree, *self._option_groups):
            widget.setEnabled(not running)

    def _folder_edited(self, text: str) -> None:
        self.folder_edit.setToolTip(text)  # a long path does not fit the field
        self._update_buttons()

    def choose_folder(self) -> None:
        start = self.folder_edit.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", start)
        if folder:
            self.folder_edit.setText(folder)
            self._remember()

    def _remember(self) -> None:
        """Keep the options in the project settings (a read-only project keeps them for this session only)."""
        project = self.session.project
        if project is None or project.read_only:
            return
        project.settings[model.SETTINGS_KEY] = self.options()
        try:
            project.save()
        except SraSegError as exc:
            self.session.message.emit(f"Export settings not saved: {exc}")

    # --- preview ------------------------------------------------------------------------------------------------------
    def _preview_target(self) -> str:
        """The case to preview: the highlighted one, else the first ticked case with something to export."""
        return model.preview_target(self.session.project, self.current_case(), self.selected_cases(),
                                    self.selected_source())

    def _update_preview(self) -> None:
        project = self.session.project
        case_id = self._preview_target()
        if project is None or not case_id:
            self._show_preview(None, "Tick a case to preview its overlay.")
            return
        case = project.case(case_id)
        kind = model.preview_kind(project, case, self.selected_source())
        if kind is None:
            self._show_preview(None, f"{case_id} has no approved label or prediction to show.")
            return
        try:
            image, window, labels = self._preview_data(case_id, kind)
        except SraSegError as exc:
            self._show_preview(None, f"Cannot preview {case_id}: {exc}")
            return
        counts = labels.reshape(labels.shape[0], -1).astype(bool).sum(axis=1)
        z = int(np.argmax(counts))  # the slice with the most labelled pixels shows the most
        colors = {c.value: hex_rgb(c.color) for c in project.classes}
        rgb = overlay_rgb(image.array[z], labels[z], colors, window=window, opacity=self.opacity.value() / 100)
        self._show_preview(rgb, f"{case_id} · slice {z + 1} of {labels.shape[0]} · {WHAT[kind]}")

    def _preview_data(self, case_id: str, kind: str) -> tuple:
        """Image, display window and label volume of a case, kept while that case is previewed (opacity changes).

        Read from the project, journal included, rather than through the session, so previewing many cases does not
        keep their volumes in the session's caches.
        """
        key = (case_id, kind)
        if key not in self._preview_cache:
            project = self.session.project
            image = project.read_image(case_id)
            labels = project.read_label(case_id) if kind == "approved" else project.read_prediction(case_id)
            self._preview_cache.clear()
            self._preview_cache[key] = (image, display_window(image.array), labels.array)
        return self._preview_cache[key]

    def _show_preview(self, rgb: np.ndarray | None, caption: str) -> None:
        self.preview_caption.setText(caption)
        if rgb is None:
            self._preview_pixmap = None
            self.preview.setPixmap(QPixmap())
            return
        height, width, _ = rgb.shape
        data = np.ascontiguousarray(rgb)
        self._preview_pixmap = QPixmap.fromImage(
            QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy())
        self._fit_preview()

    def _fit_preview(self) -> None:
        if self._preview_pixmap is not None:
            self.preview.setPixmap(self._preview_pixmap.scaled(
                self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_preview()

    # --- running ------------------------------------------------------------------------------------------------------
    def start_export(self) -> bool:
        """Save unsaved edits, then run the export in a child process. Returns whether it started."""
        project = self.session.project
        if project is None or self.run.running:
            return False
        cases = self.selected_cases()
        folder = self.folder_edit.text().strip()
        if not cases or not folder:
            self._error("Tick at least one case and choose an output folder.")
            return False
        out = Path(folder).expanduser().absolute()
        state = model.folder_state(out)
        if state == FolderState.NOT_A_FOLDER:
            self._error(f"{out} is a file, not a folder. Choose a folder for the exported files.")
            return False
        # the engine refuses a folder holding other files unless told --overwrite: ask the user first
        overwrite = state == FolderState.HOLDS_OTHER_FILES
        if overwrite and not self.confirm_non_empty(out):
            return False
        try:
            self.session.save()
        except SraSegError as exc:
            self._error(f"Unsaved edits could not be saved, so nothing was exported: {exc}")
            return False
        self._remember()
        args = model.export_args(project.path, out, self.export_options(), overwrite=overwrite)
        self.error_label.setVisible(False)
        self.result = None
        self.progress.setRange(0, 0)  # busy until the first progress event says how many cases
        self.progress_label.setText("Starting the export…")
        for widget in (self.progress, self.progress_label, self.cancel_button):
            widget.setVisible(True)
        self.cancel_button.setEnabled(True)
        self._cancelling = False
        self.run.start(*args)
        # the case ids go through stdin: thousands of them would not fit on a command line
        self.run.process.write(("\n".join(cases) + "\n").encode("utf-8"))
        self.run.process.closeWriteChannel()
        self._update_buttons()
        return True

    def confirm_non_empty(self, folder: Path) -> bool:
        answer = QMessageBox.question(
            self, "Folder not empty",
            f"{folder} already holds other files.\n\nThe exported files are added beside them (files with the same "
            "names are replaced). Export there?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop a running export and wait for it (for the window's close): a stopped export leaves no temporary
        files, a killed one may."""
        if self.run.running:
            self.run.stop()
            self.run.wait(timeout_ms)
            self.run.kill()

    def cancel(self) -> None:
        if self.run.running:
            self._cancelling = True
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Stopping after the current slice…")
            self.run.stop()

    def _on_event(self, event: Event) -> None:
        if event.event == "progress" and event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.iteration)
            if event.case and self.cancel_button.isEnabled():
                eta = f" · about {max(1, round(event.eta_s))} s left" if event.eta_s else ""
                self.progress_label.setText(
                    f"Exporting {event.case} ({event.iteration + 1} of {event.total}){eta}")
        elif event.event == "done":
            self.result = event.result or {}

    def _on_finished(self, code: int, error: str) -> None:
        for widget in (self.progress, self.progress_label, self.cancel_button):
            widget.setVisible(False)
        self._update_buttons()
        if self.result is None:
            self._show_result(None)
            if self._cancelling:  # stopped while starting up, before it could write anything
                self.summary.setText("The export was cancelled before it wrote any file.")
            else:
                self._error(f"Export failed: {error or f'the export process ended unexpectedly (exit code {code})'}")
            return
        self._show_result(self.result)

    def _show_result(self, result: dict | None) -> None:
        """The summary of an export report (``ExportReport.to_json()``), or the empty state for None."""
        self.problems.clear()
        self.open_button.setEnabled(result is not None)
        if result is None:
            self.summary.setText(f"<span style='color:{MUTED}'>Nothing exported yet in this session.</span>")
            self.problems.setVisible(False)
            return
        lines = [f"<b>{model.result_headline(result)}</b>", f"<span style='color:{MUTED}'>{result['out_dir']}</span>"]
        if result["failed"]:
            lines.append(f"<span style='color:{_FAIL}'>{model.failed_text(result)}</span>")
        for what, dice, cases in model.metrics_lines(result):
            lines.append(f"Mean Dice of the {what}s against the reference: <b>{dice:.1f} %</b>"
                         f" ({cases} case{'' if cases == 1 else 's'})")
        self.summary.setText("<br>".join(lines))
        for case_id, reason in result["failed"]:
            self._problem("fa5s.times-circle", _FAIL, f"{case_id} — not exported: {reason}")
        for case_id, reason in result["skipped"]:
            self._problem("fa5s.exclamation-triangle", _WARN, f"{case_id} — {reason}")
        self.problems.setVisible(self.problems.count() > 0)

    def _problem(self, icon_name: str, color: str, text: str) -> None:
        item = QListWidgetItem(icon(icon_name, color), text)
        item.setToolTip(text)
        self.problems.addItem(item)

    def _error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(True)

    def open_folder(self) -> None:
        if self.result and self.result.get("out_dir"):
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.result["out_dir"]))
