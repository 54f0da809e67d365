"""The one rule for the status of a slice, a case and a patient; training, export, Blend, Which 10 %, the case list
and the project's counts all ask here.

Slices carry their own state (:class:`~sra_seg_core.project.manifest.SliceStatus`: not started, in progress, done,
flagged). A real case's label status follows from them and from its label data:

* label data exists when the case has a saved label file or strokes in its journal (replayed on the next read);
* **labelled**: at least one slice marked done AND label data exists — training uses exactly its done slices;
* **approved**: labelled with every slice done (nothing left to draw);
* **in progress**: drawn on or started, but not labelled yet — one stroke does not make a case labelled, and slices
  marked done on a case that has no label data (nothing saved, nothing journaled) do not either;
* **unlabelled**: nothing started.

A case with a reference label (expert ground truth, kept apart for validation) is **reference**; that is a property
next to its label status, because a case can hold both.

Which 10 % counts whole patients (the published protocol labels a patient whole): a patient is labelled when every
real case of it is approved. A patient with 1 of 11 slices done counts as partly labelled, not labelled; in slice
units the done slices of labelled cases count one by one.
"""

from __future__ import annotations

from enum import Enum

from sra_seg_core.project.manifest import CaseRecord, SliceStatus


class CaseStatus(str, Enum):
    UNLABELLED = "unlabelled"
    IN_PROGRESS = "in progress"
    LABELLED = "labelled"
    APPROVED = "approved"


def done_slices(case: CaseRecord) -> tuple[int, ...]:
    """Indices of the slices marked done."""
    return tuple(z for z, s in enumerate(case.slice_status) if s == SliceStatus.DONE.value)


def has_label_data(project, case: CaseRecord) -> bool:
    """Whether the case has approved label data: a saved label file, or journaled strokes not saved yet."""
    return case.label is not None or project.pending_strokes(case.id) > 0


def case_status(project, case: CaseRecord) -> CaseStatus:
    done = SliceStatus.DONE.value in case.slice_status
    if done and has_label_data(project, case):
        return CaseStatus.APPROVED if set(case.slice_status) == {SliceStatus.DONE.value} else CaseStatus.LABELLED
    started = done or SliceStatus.IN_PROGRESS.value in case.slice_status or has_label_data(project, case)
    return CaseStatus.IN_PROGRESS if started else CaseStatus.UNLABELLED


def is_labelled(project, case: CaseRecord) -> bool:
    """A real case whose done slices are training data (see the module for the rule)."""
    return case.role == "real" and case_status(project, case) in (CaseStatus.LABELLED, CaseStatus.APPROVED)


def is_reference(case: CaseRecord) -> bool:
    return case.role == "real" and case.reference is not None


def labelled_slices(project, case: CaseRecord) -> tuple[int, ...]:
    """The slices training uses: the done slices of a labelled case, else none."""
    return done_slices(case) if is_labelled(project, case) else ()


def labelled_patients(project) -> set[str]:
    """Patients (``case.group``) every real case of which is approved."""
    real = [c for c in project.cases if c.role == "real"]
    partly = {c.group for c in real if case_status(project, c) != CaseStatus.APPROVED}
    return {c.group for c in real} - partly


def started_patients(project) -> set[str]:
    """Patients with any real case started (in progress, labelled or approved): partly or fully labelled."""
    return {c.group for c in project.cases if c.role == "real" and case_status(project, c) != CaseStatus.UNLABELLED}
