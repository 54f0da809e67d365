"""The session (the app's model of what is open) never loses a stroke silently: plain pytest, no widgets."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from sra_seg_core.annotation import SliceEdit
from sra_seg_app.model.session import SaveError


@pytest.fixture
def s(session, qapp):
    case = next(c.id for c in session.project.cases if c.role == "real" and not c.label)
    session.select_case(case)
    yield session
    session.close_project(force=True)   # before the patched disk is restored (user_dirs holds monkeypatch longer)


def paint(s, value=1, z=None):
    z = s.z if z is None else z
    indices = np.arange(5)
    old = s.labels()[z].ravel()[indices].copy()
    assert s.commit([SliceEdit(z, indices, old, np.full(5, value, np.uint8))], "paint")


def full_disk(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "labels/case.nii.gz")


def test_a_failed_save_raises_and_keeps_the_case_unsaved(s, monkeypatch):
    paint(s)
    monkeypatch.setattr(s.project, "save_label", full_disk)
    messages = []
    s.message.connect(messages.append)
    with pytest.raises(SaveError, match="No space left on device"):
        s.save()
    assert s.dirty and "Saved." not in messages


def test_closing_after_a_failed_save_raises_unless_forced(s, monkeypatch):
    paint(s)
    monkeypatch.setattr(s.project, "save_label", full_disk)
    with pytest.raises(SaveError):
        s.close_project()
    assert s.project is not None            # still open: the view can ask the user
    s.close_project(force=True)
    assert s.project is None


def test_a_stroke_whose_journal_append_fails_is_reported_and_kept_as_unsaved(s, monkeypatch):
    monkeypatch.setattr(s.project, "append_stroke", full_disk)
    failures = []
    s.journalFailed.connect(failures.append)
    paint(s, value=2)
    assert failures and "No space left on device" in failures[0]
    assert s.dirty and s.unjournaled == {s.case_id}
    assert (s.labels()[s.z].ravel()[:5] == 2).all()   # kept in memory


def test_a_case_whose_strokes_the_journal_lacks_is_never_reported_saved_until_written(s, monkeypatch):
    monkeypatch.setattr(s.project, "append_stroke", full_disk)
    paint(s)
    monkeypatch.setattr(s.project, "save_label", full_disk)
    messages = []
    s.message.connect(messages.append)
    with pytest.raises(SaveError, match="only in this window"):
        s.save()
    assert "Saved." not in messages and s.unjournaled == {s.case_id}


def test_a_successful_save_writes_the_unjournaled_stroke(s, monkeypatch):
    monkeypatch.setattr(s.project, "append_stroke", full_disk)
    paint(s, value=3)
    monkeypatch.undo()
    s.save()
    assert not s.dirty and not s.unjournaled
    assert (s.project.read_label(s.case_id).array[s.z].ravel()[:5] == 3).all()


def test_the_undo_history_needs_no_gui(s):
    paint(s, value=1)
    assert s.history.can_undo() and s.history.undo_text() == "paint"
    s.history.undo()
    assert not s.labels()[s.z].ravel()[:5].any() and s.history.can_redo()
    s.history.redo()
    assert (s.labels()[s.z].ravel()[:5] == 1).all()
