"""The "Import images…" dialog: choose files, role and storage, import in a worker thread, then review the result.

The import reads every file in full to validate it, so it runs in the app's :class:`~sra_seg_app.model.worker.Worker`
(see :func:`sra_seg_app.model.importing.import_sources`; the project lock belongs to this process, so not a child
process). Every file
that was not imported is listed with its reason; the imported images appear as thumbnails, where any can be removed
again. The dialog emits ``session.casesChanged`` whenever it changed the project.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
    QLineEdit, QMessageBox, QProgressBar, QPushButton, QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout,
    QWidget,
)

from sra_seg_core.errors import SraSegError
from sra_seg_core.project import ImportReport
from sra_seg_app.model.importing import import_sources
from sra_seg_app.model.worker import Worker
from sra_seg_app.theme import icon
from sra_seg_app.widgets.thumbnails import ThumbnailGrid

IMAGE_FILTER = ("Images (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.dcm *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;"
                "All files (*)")


ROLES = (("real", "Real images — to label, train and evaluate on"),
         ("synthetic", "Synthetic images — the unlabelled pool from a generator (GAN, diffusion)"))
STORAGE = (("copy", "Copy into the project (recommended: the project folder stays complete)"),
           ("reference", "Reference them where they are (saves disk space; moving the originals breaks the project)"))
LABEL_KINDS = (("approved", "Approved — train on them (their slices are marked done)"),
               ("reference", "Reference — ground truth kept apart, for metrics only"))


def _choices(items: tuple[tuple[str, str], ...], current: str) -> QComboBox:
    combo = QComboBox()
    for key, text in items:
        combo.addItem(text, key)
    combo.setCurrentIndex(combo.findData(current))
    return combo


class ImportDialog(QDialog):
    """Import images into the session's project. ``role``: "real" or "synthetic" — the preselected role (the
    "Import synthetic…" action opens it with "synthetic")."""

    imported = Signal(list)   # case ids added

    def __init__(self, session, role: str = "real", parent=None):
        super().__init__(parent)
        self.session = session
        self.sources: list[Path] = []
        self.worker: Worker | None = None
        self.report: ImportReport | None = None
        self.cancelled = False
        self.removed_count = 0
        self.files_done = (0, 0)
        self.setWindowTitle("Import synthetic images" if role == "synthetic" else "Import images")
        self.setMinimumSize(780, 520)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._setup_page(role))
        self.pages.addWidget(self._running_page())
        self.pages.addWidget(self._result_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self._role_changed()
        self._update_start()

    # --- page 1: what to import ---------------------------------------------------------------------------------------
    def _setup_page(self, role: str) -> QWidget:
        page = QWidget()
        title = QLabel(self.windowTitle(), objectName="title")
        intro = QLabel("Choose a folder (subfolders included; a folder of .dcm files is one DICOM series) or single "
                       "files. Every file is read in full to check it; files that cannot be used are listed with the "
                       "reason, never dropped silently.", objectName="muted", wordWrap=True)
        self.source_edit = QLineEdit(readOnly=True, placeholderText="No folder or files chosen yet")
        folder_button = QPushButton(icon("fa5s.folder-open"), "Folder…")
        files_button = QPushButton(icon("fa5s.file-medical"), "Files…")
        folder_button.clicked.connect(self.choose_folder)
        files_button.clicked.connect(self.choose_files)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_edit, 1)
        source_row.addWidget(folder_button)
        source_row.addWidget(files_button)

        self.role_combo = _choices(ROLES, role)
        self.role_combo.currentIndexChanged.connect(lambda _i: self._role_changed())
        self.storage_combo = _choices(STORAGE, "copy")

        self.labels_box = QGroupBox("Labels (real images only)")
        found = QLabel("A label named like its image with _gt, _label or _seg (patient001_frame01_gt.nii.gz) is found "
                       "next to it automatically. Labels elsewhere: choose their folder (same file names).",
                       objectName="muted", wordWrap=True)
        self.label_edit = QLineEdit(placeholderText="Optional: folder holding the label files",
                                    clearButtonEnabled=True)
        label_button = QPushButton(icon("fa5s.folder-open"), "Folder…")
        label_button.clicked.connect(self.choose_label_folder)
        label_row = QHBoxLayout()
        label_row.addWidget(self.label_edit, 1)
        label_row.addWidget(label_button)
        self.label_kind_combo = _choices(LABEL_KINDS, "approved")
        labels_form = QFormLayout(self.labels_box)
        labels_form.addRow(found)
        labels_form.addRow("Folder", label_row)
        labels_form.addRow("Labels are", self.label_kind_combo)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Images", source_row)
        form.addRow("Role", self.role_combo)
        form.addRow("Storage", self.storage_combo)

        self.start_button = QPushButton(icon("fa5s.file-import"), "Import", objectName="primary")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        close = QPushButton("Cancel")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        buttons.addWidget(self.start_button)

        layout = QVBoxLayout(page)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addWidget(self.labels_box)
        layout.addStretch(1)
        layout.addLayout(buttons)
        return page

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to import")
        if folder:
            self.set_sources([Path(folder)])

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Images to import", "", IMAGE_FILTER)
        if files:
            self.set_sources([Path(f) for f in files])

    def choose_label_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder holding the label files")
        if folder:
            self.label_edit.setText(folder)

    def set_sources(self, sources: list[Path]) -> None:
        """A folder (one entry) or image files to import."""
        self.sources = [Path(s) for s in sources]
        if len(self.sources) == 1:
            self.source_edit.setText(str(self.sources[0]))
        else:
            names = ", ".join(p.name for p in self.sources[:3])
            self.source_edit.setText(f"{len(self.sources)} files: {names}{' …' if len(self.sources) > 3 else ''}")
        self.source_edit.setToolTip("\n".join(map(str, self.sources[:40])))
        self._update_start()

    @property
    def role(self) -> str:
        return self.role_combo.currentData()

    def options(self) -> dict:
        """The keyword arguments of ``Project.import_folder`` / ``import_files`` chosen in the form."""
        label_folder = self.label_edit.text().strip() if self.role == "real" else ""
        return {"role": self.role, "copy": self.storage_combo.currentData() == "copy",
                "label_folder": Path(label_folder) if label_folder else None,
                "label_as": self.label_kind_combo.currentData()}

    def _role_changed(self) -> None:
        self.labels_box.setEnabled(self.role == "real")

    def _update_start(self) -> None:
        project = self.session.project
        self.start_button.setEnabled(bool(self.sources) and project is not None and not project.read_only)
        if project is not None and project.read_only:
            self.start_button.setToolTip("The project is open read-only: importing is not possible.")

    # --- page 2: importing --------------------------------------------------------------------------------------------
    def _running_page(self) -> QWidget:
        page = QWidget()
        self.running_title = QLabel("Importing…", objectName="title")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.current_label = QLabel("Looking for images…", objectName="muted", wordWrap=True)
        self.cancel_button = QPushButton(icon("fa5s.stop"), "Cancel import")
        self.cancel_button.clicked.connect(self.cancel)
        note = QLabel("Cancelling stops after the file being read; images imported until then are kept and shown, "
                      "and can be removed on the next page.", objectName="muted", wordWrap=True)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(page)
        layout.addWidget(self.running_title)
        layout.addStretch(1)
        layout.addWidget(self.progress)
        layout.addWidget(self.current_label)
        layout.addStretch(1)
        layout.addWidget(note)
        layout.addLayout(row)
        return page

    def start(self) -> None:
        if not self.sources or self.session.project is None or self.worker is not None:
            return
        try:
            self.session.save()   # nothing else writes the manifest while the worker imports
        except SraSegError as exc:
            QMessageBox.warning(self, "Cannot import", f"Unsaved edits could not be saved first: {exc}")
            return
        self.pages.setCurrentIndex(1)
        self.running_title.setText(f"Importing {self.role} images…")
        project, sources, options = self.session.project, list(self.sources), self.options()
        self.worker = Worker(lambda worker: import_sources(
            project, sources, options, on_progress=lambda *done: worker.report(done),
            cancelled=lambda: worker.cancelled), self)
        self.worker.progress.connect(lambda done: self._progress(*done))
        self.worker.done.connect(lambda result: self._done(*result))
        self.worker.failed.connect(self._failed)
        self.worker.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.current_label.setText("Cancelling after the file being read…")

    def _progress(self, done: int, total: int, path: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} of {total} files")
        if self.cancel_button.isEnabled():
            self.current_label.setText(f"Checked {Path(path).name}")

    def _failed(self, exc: BaseException) -> None:
        self.worker = None
        message = str(exc) if isinstance(exc, (SraSegError, OSError)) else f"{type(exc).__name__}: {exc}"
        self.result_title.setText("Import failed")
        self.summary_label.setText("Nothing was imported.")
        self.error_label.setText(f"{message}\n\nCheck that the folder or files still exist and can be read, then "
                                 "try again.")
        self.error_label.show()
        self.problems.hide()
        self.images_label.hide()
        self.grid.hide()
        self.pages.setCurrentIndex(2)

    def _done(self, report: ImportReport, cancelled: bool) -> None:
        self.worker = None
        self.report, self.cancelled = report, cancelled
        self.files_done = (self.progress.value(), self.progress.maximum())
        ids = [c.id for c in report.imported]
        if ids:
            self.session.casesChanged.emit()
            self.imported.emit(ids)
        self._show_result()
        self.grid.set_cases(ids)
        self.resize(max(self.width(), 980), max(self.height(), 760))

    # --- page 3: what happened ----------------------------------------------------------------------------------------
    def _result_page(self) -> QWidget:
        page = QWidget()
        self.result_title = QLabel("Import finished", objectName="title")
        self.summary_label = QLabel("", wordWrap=True)
        self.error_label = QLabel("", objectName="error", wordWrap=True)
        self.error_label.hide()
        self.problems = QTableWidget(0, 2)
        self.problems.setHorizontalHeaderLabels(["File", "Why it was not imported"])
        self.problems.verticalHeader().hide()
        self.problems.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.problems.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.problems.setWordWrap(True)
        header = self.problems.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        # long reasons wrap: rows grow with the column whenever the dialog is resized
        header.sectionResized.connect(lambda *_: self.problems.resizeRowsToContents())
        self.problems.setColumnWidth(0, 260)
        self.problems.setMinimumHeight(150)
        self.grid = ThumbnailGrid(self.session, case_ids=[])
        self.grid.removed.connect(self._removed)
        self.grid.caseActivated.connect(lambda _case: self.accept())
        done = QPushButton("Done", objectName="primary")
        done.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(done)
        layout = QVBoxLayout(page)
        layout.addWidget(self.result_title)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.problems, 1)
        self.images_label = QLabel("Imported images — double-click to open one, select and remove any that do not "
                                   "belong", objectName="muted", wordWrap=True)
        layout.addWidget(self.images_label)
        layout.addWidget(self.grid, 3)
        layout.addLayout(buttons)
        return page

    def _show_result(self) -> None:
        report = self.report
        rows = [(p, reason) for p, reason in report.skipped] + [(p, "not an image file (ignored)")
                                                                 for p in report.ignored]
        self.problems.setRowCount(len(rows))
        for row, (path, reason) in enumerate(rows):
            name = QTableWidgetItem(self._shown_name(Path(path)))
            name.setToolTip(str(path))
            why = QTableWidgetItem(reason)
            why.setToolTip(reason)
            self.problems.setItem(row, 0, name)
            self.problems.setItem(row, 1, why)
        self.problems.resizeRowsToContents()
        self.problems.setVisible(bool(rows))
        self.result_title.setText("Import cancelled" if self.cancelled else "Import finished")
        self.summary_label.setText(self._summary())
        self.pages.setCurrentIndex(2)

    def _shown_name(self, path: Path) -> str:
        """A file's name, with its subfolders when it lies inside the chosen folder (many Info.cfg files differ
        only there)."""
        folder = self.sources[0].absolute()
        if len(self.sources) == 1 and self.sources[0].is_dir() and path.is_relative_to(folder) and path != folder:
            return path.relative_to(folder).as_posix()
        return path.name  # also the chosen folder itself, when it is one DICOM series

    def _summary(self) -> str:
        report = self.report
        n = len(report.imported)
        parts = [f"{n} {self.role} image{'s' if n != 1 else ''} imported"]
        if report.imported:
            labelled = sum(1 for c in report.imported if c.label)
            references = sum(1 for c in report.imported if c.reference)
            slices = sum(c.shape[0] for c in report.imported)
            parts[0] += f" ({slices} slices"
            parts[0] += f", {labelled} with approved labels" if labelled else ""
            parts[0] += f", {references} with reference labels" if references else ""
            parts[0] += ")"
        if report.skipped:
            parts.append(f"{len(report.skipped)} not imported — see the reasons below")
        if report.ignored:
            parts.append(f"{len(report.ignored)} file{'s' if len(report.ignored) != 1 else ''} ignored (not images)")
        text = "; ".join(parts) + "."
        if self.cancelled:
            text = f"Cancelled after {self.files_done[0]} of {self.files_done[1]} files; the rest were not read. {text}"
        if self.removed_count:
            text += f" {self.removed_count} of them removed again."
        return text

    def _removed(self, case_ids: list[str]) -> None:
        self.removed_count += len(case_ids)
        self.summary_label.setText(self._summary())

    # --- closing ------------------------------------------------------------------------------------------------------
    def done(self, result: int) -> None:
        """Closing while importing cancels the import and waits for it (the project must not be left mid-write)."""
        if self.worker is not None:
            self.worker.stop()
        self.grid.stop()
        super().done(result)
