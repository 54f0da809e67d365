"""SRA-Seg Studio: the PySide6 + pyqtgraph desktop application over :mod:`sra_seg_core`.

Layers, one way only (as ITK-SNAP): the engine (``sra_seg_core``, no Qt) <- the GUI model (:mod:`.session`:
observable state, no widgets) <- the widgets. Widgets change state through the session and redraw on its signals.
"""
