"""Undo/redo of label edits on a ``QUndoStack``.

Each command is one stroke (or fill, polygon, copy, interpolation) and holds only the changed pixels of one slice —
an :class:`~sra_seg_core.annotation.SliceEdit` (indices, old, new). One stack serves the whole project, so history
survives slice and case changes; undoing an edit on another case brings that case and slice into view. Memory stays
under a cap: when the history outgrows it, the oldest commands drop their pixels and become no-ops that Qt removes
the next time they are reached.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtGui import QUndoCommand, QUndoStack

from sra_seg_core.annotation import SliceEdit, UndoBudget


class EditCommand(QUndoCommand):
    def __init__(self, apply, case_id: str, edits: list[SliceEdit], text: str, *, applied: bool):
        super().__init__(text)
        self._apply, self.case_id, self.edits = apply, case_id, edits
        self._skip_first_redo = applied
        self.nbytes = sum(e.nbytes for e in edits)

    def redo(self) -> None:
        if self._skip_first_redo:  # painted live already; pushing must not paint twice
            self._skip_first_redo = False
            return
        if self.edits:
            self._apply(self.case_id, self.edits, navigate=True)
        else:
            self.setObsolete(True)

    def undo(self) -> None:
        if self.edits:
            self._apply(self.case_id, [e.inverse() for e in reversed(self.edits)], navigate=True)
        else:
            self.setObsolete(True)

    def expire(self) -> None:
        """Drop the pixels (memory cap reached); the command becomes a no-op Qt removes when it is next reached."""
        self.edits, self.nbytes = [], 0
        self.setText(self.text() + " (expired)")


class EditHistory(QUndoStack):
    """A ``QUndoStack`` of :class:`EditCommand` whose pixel memory stays under ``cap_bytes``."""

    def __init__(self, cap_bytes: int = 256 * 2**20, parent=None):
        super().__init__(parent)
        self.budget = UndoBudget(cap_bytes)
        self._live: deque[EditCommand] = deque()   # oldest first, the commands still holding pixels

    def push_edit(self, command: EditCommand) -> None:
        # Pushing discards the redo branch (Qt deletes those commands); forget them here too.
        for _ in range(min(self.count() - self.index(), len(self._live))):
            self._live.pop()
            self.budget.pop()
        self.push(command)
        self._live.append(command)
        for _ in range(self.budget.push(command.nbytes)):
            if self._live:
                self._live.popleft().expire()

    @property
    def used_bytes(self) -> int:
        return self.budget.used_bytes

    def clear(self) -> None:
        super().clear()
        self._live.clear()
        self.budget.clear()
