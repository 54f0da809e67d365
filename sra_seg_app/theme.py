"""The look: the style sheet from ``sra_seg_app/resources/``, icons from qtawesome, pyqtgraph's matching colours."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import qtawesome as qta
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from sra_seg_app._pyqtgraph import pg

RESOURCES = Path(__file__).resolve().parent / "resources"
ACCENT = "#2b8a90"
TEXT = "#d8dee6"
MUTED = "#8b96a3"
STATUS_COLORS = {".": "#3a424c", "p": "#d9a441", "d": "#3fae6a", "f": "#d9534f"}   # per-slice status
STATUS_NAMES = {".": "not started", "p": "in progress", "d": "done", "f": "flagged"}


def resource(name: str) -> Path:
    """A file shipped in ``sra_seg_app/resources/`` (package data, so wheels carry it too)."""
    return RESOURCES / name


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    for role, color in ((QPalette.ColorRole.Window, "#1b1f24"), (QPalette.ColorRole.WindowText, TEXT),
                        (QPalette.ColorRole.Base, "#14171b"), (QPalette.ColorRole.AlternateBase, "#1a1e23"),
                        (QPalette.ColorRole.Text, TEXT), (QPalette.ColorRole.Button, "#262c33"),
                        (QPalette.ColorRole.ButtonText, TEXT), (QPalette.ColorRole.Highlight, "#1f6f74"),
                        (QPalette.ColorRole.HighlightedText, "#f2fbfb"), (QPalette.ColorRole.ToolTipBase, "#262c33"),
                        (QPalette.ColorRole.ToolTipText, TEXT), (QPalette.ColorRole.PlaceholderText, MUTED)):
        palette.setColor(role, QColor(color))
    app.setPalette(palette)
    sheet = resource("style.qss")
    if sheet.exists():
        folder = sheet.parent.as_posix()
        app.setStyleSheet(sheet.read_text(encoding="utf-8").replace("{RESOURCES}", folder))
    pg.setConfigOptions(background="#101317", foreground=MUTED)
    qta.set_defaults(color=TEXT, color_disabled="#5d6773", color_active="#e8fbfb")


@lru_cache(maxsize=None)
def icon(name: str, color: str | None = None) -> QIcon:
    """A qtawesome icon by name (e.g. ``fa5s.paint-brush``), cached."""
    return qta.icon(name, color=color) if color else qta.icon(name)


def status_icon(status: str) -> QIcon:
    """The case icon for a per-slice status string: all done, some done / in progress, flagged, or not started."""
    if not status:
        return icon("fa5s.circle", "#3a424c")
    if "f" in status:
        return icon("fa5s.flag", STATUS_COLORS["f"])
    if set(status) == {"d"}:
        return icon("fa5s.check-circle", STATUS_COLORS["d"])
    if "d" in status or "p" in status:
        return icon("fa5s.adjust", STATUS_COLORS["p"])
    return icon("fa5.circle", MUTED)
