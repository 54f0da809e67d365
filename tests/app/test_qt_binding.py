"""The installed Qt binding must not leak: PySide6 6.12.0 took a reference from True on every signal emitted from
Python and aborted the interpreter after a few thousand emits (pyproject.toml excludes that release)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    changed = Signal(int)


def test_emitting_signals_keeps_the_reference_count_of_true():
    emitter = _Emitter()
    emitter.changed.connect(lambda _value: None)
    before = sys.getrefcount(True)
    for k in range(2_000):   # enough to see the leak, too few to exhaust True and abort
        emitter.changed.emit(k)
    assert abs(sys.getrefcount(True) - before) < 100   # the bug takes one per emit; others come and go
