"""GUI test fixtures: a small demo project per test, user folders in tmp, the main window on the offscreen platform."""

from __future__ import annotations

import shutil

import pytest

from sra_seg_core.demo import create_demo_project


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch):
    """Recent projects and the demo project go to a temporary folder, never the real user folders."""
    monkeypatch.setenv("SRA_SEG_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SRA_SEG_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("template") / "demo"
    create_demo_project(folder, real=3, labelled=1, synthetic=1).close()
    return folder


@pytest.fixture
def demo_path(demo_template, tmp_path):
    target = tmp_path / "demo"
    shutil.copytree(demo_template, target, ignore=shutil.ignore_patterns(".lock"))
    return target


@pytest.fixture
def session(demo_path):
    """A session (the GUI model, no window) with the demo project open."""
    from sra_seg_app.model.session import Session

    s = Session()
    s.open_project(demo_path)
    yield s
    s.close_project()


@pytest.fixture
def window(qtbot):
    from sra_seg_app.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


@pytest.fixture
def opened(window, demo_path, qtbot):
    """The main window with the demo project open on an unlabelled real case."""
    assert window.open_project(demo_path)
    case = next(c.id for c in window.session.project.cases if c.role == "real" and not c.label)
    window.session.select_case(case)
    qtbot.wait(20)
    return window
