"""The cases dock: real labelled / real unlabelled / synthetic / predicted, with counts and per-case status."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from sra_seg_core.project.status import is_labelled
from sra_seg_app.theme import icon, status_icon

GROUPS = (("labelled", "Real · labelled", "fa5s.user-md"), ("unlabelled", "Real · unlabelled", "fa5s.user"),
          ("synthetic", "Synthetic", "fa5s.magic"), ("predicted", "Predicted", "fa5s.robot"))


def case_group(project, case) -> str:
    if case.role == "synthetic":
        return "synthetic"
    return "labelled" if is_labelled(project, case) else "unlabelled"


class CaseBrowser(QWidget):
    caseActivated = Signal(str)

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.filter = QLineEdit(placeholderText="Filter cases…", clearButtonEnabled=True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Case", "Done"])
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        header.setSectionResizeMode(1, header.ResizeMode.ResizeToContents)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self._items: dict[str, QTreeWidgetItem] = {}
        self.filter.textChanged.connect(self._apply_filter)
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        session.casesChanged.connect(self.rebuild)
        session.projectChanged.connect(self.rebuild)
        session.statusChanged.connect(self.update_case)
        session.predictionChanged.connect(lambda _case: self.rebuild())
        session.caseChanged.connect(self._select)

    def rebuild(self) -> None:
        self.tree.clear()
        self._items.clear()
        project = self.session.project
        if project is None:
            return
        groups = {}
        for key, title, icon_name in GROUPS:
            item = QTreeWidgetItem([title, ""])
            item.setIcon(0, icon(icon_name))
            item.setData(0, Qt.ItemDataRole.UserRole, "")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(item)
            groups[key] = (item, title)
        for case in project.cases:
            parents = [case_group(project, case)] + (["predicted"] if case.prediction else [])
            for key in parents:
                item = QTreeWidgetItem([case.id, ""])
                item.setData(0, Qt.ItemDataRole.UserRole, case.id)
                groups[key][0].addChild(item)
                if key != "predicted":
                    self._items[case.id] = item
            self.update_case(case.id)
        for item, title in groups.values():
            item.setText(0, f"{title}  ({item.childCount()})")
            item.setExpanded(item.childCount() <= 60)
        self._apply_filter(self.filter.text())
        self._select(self.session.case_id)

    def update_case(self, case_id: str) -> None:
        item = self._items.get(case_id)
        if item is None or self.session.project is None:
            return
        status = self.session.slice_status(case_id)
        case = self.session.project.case(case_id)
        item.setIcon(0, status_icon(status) if case.role == "real" else icon("fa5s.magic", "#8b96a3"))
        if case.role == "real":
            item.setText(1, f"{status.count('d')}/{len(status)}")
            item.setToolTip(0, f"{case.id}: {status.count('d')} of {len(status)} slices done"
                               + (f", {status.count('f')} flagged" if "f" in status else ""))
        else:
            item.setText(1, str(len(status)))

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        case_id = item.data(0, Qt.ItemDataRole.UserRole)
        if case_id:
            self.caseActivated.emit(case_id)

    def _select(self, case_id: str) -> None:
        item = self._items.get(case_id)
        if item is not None:
            self.tree.setCurrentItem(item)

    def _apply_filter(self, text: str) -> None:
        text = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                child = group.child(j)
                child.setHidden(bool(text) and text not in child.text(0).lower())
