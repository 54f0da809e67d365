"""Never losing work: crash recovery from the stroke journal, the project lock, read-only mode, quick start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
from PySide6.QtWidgets import QMessageBox

from sra_seg_core.project import Project


def test_killed_app_loses_no_completed_stroke(demo_path, window, tmp_path):
    # A child app paints three strokes, never saves, and is killed with SIGKILL.
    script = textwrap.dedent(f"""
        import os, signal, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from sra_seg_app.model.session import Session
        from sra_seg_app.widgets.canvas import SliceCanvas
        s = Session(); canvas = SliceCanvas(s)
        s.open_project({str(demo_path)!r})
        case = [c.id for c in s.project.cases if c.role == "real" and not c.label][0]
        s.select_case(case, 2)
        for k in range(3):
            canvas.active_class = k + 1
            canvas.paint_at(30 + 15 * k, 30)
        import numpy as np
        np.save({str(tmp_path / "expected.npy")!r}, s.labels())
        print(case, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == -9, out.stderr
    case = out.stdout.strip()
    expected = np.load(tmp_path / "expected.npy")
    assert window.open_project(demo_path)
    assert window.session.recovered == {case: 3}
    assert np.array_equal(window.session.labels(case), expected)
    window.session.close_project()
    with Project.open(demo_path, read_only=True) as project:   # folded into the saved label at reopen
        assert np.array_equal(project.read_label(case).array, expected)
        assert project.pending_strokes(case) == 0


def test_second_instance_is_offered_read_only(demo_path, window, monkeypatch):
    holder = Project.open(demo_path)
    try:
        asked = []
        monkeypatch.setattr(QMessageBox, "question",
                            lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Open)
        assert window.open_project(demo_path)
        assert len(asked) == 1 and f"process {os.getpid()}" in asked[0] and "read-only" in asked[0]
        assert window.session.read_only and window.banner.isVisible()
        s = window.session
        before = s.labels().copy()
        window.canvas.paint_at(20, 20)
        assert np.array_equal(s.labels(), before)
    finally:
        holder.close()


def test_the_window_starts_without_importing_what_it_does_not_show():
    """torch, SimpleITK, scipy.ndimage and pyqtgraph's CUDA bindings cost 0.1-2 s each and are needed only once
    a case loads or a model runs; the welcome window must paint without them."""
    heavy = ["torch", "SimpleITK", "scipy.ndimage", "cuda.bindings.runtime"]
    code = textwrap.dedent(f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from sra_seg_app.main_window import MainWindow
        w = MainWindow(); w.show(); app.processEvents()
        print([name for name in {heavy!r} if name in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SRA_SEG_CONFIG_DIR": "/nonexistent-sra-config"})
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


def _full_disk(*_args, **_kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device", "labels/case.nii.gz")


def _close(window) -> bool:
    from PySide6.QtGui import QCloseEvent

    event = QCloseEvent()
    window.closeEvent(event)
    return event.isAccepted()


def test_closing_when_the_save_fails_asks_and_cancel_keeps_the_project_open(opened, monkeypatch):
    opened.canvas.paint_at(30, 30)
    monkeypatch.setattr(opened.session.project, "save_label", _full_disk)
    asked = []
    monkeypatch.setattr(opened, "confirm_close_unsaved", lambda why: asked.append(why) or False)
    assert not _close(opened)
    assert asked and "No space left on device" in asked[0] and opened.session.project is not None
    monkeypatch.setattr(opened, "confirm_close_unsaved", lambda why: True)   # "Close anyway"
    assert _close(opened) and opened.session.project is None


def test_close_anyway_names_strokes_the_journal_lacks(opened, monkeypatch):
    monkeypatch.setattr(opened.session.project, "append_stroke", _full_disk)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    opened.canvas.paint_at(30, 30)
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a: shown.append(text)
                        or QMessageBox.StandardButton.Cancel)
    monkeypatch.setattr(opened.session.project, "save_label", _full_disk)
    assert not _close(opened)
    assert "closing discards them" in shown[-1] and opened.session.project is not None
    opened.session.close_project(force=True)
