"""The main window: toolbar, workspaces, the cases and tools docks, the status bar and the shortcuts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton, QAbstractSlider, QAbstractSpinBox, QApplication, QComboBox, QDialog, QDockWidget, QFileDialog,
    QInputDialog, QLabel, QLineEdit, QListWidget, QMainWindow, QMenu, QMessageBox, QPlainTextEdit,
    QStackedWidget, QTextEdit, QToolBar, QToolButton, QVBoxLayout, QWidget,
)

from sra_seg_core.errors import ProjectLockedError, SraSegError
from sra_seg_core.settings import user_data_dir
from sra_seg_app.workspaces.blend import BlendWorkspace
from sra_seg_app.widgets.case_browser import CaseBrowser
from sra_seg_app.workspaces.export import ExportWorkspace
from sra_seg_app.widgets.import_dialog import ImportDialog
from sra_seg_app.workspaces.plan import PlanPanel
from sra_seg_app.workspaces.review import ReviewWorkspace
from sra_seg_app.widgets.thumbnails import ThumbnailGrid
from sra_seg_app.workspaces.train import TrainWorkspace
from sra_seg_app.workspaces.label import LabelWorkspace
from sra_seg_app.model.demo_fill import DemoFill
from sra_seg_app.model.jobs import EngineRun
from sra_seg_app.model.session import SaveError, Session
from sra_seg_app.theme import icon
from sra_seg_app.widgets.shortcut_help import ShortcutHelp
from sra_seg_app.widgets.tools_panel import ToolsPanel
from sra_seg_app.widgets.welcome import WelcomePage
from sra_seg_app.widgets.indices_panel import ProjectIndicesPanel
from sra_seg_app.widgets.label_stats import LabelStatsTable

DEMO_FOLDER = "demo-project"
TEXT_FIELDS = (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)


def is_typing(widget) -> bool:
    """Whether ``widget`` (the focus widget) is a text field being typed in: single keys are its, not shortcuts."""
    while widget is not None:
        if isinstance(widget, TEXT_FIELDS):
            return not (hasattr(widget, "isReadOnly") and widget.isReadOnly())
        widget = widget.parentWidget() if isinstance(widget, QWidget) and not widget.isWindow() else None
    return False


def keep_focus_off(panel: QWidget) -> None:
    """A click on a button, slider, box or list in ``panel`` leaves the keyboard with the image (text fields still
    take it), so the next number key chooses a class instead of moving the control."""
    for kind in (QAbstractButton, QAbstractSlider, QComboBox, QListWidget):
        for widget in panel.findChildren(kind):
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)


def demo_project_path() -> Path:
    return user_data_dir() / DEMO_FOLDER


class MainWindow(QMainWindow):
    def __init__(self, session: Session | None = None):
        super().__init__()
        self.session = session or Session(self)
        self.demo_fill = DemoFill(self.session, self)
        self.demo_fill.added.connect(self._demo_patient_added)
        self.demo_fill.failed.connect(lambda text: QMessageBox.warning(self, "Demo project", text))
        self.setWindowTitle("SRA-Seg Studio")
        self.resize(1440, 900)
        self.label_ws = LabelWorkspace(self.session)
        self.canvas = self.label_ws.canvas
        self.welcome = WelcomePage()
        self.banner = QLabel(objectName="banner")
        self.banner.setVisible(False)
        self.banner.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.blend_ws = BlendWorkspace(self.session)
        self.train_ws = TrainWorkspace(self.session)
        self.review_ws = ReviewWorkspace(self.session)
        self.export_ws = ExportWorkspace(self.session)
        self.workspaces: dict[str, QWidget] = {"Label": self.label_ws, "Blend": self.blend_ws,
                                               "Train": self.train_ws, "Review": self.review_ws,
                                               "Export": self.export_ws}
        for widget in self.workspaces.values():
            self.stack.addWidget(widget)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.setSpacing(4)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self._build_docks()
        self._build_toolbar()
        self._build_status_bar()
        self._build_shortcuts()
        self._connect()
        self._show_welcome()
        QTimer.singleShot(0, self._detect_device)

    # --- construction ---------------------------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.browser = CaseBrowser(self.session)
        self.cases_dock = QDockWidget("Cases", self)
        self.cases_dock.setObjectName("cases")
        self.cases_dock.setWidget(self.browser)
        self.cases_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.cases_dock)
        self.tools = ToolsPanel()
        self.tools_dock = QDockWidget("Tools and labels", self)
        self.tools_dock.setObjectName("tools")
        self.tools_dock.setWidget(self.tools)
        self.tools_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.tools_dock)
        self.assist_dock = QDockWidget("Assist", self)
        self.assist_dock.setObjectName("assist")
        self.assist_dock.setWidget(self.label_ws.assist_panel)
        self.assist_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.assist_dock)
        self.tabifyDockWidget(self.tools_dock, self.assist_dock)
        self.tools_dock.raise_()
        for panel in (self.tools, self.label_ws.assist_panel):
            keep_focus_off(panel)
        self.plan = PlanPanel(self.session)
        self.plan_dock = QDockWidget("Which 10 %", self)
        self.plan_dock.setObjectName("plan")
        self.plan_dock.setWidget(self.plan)
        self.plan_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.plan_dock)
        self.tabifyDockWidget(self.cases_dock, self.plan_dock)
        self.cases_dock.raise_()
        self.plan_dock.visibilityChanged.connect(lambda shown: shown and self.plan.activated())
        self.resizeDocks([self.cases_dock, self.tools_dock], [300, 290], Qt.Orientation.Horizontal)
        self._build_clinical_docks()

    def _build_clinical_docks(self) -> None:
        """Label statistics of the shown case and the project's cardiac indices: bottom docks, closed until asked
        for from the toolbar's Panels menu."""
        names = lambda: {c.value: c.name for c in self.session.project.classes} if self.session.project else {}
        self.label_stats = LabelStatsTable(self.label_ws.views.model)
        self.session.projectChanged.connect(lambda: setattr(self.label_stats, "names", names()))
        self.stats_dock = QDockWidget("Label statistics", self)
        self.stats_dock.setObjectName("label-stats")
        self.stats_dock.setWidget(self.label_stats)
        self.indices = ProjectIndicesPanel(self.session)
        self.indices_dock = QDockWidget("Cardiac indices", self)
        self.indices_dock.setObjectName("indices")
        self.indices_dock.setWidget(self.indices)
        for dock in (self.stats_dock, self.indices_dock):
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            dock.hide()
        self.splitDockWidget(self.stats_dock, self.indices_dock, Qt.Orientation.Horizontal)
        self.indices_dock.visibilityChanged.connect(lambda shown: shown and self._size_clinical_docks())

    def _size_clinical_docks(self) -> None:
        # a hidden dock has no size to set: give the table and the Bland–Altman plot room when first shown
        if not getattr(self, "_clinical_docks_sized", False):
            self._clinical_docks_sized = True
            self.resizeDocks([self.indices_dock], [max(360, self.height() // 3)], Qt.Orientation.Vertical)
            if self.stats_dock.isVisible():
                self.resizeDocks([self.stats_dock, self.indices_dock], [400, 900], Qt.Orientation.Horizontal)
        self.stats_dock.visibilityChanged.connect(lambda shown: shown and self.label_stats.refresh())

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("main")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(bar)
        self.act_open = QAction(icon("fa5s.folder-open"), "Open…", self, triggered=self.ask_open_project)
        self.act_save = QAction(icon("fa5s.save"), "Save", self, triggered=self.save)
        self.act_save.setShortcut(QKeySequence.StandardKey.Save)
        history = self.session.history
        self.act_undo = QAction(icon("fa5s.undo"), "Undo", self, triggered=history.undo)
        self.act_undo.setShortcuts([QKeySequence.StandardKey.Undo])
        self.act_redo = QAction(icon("fa5s.redo"), "Redo", self, triggered=history.redo)
        self.act_redo.setShortcuts([QKeySequence.StandardKey.Redo, QKeySequence("Ctrl+Y")])
        history.changed.connect(self._bind_history)
        self._bind_history()
        self.import_menu = QMenu(self)
        self.act_import_real = self.import_menu.addAction(icon("fa5s.user"), "Import real images…",
                                                          lambda: self.import_images("real"))
        self.act_import_synthetic = self.import_menu.addAction(icon("fa5s.magic"), "Import synthetic images…",
                                                               lambda: self.import_images("synthetic"))
        self.import_menu.addAction(icon("fa5s.th"), "Browse the synthetic pool…", self.browse_synthetic)
        self.act_import = QAction(icon("fa5s.file-import"), "Import", self)
        self.act_import.setMenu(self.import_menu)
        self.act_import.triggered.connect(lambda: self.import_images("real"))
        self.panels_menu = QMenu(self)
        self.act_stats = self.stats_dock.toggleViewAction()
        self.act_stats.setText("Label statistics (voxels, mL, mean/SD)")
        self.act_indices = self.indices_dock.toggleViewAction()
        self.act_indices.setText("Cardiac indices (EDV, ESV, EF, mass; Bland–Altman)")
        self.panels_menu.addAction(self.act_stats)
        self.panels_menu.addAction(self.act_indices)
        self.act_panels = QAction(icon("fa5s.table"), "Panels", self)
        self.act_panels.setMenu(self.panels_menu)
        for act in (self.act_open, self.act_import, self.act_save, self.act_undo, self.act_redo):
            bar.addAction(act)
        bar.addAction(self.act_panels)
        bar.widgetForAction(self.act_panels).setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.widgetForAction(self.act_import).setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        bar.addSeparator()
        self.workspace_group = QActionGroup(self)
        self.workspace_actions: dict[str, QAction] = {}
        icons = {"Label": "fa5s.paint-brush", "Blend": "fa5s.adjust", "Train": "fa5s.play-circle",
                 "Review": "fa5s.check-double", "Export": "fa5s.file-export"}
        for name in self.workspaces:
            act = QAction(icon(icons.get(name, "fa5s.square")), name, self, checkable=True)
            act.triggered.connect(lambda _=False, n=name: self.show_workspace(n))
            self.workspace_group.addAction(act)
            bar.addAction(act)
            self.workspace_actions[name] = act
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy().Preferred)
        bar.addWidget(spacer)
        self.device_label = QLabel("device: …")
        self.device_label.setObjectName("muted")
        bar.addWidget(self.device_label)
        self.toolbar = bar

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.readout = QLabel("")
        self.saved_label = QLabel("")
        self.mode_label = QLabel("")
        bar.addWidget(self.readout, 1)
        bar.addPermanentWidget(self.mode_label)
        bar.addPermanentWidget(self.saved_label)

    def _build_shortcuts(self) -> None:
        """Viewer shortcuts; live only while a viewer workspace is shown, so forms elsewhere keep their keys. They
        work whatever widget has the focus, except a text field being typed in (see :meth:`eventFilter`)."""
        ws, t = self.label_ws, self.tools
        self.viewer_shortcuts: list[QShortcut] = []
        self.shortcut_sheet: dict[str, list[tuple[str, str]]] = {}

        def key(seq, slot, group=None, text=None, shown=None):
            self.viewer_shortcuts.append(QShortcut(QKeySequence(seq), self, activated=slot))
            if group:
                self.shortcut_sheet.setdefault(group, []).append((shown or seq, text))

        for k in range(0, 10):
            key(str(k), lambda k=k: t.select_class(k))
        self.shortcut_sheet["Tools"] = [("1 … 9", "choose the class"), ("0", "background (scribble) / erase")]
        for seq, tool, text in (("B", "brush", "brush"), ("E", "eraser", "eraser"),
                                ("F", "smart_fill", "smart fill (click, wheel = tolerance)"),
                                ("S", "scribble", "scribble (Shift-drag: background)"),
                                ("Shift+F", "fill", "flood fill (no intensity bound)"),
                                ("P", "polygon", "polygon"), ("H", "pan", "pan")):
            key(seq, lambda t_=tool: t.set_tool(t_), "Tools", text)
        key("[", lambda: t.step_radius(-1), "Tools", "smaller brush")
        key("]", lambda: t.step_radius(1), "Tools", "larger brush")
        key("Return", ws.accept_or_close, "Tools", "accept the preview / close the polygon", "Enter")
        key("Enter", ws.accept_or_close)
        key("Escape", ws.cancel, "Tools", "cancel; keyboard back to the image", "Esc")
        key("U", lambda: ws.assist_panel.uncertainty.toggle(), "Tools", "show the proposal's uncertainty")
        for seq, delta in (("PgDown", 1), ("Down", 1), ("PgUp", -1), ("Up", -1)):
            key(seq, lambda d=delta: self.session.step_slice(d))
        self.shortcut_sheet["Slices"] = [("↑ / ↓, PgUp / PgDn, wheel", "previous / next slice")]
        key("Home", lambda: self.session.set_slice(0), "Slices", "first slice")
        key("End", lambda: self.session.set_slice(10**9), "Slices", "last slice")
        for seq, action, text in (("D", "done", "mark done"), ("I", "progress", "mark in progress"),
                                  ("G", "flag", "flag for review"), ("N", "next-unlabelled", "next slice not done"),
                                  ("Ctrl+Down", "copy-prev", "copy from the previous slice"),
                                  ("Ctrl+Up", "copy-next", "copy from the next slice")):
            key(seq, lambda a=action: ws.run_action(a), "Slices", text)
        key("O", lambda: t.outline.toggle(), "View", "outline only")
        key("Tab", lambda: t.layer.setCurrentIndex(1 - min(t.layer.currentIndex(), 1)), "View",
            "approved / prediction")
        key("Ctrl+0", self.canvas.fit, "View", "fit the slice")
        self.shortcut_sheet["View"] += [("right-drag", "window / level"), ("middle-drag", "pan"),
                                        ("Ctrl+wheel", "zoom"), ("Ctrl+Z / Ctrl+Y", "undo / redo"),
                                        ("F1 or ?", "this sheet")]
        self.help_sheet = ShortcutHelp(self)
        self.help_sheet.set_shortcuts(self.shortcut_sheet)
        for seq in ("F1", "?"):
            QShortcut(QKeySequence(seq), self, activated=self.help_sheet.toggle)
        QApplication.instance().installEventFilter(self)
        self._viewer_keys = {QKeySequence(s.key()) for s in self.viewer_shortcuts}

    def eventFilter(self, obj, event) -> bool:
        """A focused button, list or box would take a viewer key for itself (a list jumps to the row starting
        with "2"); unless it is a text field being typed in, the shortcut gets it."""
        if event.type() == QEvent.Type.ShortcutOverride and obj is QApplication.focusWidget() \
                and isinstance(obj, QWidget) and obj.window() is self and not is_typing(obj) \
                and self.viewer_shortcuts and self.viewer_shortcuts[0].isEnabled():
            combo = QKeySequence(event.keyCombination())
            if combo in self._viewer_keys:
                event.ignore()
                return True
        return super().eventFilter(obj, event)

    def _connect(self) -> None:
        s, t, c = self.session, self.tools, self.canvas
        state = c.tools   # the panel writes the tool state; the canvas follows it
        t.toolChanged.connect(state.set_tool)
        t.classChanged.connect(state.set_active_class)
        t.radiusChanged.connect(state.set_brush_radius)
        t.overwriteChanged.connect(state.set_overwrite)
        t.opacityChanged.connect(state.set_opacity)
        t.outlineChanged.connect(state.set_outline_only)
        t.layerChanged.connect(state.set_layer)
        t.windowPreset.connect(self.label_ws.window_preset)
        t.windowValues.connect(self.label_ws.window_values)
        t.classEdit.connect(self.edit_classes)
        t.classView.connect(s.set_class_view)
        s.classesChanged.connect(self._classes_changed)
        state.changed.connect(lambda name: name == "tool" and t.set_tool_shown(state.tool))
        s.windowLevelChanged.connect(lambda: t.show_window(s.window.center, s.window.width,
                                                           self.label_ws.shown_preset()))
        s.caseChanged.connect(lambda _c: t.set_pixel_size(min(s.image.spacing[:2]) if s.image is not None else 0))
        t.action.connect(self.label_ws.run_action)
        self.browser.caseActivated.connect(s.select_case)
        self.plan.caseOpened.connect(lambda _case: self.show_workspace("Label"))
        self.review_ws.correctRequested.connect(lambda *_: self.show_workspace("Label"))
        c.cursorMoved.connect(self._readout)
        s.projectChanged.connect(self._project_changed)
        s.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        s.dirtyChanged.connect(self._dirty)
        s.saveFailed.connect(lambda _text: self.saved_label.setText("● not saved (see the message)"))
        s.journalFailed.connect(self._journal_failed)
        s.busyChanged.connect(self._busy)
        s.caseChanged.connect(lambda _c: self._update_title())
        self.welcome.openDemo.connect(self.open_demo)
        self.welcome.openProject.connect(self.ask_open_project)
        self.welcome.newProject.connect(self.ask_new_project)
        self.welcome.openRecent.connect(self.open_project)

    # --- projects -------------------------------------------------------------------------------------------------
    def open_project(self, path, *, read_only: bool = False) -> bool:
        try:
            self.session.open_project(path, read_only=read_only)
        except ProjectLockedError as exc:
            answer = QMessageBox.question(
                self, "Project in use",
                f"{exc.reason}\n\nOpen it read-only to look without changing anything?",
                QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel)
            if answer == QMessageBox.StandardButton.Open:
                return self.open_project(path, read_only=True)
            return False
        except SraSegError as exc:
            QMessageBox.critical(self, "Cannot open project", str(exc))
            return False
        if self.demo_fill.start():   # a demo project whose first start was closed early: finish it
            self.statusBar().showMessage(f"Creating the demo project: {self.demo_fill.total} more patients are "
                                         "being made in the background…")
        return True

    def open_demo(self) -> bool:
        """Open the demo project. The first time, only its first patient is made before it opens (an image within
        seconds); the other patients are made in the background and join the case browser as they are done, as they
        do when an earlier start was closed before it finished."""
        path = demo_project_path()
        if not (path / "project.json").exists():
            from sra_seg_core.demo import begin_demo_project

            self.statusBar().showMessage("Creating the demo project (once)…")
            QGuiApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
            try:
                begin_demo_project(path).close()
            except SraSegError as exc:
                QMessageBox.critical(self, "Cannot create the demo project", str(exc))
                return False
            finally:
                QGuiApplication.restoreOverrideCursor()
        return self.open_project(path)

    def _demo_patient_added(self, done: int, total: int, name: str) -> None:
        self.statusBar().showMessage(f"Creating the demo project: {name} added ({done} of {total} in the "
                                     "background)…" if done < total else "The demo project is complete.", 8000)

    def ask_open_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open project folder")
        if folder:
            self.open_project(folder)

    def ask_new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new project")
        if not folder:
            return
        names, ok = QInputDialog.getText(self, "Classes", "Class names, comma-separated:", text="RV, Myo, LV")
        if not ok:
            return
        from sra_seg_core.project import Project, named_classes

        try:
            classes = named_classes([n.strip() for n in names.split(",") if n.strip()])
            Project.create(folder, classes=classes).close()
        except SraSegError as exc:
            QMessageBox.critical(self, "Cannot create project", str(exc))
            return
        self.open_project(folder)

    def import_images(self, role: str) -> None:
        if self.session.project is None or self.session.read_only:
            QMessageBox.information(self, "Import", "Open a project for writing first.")
            return
        ImportDialog(self.session, role=role, parent=self).exec()

    def browse_synthetic(self) -> None:
        if self.session.project is None:
            return
        dialog = QDialog(self)
        dialog.setWindowTitle("Synthetic pool")
        dialog.resize(980, 680)
        grid = ThumbnailGrid(self.session, role="synthetic")
        grid.caseActivated.connect(lambda case: (self.session.select_case(case), self.show_workspace("Label"),
                                                 dialog.accept()))
        layout = QVBoxLayout(dialog)
        layout.addWidget(grid)
        dialog.exec()

    def _project_changed(self) -> None:
        project = self.session.project
        if project is None:
            self._show_welcome()
            return
        self.tools.set_class_view(*self.session.class_view())
        self.tools.set_classes(project.classes)
        self.canvas.active_class = project.classes[0].value if project.classes else 1
        self.banner.setVisible(project.read_only)
        self.banner.setText("Read-only: another window or process is editing this project. You can look, "
                            "but changes are not possible." if project.read_only else "")
        self.mode_label.setText("read-only" if project.read_only else "")
        for dock in (self.cases_dock, self.plan_dock, self.tools_dock, self.assist_dock):
            dock.setVisible(True)
        self.cases_dock.raise_()
        self.act_import.setEnabled(not project.read_only)
        self.show_workspace("Label")
        self._update_title()

    def edit_classes(self, kind: str, value: int, text: str) -> None:
        """The label table's edits, saved in the project (refusals are said in the status bar)."""
        from sra_seg_core.project import class_table

        s = self.session
        if s.project is None:
            return
        classes = s.project.classes
        try:
            if kind == "remove":
                self._remove_class(value or classes[-1].value)
                return
            new = {"rename": lambda: class_table.renamed(classes, value, text),
                   "recolour": lambda: class_table.recoloured(classes, value, text),
                   "add": lambda: class_table.added(classes)}[kind]()
            s.set_classes(new)
        except SraSegError as exc:
            s.message.emit(f"Classes unchanged: {exc}")

    def _remove_class(self, value: int) -> None:
        """Remove a class after a confirmation that says what it costs (it is not undoable)."""
        s = self.session
        if len(s.project.classes) == 1:
            s.message.emit("Classes unchanged: a project needs at least one class")
            return
        answer = QMessageBox.question(self, "Remove class", s.class_removal_question(value),
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            s.remove_class(value)
            # the removed class was the selected one, so the brush paints the first class, never a stale number
            self.tools.select_class(1)
            self.canvas.tools.set_active_class(1)

    def _classes_changed(self) -> None:
        s = self.session
        if s.project is None:
            return
        self.tools.set_class_view(*s.class_view())
        self.tools.set_classes(s.project.classes)
        self.label_ws.assist_panel.set_classes([c.name for c in s.project.classes])
        self.canvas.refresh_labels()

    def _show_welcome(self) -> None:
        self.welcome.refresh()
        self.stack.setCurrentWidget(self.welcome)
        for dock in (self.cases_dock, self.plan_dock, self.tools_dock, self.assist_dock):
            dock.setVisible(False)
        self.act_import.setEnabled(False)
        for act in self.workspace_actions.values():
            act.setEnabled(False)
        self.banner.setVisible(False)
        self._update_title()

    def show_workspace(self, name: str) -> None:
        for act in self.workspace_actions.values():
            act.setEnabled(self.session.project is not None)
        self.workspace_actions[name].setChecked(True)
        workspace = self.workspaces[name]
        self.stack.setCurrentWidget(workspace)
        viewer = name in ("Label", "Review")
        self.tools_dock.setVisible(name == "Label")
        self.assist_dock.setVisible(name == "Label")
        for shortcut in self.viewer_shortcuts:
            shortcut.setEnabled(viewer)
        if name == "Label":  # the keyboard goes to the image, not to a field of the workspace left
            self.canvas.setFocus()
        if hasattr(workspace, "activated"):
            workspace.activated()

    def _update_title(self) -> None:
        s = self.session
        parts = ["SRA-Seg Studio"]
        if s.project is not None:
            parts.append(s.project.name)
            if s.case_id:
                parts.append(s.case_id)
        self.setWindowTitle(" — ".join(parts))

    # --- status -----------------------------------------------------------------------------------------------------
    def _readout(self, info) -> None:
        if info is None:
            self.readout.setText("")
            return
        i, j, k = info["voxel"]
        x, y, z = info["world"]
        names = {c.value: c.name for c in self.session.project.classes} if self.session.project else {}
        label = names.get(info["label"], "background" if info["label"] == 0 else str(info["label"]))
        pred = "" if info["prediction"] is None else \
            f"   prediction {names.get(info['prediction'], 'background' if not info['prediction'] else '?')}"
        self.readout.setText(f"voxel ({i}, {j}, {k})   value {info['value']:.4g}   label {label}{pred}   "
                             f"world ({x:.1f}, {y:.1f}, {z:.1f}) mm")

    def _bind_history(self) -> None:
        history = self.session.history
        self.act_undo.setEnabled(history.can_undo())
        self.act_undo.setText(f"Undo {history.undo_text()}".strip())
        self.act_redo.setEnabled(history.can_redo())
        self.act_redo.setText(f"Redo {history.redo_text()}".strip())

    def _busy(self, busy: bool) -> None:
        if busy:
            QGuiApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        else:
            QGuiApplication.restoreOverrideCursor()

    def save(self) -> bool:
        """Ctrl+S: save, or say why not (the session keeps what it could not write)."""
        try:
            self.session.save()
        except SaveError as exc:
            QMessageBox.warning(self, "Could not save", str(exc))
            return False
        return True

    def _journal_failed(self, text: str) -> None:
        self.saved_label.setText("● unsaved, not journaled")
        QMessageBox.warning(self, "A stroke is not safe yet", text)

    def _dirty(self, dirty: bool) -> None:
        self.saved_label.setText("● unsaved changes" if dirty else "all changes saved")

    def _detect_device(self) -> None:
        """Ask the engine (a child process: the window never imports torch) what it can train on."""
        self._device_run = EngineRun(self)

        def done(code, _error):
            info = self._device_run.result
            if code != 0 or not isinstance(info, dict):
                self.device_label.setText("device: unknown")
                return
            self.device_info = info
            self.train_ws.set_device_info(info)
            gpus = info.get("gpus") or []
            text = f"● {gpus[0]['name']} ({gpus[0]['memory_gb']} GB)" if gpus else \
                f"● CPU ({info.get('cpu_threads')} threads)"
            self.device_label.setText(text)
            self.device_label.setToolTip(f"PyTorch {info.get('torch')}; training runs here")

        self.device_info = None
        self._device_run.finished.connect(done)
        self._device_run.start("devices", "--events", "-")

    # --- closing ----------------------------------------------------------------------------------------------------
    def confirm_close_unsaved(self, why: str) -> bool:
        """Whether to close although the labels could not be saved (strokes the journal lacks are then lost)."""
        lost = sorted(self.session.unjournaled)
        if lost:
            text = (f"{why}\n\nStrokes on {', '.join(lost)} are in no file: closing discards them. Discard them and "
                    "close?")
            buttons = QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
            accept = QMessageBox.StandardButton.Discard
        else:
            text = f"{why}\n\nClose anyway? Your strokes are kept in the project's journal and come back when you " \
                   "reopen it."
            buttons = QMessageBox.StandardButton.Close | QMessageBox.StandardButton.Cancel
            accept = QMessageBox.StandardButton.Close
        return QMessageBox.warning(self, "Could not save", text, buttons, QMessageBox.StandardButton.Cancel) == accept

    def closeEvent(self, event) -> None:
        # A workspace with work in flight (a training run) may ask the user first, and may refuse.
        for workspace in self.workspaces.values():
            if hasattr(workspace, "can_close") and not workspace.can_close():
                event.ignore()
                return
        try:
            self.session.close_project()
        except SaveError as exc:
            if not self.confirm_close_unsaved(str(exc)):
                event.ignore()
                return
            self.session.close_project(force=True)
        for workspace in self.workspaces.values():
            if hasattr(workspace, "shutdown"):
                workspace.shutdown()
        run = getattr(self, "_device_run", None)
        if run is not None and run.running:
            run.finished.disconnect()
            run.kill()
            run.wait(2000)
        event.accept()
