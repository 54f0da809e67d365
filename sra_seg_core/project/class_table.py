"""Editing a project's label classes: rename, recolour, add, remove the last; and which are hidden or locked.

Each edit returns a new class list checked by :func:`~sra_seg_core.project.classes.class_problem` (values stay
1..N in order, because label maps store them: removing a class in the middle would renumber every label file, so
only the last class can be removed, and :meth:`Project.set_classes` refuses while a label still holds it). Hidden and
locked classes are a view of the project (saved in its settings under ``label_view``), not part of the label maps.
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


def removed_last(classes: list[LabelClass]) -> list[LabelClass]:
    return _checked(list(classes[:-1]))


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
