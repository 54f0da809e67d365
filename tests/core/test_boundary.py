"""The engine must never import Qt: it runs on servers, in the training process and in CI without a display."""

import ast
import subprocess
import sys
from pathlib import Path

import sra_seg_core

QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "qtawesome", "qtpy", "sra_seg_app")
CORE = Path(sra_seg_core.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_engine_source_file_imports_qt():
    offenders = {
        str(path.relative_to(CORE)): sorted(_imported_roots(path) & set(QT_MODULES)) for path in CORE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_engine_module_loads_no_qt():
    code = (
        "import importlib, pkgutil, sys, sra_seg_core\n"
        "for m in pkgutil.walk_packages(sra_seg_core.__path__, 'sra_seg_core.'):\n"
        "    if m.name != 'sra_seg_core.__main__': importlib.import_module(m.name)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {QT_MODULES!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_linter_contract_holds():
    """The same rule as a declared contract (pyproject.toml [tool.importlinter]), as napari enforces its layers."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], capture_output=True, text=True, cwd=CORE.parent)
    assert out.returncode == 0, out.stdout + out.stderr
