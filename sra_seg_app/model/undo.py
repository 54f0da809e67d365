"""Undo/redo of label edits, as model state (QtCore signals only, so it is testable without a GUI).

Each command is one stroke (or fill, polygon, copy, interpolation) and holds only the changed pixels of one slice —
an :class:`~sra_seg_core.annotation.SliceEdit` (indices, old, new). One history serves the whole project, so it
survives slice and case changes; undoing an edit on another case brings that case and slice into view. Memory stays
under a cap: when the history outgrows it, the oldest commands drop their pixels and become no-ops that are removed
the next time undo reaches them.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QObject, Signal

from sra_seg_core.annotation import SliceEdit, UndoBudget


class EditCommand:
    def __init__(self, apply, case_id: str, edits: list[SliceEdit], text: str, *, applied: bool):
        self._apply, self.case_id, self.edits, self._text = apply, case_id, edits, text
        self._skip_first_redo = applied
        self.nbytes = sum(e.nbytes for e in edits)

    def text(self) -> str:
        return self._text

    @property
    def expired(self) -> bool:
        return not self.edits

    def redo(self) -> None:
        if self._skip_first_redo:  # painted live already; pushing must not paint twice
            self._skip_first_redo = False
            return
        if self.edits:
            self._apply(self.case_id, self.edits, navigate=True)

    def undo(self) -> None:
        if self.edits:
            self._apply(self.case_id, [e.inverse() for e in reversed(self.edits)], navigate=True)

    def expire(self) -> None:
        """Drop the pixels (memory cap reached); the command becomes a no-op removed when undo next reaches it."""
        self.edits, self.nbytes = [], 0
        self._text += " (expired)"


class EditHistory(QObject):
    """A linear undo history of :class:`EditCommand` whose pixel memory stays under ``cap_bytes``.

    ``index`` counts the commands that are done: ``command(index - 1)`` is undone next, ``command(index)`` redone.
    """

    changed = Signal()   # what can be undone or redone (or their texts) changed

    def __init__(self, cap_bytes: int = 256 * 2**20, parent=None):
        super().__init__(parent)
        self.budget = UndoBudget(cap_bytes)
        self._commands: list[EditCommand] = []
        self._index = 0
        self._live: deque[EditCommand] = deque()   # oldest first, the commands still holding pixels

    def push_edit(self, command: EditCommand) -> None:
        for _ in range(min(len(self._commands) - self._index, len(self._live))):  # the redo branch is discarded
            self._live.pop()
            self.budget.pop()
        del self._commands[self._index:]
        command.redo()
        self._commands.append(command)
        self._index = len(self._commands)
        self._live.append(command)
        for _ in range(self.budget.push(command.nbytes)):
            if self._live:
                self._live.popleft().expire()
        self.changed.emit()

    def undo(self) -> None:
        if not self.can_undo():
            return
        command = self._commands[self._index - 1]
        if command.expired:  # expiry goes oldest first, so everything before it is expired too
            del self._commands[:self._index]
            self._index = 0
        else:
            self._index -= 1
            command.undo()
        self.changed.emit()

    def redo(self) -> None:
        if not self.can_redo():
            return
        self._commands[self._index].redo()
        self._index += 1
        self.changed.emit()

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    def undo_text(self) -> str:
        return self._commands[self._index - 1].text() if self.can_undo() else ""

    def redo_text(self) -> str:
        return self._commands[self._index].text() if self.can_redo() else ""

    def count(self) -> int:
        return len(self._commands)

    def index(self) -> int:
        return self._index

    def command(self, i: int) -> EditCommand:
        return self._commands[i]

    def holds_case(self, case_ids: set[str]) -> bool:
        """Whether any step edits one of ``case_ids`` (such steps would write stale pixels once its labels change)."""
        return any(c.case_id in case_ids for c in self._commands)

    @property
    def used_bytes(self) -> int:
        return self.budget.used_bytes

    def clear(self) -> None:
        self._commands.clear()
        self._index = 0
        self._live.clear()
        self.budget.clear()
        self.changed.emit()
