"""The shortcut help overlay (F1 or ?): a translucent sheet over the window listing every viewer key.

It lists what it is given (the main window passes the shortcuts it binds), so the sheet cannot drift from the keys.
Any key or click closes it.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout


class ShortcutHelp(QFrame):
    def __init__(self, parent):
        super().__init__(parent)
        self.setObjectName("shortcutHelp")
        self.setStyleSheet("#shortcutHelp { background: rgba(16, 19, 23, 225); border: 1px solid #56B4E9; "
                           "border-radius: 8px; } QLabel { color: #f2f5f8; }")
        self.text = QLabel(textFormat=Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.addWidget(self.text)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.hide()

    def set_shortcuts(self, groups: dict[str, list[tuple[str, str]]]) -> None:
        """``groups``: heading -> [(keys, what they do)], shown as columns."""
        columns = []
        for heading, rows in groups.items():
            body = "".join(f"<tr><td style='padding-right:14px'><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>"
                           for k, v in rows)
            columns.append(f"<td valign='top' style='padding-right:28px'><h3>{escape(heading)}</h3>"
                           f"<table>{body}</table></td>")
        self.text.setText("<h2>Keyboard shortcuts</h2><table><tr>" + "".join(columns) + "</tr></table>"
                          "<p style='color:#9aa4ae'>F1 or ? shows this sheet; any key or click closes it.</p>")

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
            return
        self.adjustSize()
        parent = self.parentWidget()
        self.move(max(0, (parent.width() - self.width()) // 2), max(0, (parent.height() - self.height()) // 3))
        self.show()
        self.raise_()
        self.setFocus()

    def keyPressEvent(self, event) -> None:
        self.hide()

    def mousePressEvent(self, event) -> None:
        self.hide()
