"""SRA-Seg Studio: the PySide6 + pyqtgraph desktop application over :mod:`sra_seg_core`.

Layers, one way only (as ITK-SNAP): the engine (``sra_seg_core``, no Qt) <- the GUI model (:mod:`.session`:
observable state, no widgets) <- the widgets. Widgets change state through the session and redraw on its signals.
"""

import os
import sys


def _import_pyqtgraph() -> None:
    """Import pyqtgraph on PySide6, without the CUDA Python bindings.

    pyqtgraph's RawImageWidget imports ``cuda.bindings.runtime`` when it is installed (CUDA builds of PyTorch bring
    it) for a CUDA–OpenGL path this application never uses; that import costs 0.1–0.2 s of start-up. Hiding the module
    for the duration of pyqtgraph's import makes pyqtgraph fall back as if it were absent; anything imported later
    (PyTorch in the blend preview) sees the real module.
    """
    if "pyqtgraph" in sys.modules:
        return
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    import PySide6.QtCore  # noqa: F401  (pyqtgraph takes the binding already imported)

    hide = "cuda.bindings.runtime" not in sys.modules
    if hide:
        sys.modules["cuda.bindings.runtime"] = None  # an import of it raises ImportError
    try:
        import pyqtgraph  # noqa: F401
    finally:
        if hide and sys.modules.get("cuda.bindings.runtime", False) is None:
            del sys.modules["cuda.bindings.runtime"]


_import_pyqtgraph()
