"""Editing a project's label classes: rename, recolour, add, remove; and which are hidden or locked.

Each edit returns a new class list checked by :func:`~sra_seg_core.project.classes.class_problem` (values stay
1..N in order, because label maps store them). Removing class k therefore renumbers the classes above it (k + 1
becomes k, ...): :func:`renumbering` is the map of old values to new ones, which
:meth:`Project.remove_class <sra_seg_core.project.store.Project.remove_class>` applies to every label map of the
project, the removed class becoming background. Hidden and locked classes are a view of the project (saved in its
settings under ``label_view``), not part of the label maps; :func:`view_without` renumbers them the same way.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sra_seg_core.annotation import SliceEdit
from sra_seg_core.errors import InputError
from sra_seg_core.project.classes import LabelClass, class_color, class_problem

VIEW_KEY = "label_view"


def _checked(classes: list[LabelClass]) -> list[LabelClass]:
    problem = class_problem(classes)
    if problem:
        raise InputError(problem)
    return classes


def renamed(classes: list[LabelClass], value: int, name: str) -> list[LabelClass]:
    return _checked([replace(c, name=name.strip()) if c.value == value else c for c in classes])


def recoloured(classes: list[LabelClass], value: int, color: str) -> list[LabelClass]:
    return _checked([replace(c, color=color.upper()) if c.value == value else c for c in classes])


def added(classes: list[LabelClass], name: str | None = None) -> list[LabelClass]:
    """One more class at the end (value N + 1), in the palette's next colour."""
    n = len(classes)
    return _checked([*classes, LabelClass(n + 1, name or f"class {n + 1}", class_color(n))])


def removed(classes: list[LabelClass], value: int) -> list[LabelClass]:
    """``classes`` without class ``value``; the classes above it move down one value, keeping names and colours."""
    if value not in {c.value for c in classes}:
        raise InputError(f"there is no class {value} to remove (the classes are 1..{len(classes)})")
    return _checked([c if c.value < value else replace(c, value=c.value - 1) for c in classes if c.value != value])


def renumbering(num_classes: int, value: int) -> np.ndarray:
    """(num_classes + 1,) uint8 lookup table of old label values to new ones when class ``value`` is removed from
    classes 1..num_classes: ``value`` becomes 0 (background), those above move down one, the others stay."""
    old = np.arange(num_classes + 1)
    return np.where(old == value, 0, np.where(old > value, old - 1, old)).astype(np.uint8)


def view_without(settings: dict, value: int) -> dict:
    """``settings`` with class ``value`` gone from the hidden and locked classes and those above it renumbered."""
    hidden, locked = class_view(settings)
    def shift(values: set[int]) -> set[int]:
        return {v - 1 if v > value else v for v in values if v != value}

    return with_class_view(settings, shift(hidden), shift(locked))


def class_view(settings: dict) -> tuple[set[int], set[int]]:
    """(hidden, locked) class values from a project's settings."""
    view = settings.get(VIEW_KEY) or {}
    return ({int(v) for v in view.get("hidden", []) if isinstance(v, int)},
            {int(v) for v in view.get("locked", []) if isinstance(v, int)})


def with_class_view(settings: dict, hidden: set[int], locked: set[int]) -> dict:
    """``settings`` with the hidden and locked classes replaced (a new dict)."""
    return {**settings, VIEW_KEY: {"hidden": sorted(hidden), "locked": sorted(locked)}}


def without_locked(edit: SliceEdit | None, locked: set[int]) -> SliceEdit | None:
    """``edit`` minus the pixels that would change a locked class's pixels (or paint a locked class away)."""
    if edit is None or not locked:
        return edit
    keep = ~np.isin(edit.old, sorted(locked))
    if keep.all():
        return edit
    return SliceEdit(edit.z, edit.indices[keep], edit.old[keep], edit.new[keep]) if keep.any() else None
