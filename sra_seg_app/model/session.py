"""The GUI model: what is open and shown, as observable state with no widgets (ITK-SNAP's "GUI model" layer).

Widgets call the session's methods and redraw on its signals; the session talks to the engine's
:class:`~sra_seg_core.project.Project`. Never losing work is its job:

* every completed edit is journaled at once through ``Project.append_stroke`` (fsynced), so a crash loses no stroke;
* label volumes are saved (atomically) after a short quiet period, on case changes and on close; a save that fails
  (a full disk) raises :class:`SaveError` to the caller (autosave reports it), and the case stays unsaved, its strokes
  safe in the journal;
* a stroke whose journal append fails is reported at once and kept in memory as unsaved; such a case is listed in
  ``unjournaled`` until a save succeeds, and closing then needs an explicit ``force`` (the view asks the user);
* a project in use by another process opens read-only, where edits are refused with a message.

A case's image is read in a worker thread (a 2048 x 2048 photograph takes about half a second to decode) while the
event loop keeps running — timers tick and windows repaint — and user input waits until the case is there, so the
API stays synchronous: after ``select_case`` returns, ``image`` is the new case's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from sra_seg_core.annotation import SliceEdit
from sra_seg_core.errors import error_line
from sra_seg_core.errors import SraSegError
from sra_seg_core.image import Image
from sra_seg_core.project import Project, SliceStatus
from sra_seg_core.settings import add_recent_project
from sra_seg_app.model.undo import EditCommand, EditHistory
from sra_seg_app.model.worker import run_blocking

AUTOSAVE_MS = 1500


class SaveError(SraSegError):
    """Label volumes could not be saved; the message says which case, why, and whether its strokes are safe."""


@dataclass
class WindowLevel:
    """Display window as (low, high) intensities."""

    low: float
    high: float

    @property
    def center(self) -> float:
        return (self.low + self.high) / 2

    @property
    def width(self) -> float:
        return self.high - self.low

    @classmethod
    def from_center_width(cls, center: float, width: float) -> WindowLevel:
        width = max(width, 1e-6)
        return cls(center - width / 2, center + width / 2)

    @classmethod
    def auto(cls, volume: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> WindowLevel:
        """From percentiles of a subsample (fast on 2048x2048 slices and big volumes)."""
        flat = volume.ravel()
        step = max(1, flat.size // 500_000)
        lo, hi = np.percentile(flat[::step].astype(np.float64), [low_pct, high_pct])
        if hi <= lo:
            lo, hi = float(flat.min()), float(flat.max()) + 1e-6
        return cls(float(lo), float(hi))


class Session(QObject):
    projectChanged = Signal()                # a project was opened or closed
    caseChanged = Signal(str)                # the shown case ("" = none)
    sliceChanged = Signal(int)
    labelsChanged = Signal(str, int)         # case, slice (-1: many) whose labels changed
    statusChanged = Signal(str)              # a case's slice status string changed
    predictionChanged = Signal(str)
    casesChanged = Signal()                  # cases were added or removed
    windowLevelChanged = Signal()
    message = Signal(str)                    # a short note for the status bar
    dirtyChanged = Signal(bool)
    saveFailed = Signal(str)                 # a save (autosave included) failed: why, and what is still safe
    journalFailed = Signal(str)              # a stroke could not be journaled: it exists only in memory
    busyChanged = Signal(bool)               # a case's image is being read (the GUI keeps running meanwhile)
    classesChanged = Signal()                # the label classes, or which are hidden / locked, changed

    def __init__(self, parent=None, *, undo_cap_mb: int = 256):
        super().__init__(parent)
        self.project: Project | None = None
        self.case_id: str = ""
        self.image: Image | None = None
        self.z: int = 0
        self.window = WindowLevel(0.0, 1.0)
        self.history = EditHistory(undo_cap_mb * 2**20, self)
        self._labels: dict[str, np.ndarray] = {}     # label volumes touched this session, by case
        self._predictions: dict[str, np.ndarray | None] = {}
        self._dirty: set[str] = set()
        self.unjournaled: set[str] = set()      # dirty cases with strokes the journal lacks (lost if not saved)
        self.recovered: dict[str, int] = {}     # strokes recovered at the last open, by case
        self.busy = False                       # a case's image is being read
        self._pending: tuple[str, int | None] | None = None
        self._autosave = QTimer(self, singleShot=True, interval=AUTOSAVE_MS)
        self._autosave.timeout.connect(self._save_quietly)

    # --- project --------------------------------------------------------------------------------------------------
    def open_project(self, path: str | Path, *, read_only: bool = False) -> Project:
        """Open (raises the engine's errors: ProjectLockedError when another process writes it)."""
        project = Project.open(path, read_only=read_only)
        try:
            self.close_project()   # SaveError: the open project stays, the new one is let go
        except SaveError:
            project.close()
            raise
        self.project = project
        add_recent_project(project.path)
        self._recover()
        self.projectChanged.emit()
        self.casesChanged.emit()
        real = [c for c in project.cases if c.role == "real"]
        if real or project.cases:
            self.select_case((real or project.cases)[0].id)
        return project

    def _recover(self) -> None:
        """Fold strokes journaled by a session that crashed into the saved labels, and say so."""
        project = self.project
        pending = {c.id: project.pending_strokes(c.id) for c in project.cases}
        pending = {case_id: n for case_id, n in pending.items() if n}
        if not pending or project.read_only:
            return
        text = (f"Recovered {sum(pending.values())} stroke(s) on {len(pending)} case(s) from a session that ended "
                "without saving.")
        for case_id in pending:
            try:
                project.save_label(case_id, project.read_label(case_id).array)
            except (SraSegError, OSError) as exc:  # read_label replays the journal, so they are shown all the same
                text += f" They could not be saved yet ({error_line(exc)}) and stay safe in the journal."
                break
        self.message.emit(text)
        self.recovered = pending

    def close_project(self, *, force: bool = False) -> None:
        """Save and close. Raises SaveError when the save fails, unless ``force``: then what is journaled comes back
        at the next opening and strokes in ``unjournaled`` cases are discarded."""
        if self.project is None:
            return
        try:
            self.save()
        except SaveError:
            if not force:
                raise
            self._dirty.clear()
            self.unjournaled.clear()
            self.dirtyChanged.emit(False)
        self.history.clear()
        self.project.close()
        self.project = None
        self.case_id, self.image = "", None
        self._labels.clear()
        self._predictions.clear()
        self.caseChanged.emit("")
        self.projectChanged.emit()

    @property
    def read_only(self) -> bool:
        return self.project is None or self.project.read_only

    # --- case and slice -------------------------------------------------------------------------------------------
    def select_case(self, case_id: str, z: int | None = None) -> None:
        if self.project is None:
            return
        if self.busy:  # asked again while an image is read (a timer, a queued signal): the newest request wins
            self._pending = (case_id, z)
            return
        if case_id != self.case_id:
            if self._dirty:
                self._save_quietly()   # a failure is reported; the case stays dirty, its volume in memory
            project = self.project
            image = self._read_image(case_id)
            if self.project is not project:  # closed while reading
                return
            self.image = image
            self.case_id = case_id
            self.window = WindowLevel.auto(self.image.array)
            self.z = self.image.shape[0] // 2 if z is None else 0
            self.caseChanged.emit(case_id)
            self.windowLevelChanged.emit()
        self.set_slice(self.z if z is None else z, force=True)
        if self._pending is not None:
            (case_id, z), self._pending = self._pending, None
            self.select_case(case_id, z)

    def _read_image(self, case_id: str) -> Image:
        """The case's image, read in a worker thread while the event loop runs without user input (see the module)."""
        project = self.project
        self.busy = True
        self.busyChanged.emit(True)
        try:
            return run_blocking(lambda: project.read_image(case_id))
        finally:
            self.busy = False
            self.busyChanged.emit(False)

    def set_slice(self, z: int, *, force: bool = False) -> None:
        if self.image is None:
            return
        z = int(np.clip(z, 0, self.image.shape[0] - 1))
        if z != self.z or force:
            self.z = z
            self.sliceChanged.emit(z)

    def step_slice(self, delta: int) -> None:
        self.set_slice(self.z + delta)

    def set_window(self, window: WindowLevel) -> None:
        self.window = window
        self.windowLevelChanged.emit()

    # --- label data -----------------------------------------------------------------------------------------------
    def labels(self, case_id: str | None = None) -> np.ndarray | None:
        """The approved label volume (Z, Y, X) uint8 of a case, journal replayed; edits go through :meth:`edit`."""
        case_id = case_id or self.case_id
        if not case_id or self.project is None:
            return None
        if case_id not in self._labels:
            self._labels[case_id] = np.ascontiguousarray(self.project.read_label(case_id).array, dtype=np.uint8)
        return self._labels[case_id]

    def prediction(self, case_id: str | None = None) -> np.ndarray | None:
        case_id = case_id or self.case_id
        if not case_id or self.project is None:
            return None
        if case_id not in self._predictions:
            pred = self.project.read_prediction(case_id)
            self._predictions[case_id] = None if pred is None else np.asarray(pred.array, dtype=np.uint8)
        return self._predictions[case_id]

    def reference(self, case_id: str | None = None) -> np.ndarray | None:
        case_id = case_id or self.case_id
        ref = self.project.read_reference(case_id) if self.project and case_id else None
        return None if ref is None else np.asarray(ref.array, dtype=np.uint8)

    def forget_prediction(self, case_id: str) -> None:
        """Drop the cached prediction so the next read sees the file (after a new model run)."""
        self._predictions.pop(case_id, None)
        self.predictionChanged.emit(case_id)

    def voxel_info(self, row: int, col: int) -> dict | None:
        """What the status bar shows for pixel (row, col) of the current slice: voxel (i, j, z), image value, approved
        label, prediction (None without one) and world position in mm; None outside the image."""
        if self.image is None or not (0 <= row < self.image.shape[1] and 0 <= col < self.image.shape[2]):
            return None
        z, labels, pred = self.z, self.labels(), self.prediction()
        return {
            "voxel": (col, row, z), "value": float(self.image.array[z, row, col]),
            "label": int(labels[z, row, col]) if labels is not None else 0,
            "prediction": int(pred[z, row, col]) if pred is not None else None,
            "world": tuple(float(v) for v in self.image.world((col, row, z))),
        }

    # --- label classes --------------------------------------------------------------------------------------------
    def set_classes(self, classes) -> None:
        """Save new label classes in the project (raises the engine's ProjectError when that is not possible)."""
        if self.project is None or not self.can_edit():
            return
        self.project.set_classes(classes, in_memory=self._labels)
        self.classesChanged.emit()

    def class_removal_question(self, value: int) -> str:
        """What removing class ``value`` does, for the confirmation asked before :meth:`remove_class`: how many voxels
        in how many cases become background (unsaved strokes counted), which classes are renumbered, no undo."""
        classes = self.project.classes
        name = next((c.name for c in classes if c.value == value), str(value))
        counts = self.project.class_voxels(value, in_memory=self._labels)
        if counts:
            cases = ", ".join(sorted(counts)[:5]) + (", ..." if len(counts) > 5 else "")
            lost = (f"{sum(counts.values())} voxel(s) of {name} in {len(counts)} case(s) ({cases}) become background "
                    "in the approved labels (and in references and predictions).")
        else:
            lost = f"No approved label holds {name}."
        above = [c for c in classes if c.value > value]
        moved = (" Classes above it move down one number: " + ", ".join(f"{c.name} {c.value} → {c.value - 1}"
                                                                        for c in above) + ".") if above else ""
        return f"Remove class {value} ({name})? {lost}{moved} This cannot be undone; the undo history is cleared."

    def remove_class(self, value: int) -> None:
        """Remove class ``value`` from the project and every label map (see :meth:`Project.remove_class`), after
        saving; the undo history is cleared (its steps hold the old class numbers). Raises SaveError or the engine's
        ProjectError, the project then unchanged."""
        if self.project is None or not self.can_edit():
            return
        self.save()
        lost = self.project.remove_class(value)
        self.history.clear()
        self._labels.clear()
        self._predictions.clear()
        self.classesChanged.emit()
        if self.case_id:
            self.labelsChanged.emit(self.case_id, -1)
        self.message.emit(f"Class {value} removed: {sum(lost.values())} voxel(s) in {len(lost)} case(s) became "
                          "background; the undo history was cleared.")

    def class_view(self) -> tuple[set[int], set[int]]:
        """(hidden, locked) class values of the open project."""
        from sra_seg_core.project.class_table import class_view

        return class_view(self.project.settings) if self.project else (set(), set())

    def set_class_view(self, hidden: set[int], locked: set[int]) -> None:
        """Hide or lock classes; saved in the project's settings (a read-only project keeps them for the session)."""
        from sra_seg_core.project.class_table import with_class_view

        if self.project is None:
            return
        settings = with_class_view(self.project.settings, set(hidden), set(locked))
        self.project.settings.clear()
        self.project.settings.update(settings)
        if not self.project.read_only:
            self.project.save()
        self.classesChanged.emit()

    def slice_status(self, case_id: str | None = None) -> str:
        case_id = case_id or self.case_id
        return self.project.slice_status(case_id) if self.project and case_id else ""

    # --- editing --------------------------------------------------------------------------------------------------
    def can_edit(self) -> bool:
        if self.project is None or self.image is None:
            return False
        if self.project.read_only:
            self.message.emit("This project is open read-only: edits are not possible.")
            return False
        return True

    def commit(self, edits: list[SliceEdit | None], text: str, *, applied: bool = False) -> bool:
        """Record edits of the current case as one undo step. ``applied``: they are already in the volume (a brush
        stroke painted live), so only journal them. Returns whether anything changed."""
        locked = self.class_view()[1]
        if locked and not applied:  # a locked class's pixels stay as they are, whatever the tool
            from sra_seg_core.project.class_table import without_locked

            edits = [without_locked(e, locked) for e in edits]
        edits = [e for e in edits if e is not None and len(e.indices)]
        if not edits or not self.can_edit():
            return False
        if applied:
            self._journal(self.case_id, edits)
        self.history.push_edit(EditCommand(self._apply, self.case_id, edits, text, applied=applied))
        return True

    def paint_live(self, edit: SliceEdit) -> None:
        """Show a stroke's pixels while the mouse is still down (committed once at the end, see :meth:`commit`)."""
        edit.apply(self.labels())
        self.labelsChanged.emit(self.case_id, edit.z)

    def _apply(self, case_id: str, edits: list[SliceEdit], *, navigate: bool) -> None:
        volume = self.labels(case_id)
        for edit in edits:
            edit.apply(volume)
        self._journal(case_id, edits)
        if navigate and (case_id != self.case_id or edits[-1].z != self.z):
            self.select_case(case_id, edits[-1].z)
        for z in sorted({e.z for e in edits}):
            self.labelsChanged.emit(case_id, z)

    def _journal(self, case_id: str, edits: list[SliceEdit]) -> None:
        before = self.project.slice_status(case_id)
        try:
            for edit in edits:
                self.project.append_stroke(case_id, edit.z, edit.indices, edit.old, edit.new)
        except (SraSegError, OSError) as exc:
            self.unjournaled.add(case_id)
            text = (f"Could not write a stroke of {case_id} to the journal: {error_line(exc)}. It is kept in this "
                    "window only, unsaved: make room or fix the folder and save (Ctrl+S) before closing.")
            self.message.emit(text)
            self.journalFailed.emit(text)
        was_clean = not self._dirty
        self._dirty.add(case_id)
        if was_clean:
            self.dirtyChanged.emit(True)
        self._autosave.start()
        if self.project.slice_status(case_id) != before:
            self.statusChanged.emit(case_id)

    def set_status(self, status: SliceStatus, z: int | None = None) -> None:
        if not self.can_edit():
            return
        self.project.set_slice_status(self.case_id, self.z if z is None else z, status)
        self.statusChanged.emit(self.case_id)

    # --- saving ---------------------------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    def save(self) -> None:
        """Write every changed label volume (atomic; clears their journals). A write that fails (a full disk, a
        folder made read-only) raises SaveError and leaves the case unsaved, the previous label file intact."""
        self._autosave.stop()
        if self.project is None or self.project.read_only or not self._dirty:
            return
        for case_id in sorted(self._dirty):
            try:
                self.project.save_label(case_id, self._labels[case_id])
            except (SraSegError, OSError) as exc:
                safe = ("Some strokes could not be journaled either: they exist only in this window until a save "
                        "succeeds." if case_id in self.unjournaled else "Every stroke is kept in the journal.")
                text = (f"Could not save the labels of {case_id}: {error_line(exc)}. {safe} Make room or fix the "
                        "folder, then save again (Ctrl+S).")
                self.message.emit(text)
                self.saveFailed.emit(text)
                raise SaveError(text) from exc
            self._dirty.discard(case_id)
            self.unjournaled.discard(case_id)
        self.dirtyChanged.emit(False)
        self.message.emit("Saved.")

    def _save_quietly(self) -> None:
        """Save where nobody can be told by an exception (the autosave timer, a case change): the failure was
        reported through ``message`` and ``saveFailed`` already."""
        try:
            self.save()
        except SaveError:
            pass

    def remove_cases(self, case_ids: list[str]) -> None:
        """Remove cases from the project and keep the session consistent: labels saved first, caches dropped, the
        undo history cleared if it holds edits of a removed case, and the view moved to a remaining case."""
        self.save()
        removed = set(case_ids)
        if self.history.holds_case(removed):
            self.history.clear()
        for case_id in case_ids:
            self.project.remove_case(case_id)
            self._labels.pop(case_id, None)
            self._predictions.pop(case_id, None)
        if self.case_id in removed:
            self.case_id, self.image = "", None
            rest = [c for c in self.project.cases if c.role == "real"] or self.project.cases
            if rest:
                self.select_case(rest[0].id)
            else:
                self.caseChanged.emit("")
        self.casesChanged.emit()

    def reload_case(self, case_id: str) -> None:
        """Forget cached arrays of a case (its label file changed outside the editor, e.g. prediction accepted).

        Undo steps recorded on the old labels would write stale pixels into the new ones, so a history that holds
        edits of this case is cleared (and the user told)."""
        if self.history.holds_case({case_id}):
            self.history.clear()
            self.message.emit(f"The labels of {case_id} were replaced: the undo history was cleared.")
        self._labels.pop(case_id, None)
        self._predictions.pop(case_id, None)
        self.labelsChanged.emit(case_id, -1)
        self.statusChanged.emit(case_id)
