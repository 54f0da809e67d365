"""Modules imported on first use, so that start-up pays only for what it runs.

SimpleITK (~0.15 s) and scipy.ndimage (~0.3 s) are needed by readers, metrics and annotation tools, but not to show
the Studio's window; with ``ndimage = lazy_module("scipy.ndimage")`` at the top of a module the call sites stay
``ndimage.label(...)`` and the import happens on the first attribute access. Thread-safe: the import itself runs
under the import system's per-module lock (unlike ``importlib.util.LazyLoader`` on Python 3.11).
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """Stands for the module ``name`` and imports it on the first attribute access."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> LazyModule:
    return LazyModule(name)
