"""A thin bar under the viewer: one cell per slice coloured by its status, the current slice marked; click to go."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from sra_seg_app.theme import STATUS_COLORS, STATUS_NAMES


class SliceStrip(QWidget):
    sliceClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.status = ""
        self.current = 0
        self.setMinimumHeight(16)
        self.setMaximumHeight(16)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    def set_state(self, status: str, current: int) -> None:
        self.status, self.current = status, current
        self.update()

    def _slice_at(self, x: float) -> int:
        n = max(len(self.status), 1)
        return min(n - 1, max(0, int(x / max(self.width(), 1) * n)))

    def paintEvent(self, _event) -> None:
        n = len(self.status)
        if not n:
            return
        painter = QPainter(self)
        w = self.width() / n
        for k, ch in enumerate(self.status):
            painter.fillRect(QRectF(k * w + 1, 3, max(w - 2, 1), self.height() - 6), QColor(STATUS_COLORS.get(ch)))
        painter.setPen(QPen(QColor("#f2f5f8"), 2))
        painter.drawRect(QRectF(self.current * w + 1, 1, max(w - 2, 2), self.height() - 2))
        painter.end()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.status:
            self.sliceClicked.emit(self._slice_at(event.position().x()))

    def mouseMoveEvent(self, event) -> None:
        if self.status:
            k = self._slice_at(event.position().x())
            self.setToolTip(f"slice {k + 1}: {STATUS_NAMES[self.status[k]]}")


def status_legend() -> QWidget:
    """A one-line key to the strip's colours (not started, in progress, done, flagged; the white frame: this slice)."""
    from PySide6.QtWidgets import QHBoxLayout, QLabel

    legend = QWidget(objectName="sliceLegend")
    row = QHBoxLayout(legend)
    row.setContentsMargins(2, 0, 2, 0)
    row.setSpacing(10)
    for key, name in STATUS_NAMES.items():
        label = QLabel(f'<span style="color:{STATUS_COLORS[key]}">■</span> {name}')
        label.setObjectName("muted")
        row.addWidget(label)
    frame = QLabel('<span style="color:#8a949e">▢</span> this slice (framed)')
    frame.setObjectName("muted")
    row.addWidget(frame)
    row.addStretch(1)
    return legend
