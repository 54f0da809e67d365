"""The start page: open the demo, open or create a project, or pick a recent one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from sra_seg_core.settings import recent_projects
from sra_seg_app.theme import icon


class WelcomePage(QWidget):
    openDemo = Signal()
    openProject = Signal()          # ask for a folder
    newProject = Signal()
    openRecent = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        column = QVBoxLayout()
        column.addStretch(1)
        title = QLabel("SRA-Seg Studio", objectName="title")
        subtitle = QLabel("Segment with about 10 % of the labels: label a few real images, add synthetic ones, "
                          "train on this computer, review and export.", objectName="subtitle")
        subtitle.setWordWrap(True)
        column.addWidget(title)
        column.addWidget(subtitle)
        column.addSpacing(18)
        buttons = QHBoxLayout()
        demo = QPushButton(icon("fa5s.heartbeat"), "  Open demo project", objectName="primary")
        demo.setToolTip("Cardiac phantoms: 12 real-style patients (2 labelled) and 6 synthetic ones")
        demo.clicked.connect(self.openDemo)
        open_button = QPushButton(icon("fa5s.folder-open"), "  Open project…")
        open_button.clicked.connect(self.openProject)
        new_button = QPushButton(icon("fa5s.plus"), "  New project…")
        new_button.clicked.connect(self.newProject)
        for button in (demo, open_button, new_button):
            button.setMinimumHeight(36)
            buttons.addWidget(button)
        column.addLayout(buttons)
        column.addSpacing(18)
        column.addWidget(QLabel("Recent projects", objectName="muted"))
        self.recent = QListWidget()
        self.recent.setMaximumHeight(220)
        self.recent.itemActivated.connect(lambda item: self.openRecent.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.recent.itemDoubleClicked.connect(lambda item: self.openRecent.emit(item.data(Qt.ItemDataRole.UserRole)))
        column.addWidget(self.recent)
        column.addStretch(2)
        holder = QWidget()
        holder.setLayout(column)
        holder.setMaximumWidth(640)
        holder.setMinimumWidth(520)
        outer.addWidget(holder)
        outer.addStretch(1)
        self.refresh()

    def refresh(self) -> None:
        self.recent.clear()
        paths = recent_projects()
        for path in paths:
            item = QListWidgetItem(icon("fa5s.folder"), f"{Path(path).name}    —    {path}")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.recent.addItem(item)
        if not paths:
            item = QListWidgetItem("No recent projects yet.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(item)
