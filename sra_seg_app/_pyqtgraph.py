"""pyqtgraph for the app's modules: ``from sra_seg_app._pyqtgraph import pg`` instead of ``import pyqtgraph as pg``.

Imported only by the modules that draw, so ``sra-seg-studio --help`` and the GUI model (session, processes) do not pay
for pyqtgraph.
"""

from __future__ import annotations

import os
import sys


def _import_pyqtgraph():
    """Import pyqtgraph on PySide6, without the CUDA Python bindings.

    pyqtgraph's RawImageWidget imports ``cuda.bindings.runtime`` when it is installed (CUDA builds of PyTorch bring
    it) for a CUDA–OpenGL path this application never uses; that import costs 0.1–0.2 s of start-up. Hiding the module
    for the duration of pyqtgraph's import makes pyqtgraph fall back as if it were absent; anything imported later
    (PyTorch in the blend preview) sees the real module.
    """
    if "pyqtgraph" in sys.modules:
        return sys.modules["pyqtgraph"]
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    import PySide6.QtCore  # noqa: F401  (pyqtgraph takes the binding already imported)

    hide = "cuda.bindings.runtime" not in sys.modules
    if hide:
        sys.modules["cuda.bindings.runtime"] = None  # an import of it raises ImportError
    try:
        import pyqtgraph
    finally:
        if hide and sys.modules.get("cuda.bindings.runtime", False) is None:
            del sys.modules["cuda.bindings.runtime"]
    return pyqtgraph


pg = _import_pyqtgraph()
