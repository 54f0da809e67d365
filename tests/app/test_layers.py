"""The app's model layer is testable without a GUI: no module in it imports PySide6's widget or GUI modules.

import-linter cannot name submodules of an external package, so this reads the imports from the source."""

import ast
from pathlib import Path

import sra_seg_app.model

MODEL = Path(sra_seg_app.model.__file__).parent
GUI_MODULES = ("PySide6.QtWidgets", "PySide6.QtGui", "PySide6.QtSvg", "PySide6.QtOpenGL")


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_model_layer_imports_no_qt_widgets_or_gui():
    offending = {str(p.relative_to(MODEL)): sorted(n for n in _imported(p) if n.startswith(GUI_MODULES))
                 for p in MODEL.rglob("*.py")}
    assert not {k: v for k, v in offending.items() if v}


def test_the_check_sees_a_gui_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from PySide6 import QtGui\nfrom PySide6.QtWidgets import QWidget\n")
    assert {"PySide6.QtGui", "PySide6.QtWidgets"} <= {n for n in _imported(module) if n.startswith(GUI_MODULES)}
