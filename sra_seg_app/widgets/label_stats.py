"""The case's per-class statistics table (voxels, volume in mL, mean and SD of intensity), bound to a
:class:`~sra_seg_app.model.planes.PlanesModel`; refreshed shortly after the labels stop changing."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QWidget

from sra_seg_app.model.planes import PlanesModel

COLUMNS = ("class", "voxels", "volume (mL)", "mean", "SD")


class LabelStatsTable(QTableWidget):
    def __init__(self, model: PlanesModel, names: dict[int, str] | None = None, parent: QWidget | None = None,
                 *, debounce_ms: int = 200):
        super().__init__(0, len(COLUMNS), parent)
        self.model, self.names = model, dict(names or {})
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self.refresh)
        model.changed.connect(lambda kind: self.timer.start() if kind in ("volume", "labels") else None)
        self.refresh()

    def refresh(self) -> None:
        rows = self.model.label_table()
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [self.names.get(row.label, f"class {row.label}"), f"{row.voxels:,}", f"{row.volume_ml:.2f}",
                     "—" if math.isnan(row.mean) else f"{row.mean:.1f}", "—" if math.isnan(row.sd) else f"{row.sd:.1f}"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)
        self.resizeColumnsToContents()
