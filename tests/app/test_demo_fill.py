"""First start: the demo project opens on its first patient at once, the others join the case browser as they are
made in the background, whole, and a start closed early is finished by the next one."""

from __future__ import annotations

import functools

import pytest

from sra_seg_core import demo
from sra_seg_core.project import Project
from sra_seg_app.model.demo_fill import DemoFill
from sra_seg_app.model.session import Session

SMALL = {"real": 2, "labelled": 1, "synthetic": 1}
TIMEOUT_MS = 60_000


@pytest.fixture
def small_demo(monkeypatch):
    """The window's demo project, with 3 patients instead of 18."""
    monkeypatch.setattr(demo, "begin_demo_project", functools.partial(demo.begin_demo_project, **SMALL))


@pytest.fixture
def begun(tmp_path):
    demo.begin_demo_project(tmp_path / "demo", **SMALL).close()
    return tmp_path / "demo"


def readable(project) -> bool:
    """Every case the manifest names reads whole: its image, and its label or reference."""
    for case in project.cases:
        project.read_image(case.id)
        if case.label:
            project.read_label(case.id)
        if case.reference:
            project.read_reference(case.id)
    return True


def test_the_first_start_shows_the_first_case_before_the_other_patients_exist(window, small_demo):
    assert window.open_demo()
    session = window.session
    assert session.case_id == "patient001_frame01" and session.image is not None
    assert [c.id for c in session.project.cases] == ["patient001_frame01"]
    assert window.demo_fill.running


def test_the_other_patients_arrive_in_the_case_browser(window, small_demo, qtbot):
    window.open_demo()
    qtbot.waitUntil(lambda: not window.demo_fill.running, timeout=TIMEOUT_MS)
    project = window.session.project
    assert demo.missing_patients(project) == [] and len(project.cases) == 6
    assert window.browser.tree.topLevelItem(0).text(0).endswith("(2)")       # patient001's approved frames
    assert window.browser.tree.topLevelItem(2).text(0).endswith("(2)")       # synthetic001


def test_cases_are_announced_only_when_whole_one_patient_at_a_time(begun, qtbot):
    session = Session()
    session.open_project(begun)
    seen = []
    session.casesChanged.connect(lambda: seen.append((readable(session.project), len(session.project.cases))))
    fill = DemoFill(session)
    assert fill.start()
    qtbot.waitUntil(lambda: not fill.running, timeout=TIMEOUT_MS)
    assert seen == [(True, 2), (True, 4), (True, 6)]   # patient001's second frame, patient002, synthetic001
    session.close_project()


def test_a_fill_stopped_by_closing_the_project_leaves_complete_cases_and_the_next_opening_finishes(begun, qtbot):
    session = Session()
    session.open_project(begun)
    fill = DemoFill(session)
    finished = []
    fill.finished.connect(lambda: finished.append(True))
    fill.added.connect(lambda *_: session.close_project())   # the window closes after the first patient arrives
    fill.start()
    qtbot.waitUntil(lambda: not fill.running, timeout=TIMEOUT_MS)
    project = Project.open(begun, read_only=True)
    assert not finished and readable(project) and len(project.cases) == 2
    assert [p.name for p in demo.missing_patients(project)] == ["patient002", "synthetic001"]
    project.close()

    fill.added.disconnect()
    session.open_project(begun)
    assert fill.start()
    qtbot.waitUntil(lambda: not fill.running, timeout=TIMEOUT_MS)
    assert finished and demo.missing_patients(session.project) == []
    session.close_project()


def test_a_complete_demo_project_starts_no_fill(session):
    assert not DemoFill(session).start()
