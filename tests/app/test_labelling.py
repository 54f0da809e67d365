"""Labelling a case end to end: paint, undo, redo, change slice and case, save, reopen, interpolate, tools."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from sra_seg_core.project import Project


def centre(window):
    ny, nx = window.session.image.shape[1:]
    return ny / 2, nx / 2


def test_demo_project_opens_with_cases_grouped(opened):
    tree = opened.browser.tree
    titles = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert titles[0].startswith("Real · labelled") and "(2)" in titles[0]
    assert titles[1].startswith("Real · unlabelled") and "(4)" in titles[1]
    assert titles[2].startswith("Synthetic") and "(2)" in titles[2]
    assert opened.stack.currentWidget() is opened.label_ws


def test_a_brush_stroke_paints_the_active_class_and_undo_redo_restore(opened):
    s, canvas = opened.session, opened.canvas
    before = s.labels()[s.z].copy()
    opened.tools.select_class(2)
    canvas.paint_at(*centre(opened))
    after = s.labels()[s.z].copy()
    changed = after != before
    assert changed.sum() > 10 and np.all(after[changed] == 2)
    s.history.undo()
    assert np.array_equal(s.labels()[s.z], before)
    s.history.redo()
    assert np.array_equal(s.labels()[s.z], after)


def test_history_survives_slice_and_case_changes(opened):
    s = opened.session
    case, z = s.case_id, s.z
    before = s.labels()[z].copy()
    opened.canvas.paint_at(*centre(opened))
    other = next(c.id for c in s.project.cases if c.id != case)
    s.select_case(other)
    s.set_slice(0)
    s.history.undo()   # brings the edited case and slice back into view
    assert (s.case_id, s.z) == (case, z)
    assert np.array_equal(s.labels()[z], before)


def test_saved_labels_reopen_voxel_for_voxel(opened, demo_path):
    s = opened.session
    case = s.case_id
    opened.canvas.paint_at(*centre(opened))
    s.set_slice(0)
    opened.tools.select_class(3)
    opened.canvas.paint_at(10, 10)
    expected = s.labels().copy()
    s.save()
    assert not s.dirty
    opened.session.close_project()
    with Project.open(demo_path, read_only=True) as project:
        assert np.array_equal(project.read_label(case).array, expected)


def test_autosave_after_a_quiet_moment(opened, qtbot):
    opened.canvas.paint_at(*centre(opened))
    assert opened.session.dirty
    qtbot.waitUntil(lambda: not opened.session.dirty, timeout=5000)
    assert opened.saved_label.text() == "all changes saved"


def test_eraser_removes_only_what_is_under_it(opened):
    s, canvas = opened.session, opened.canvas
    canvas.brush_radius = 6
    canvas.paint_at(*centre(opened))
    opened.tools.set_tool("eraser")
    canvas.brush_radius = 2
    canvas.paint_at(*centre(opened))
    r, c = map(int, centre(opened))
    assert s.labels()[s.z, r, c] == 0 and s.labels()[s.z, r, c + 5] != 0


def test_flood_fill_fills_the_enclosed_region(opened):
    s, canvas = opened.session, opened.canvas
    ring = np.zeros(s.image.shape[1:], bool)
    yy, xx = np.mgrid[: ring.shape[0], : ring.shape[1]]
    d = np.hypot(yy - 40, xx - 40)
    ring[(d > 10) & (d < 13)] = True
    s.labels()[s.z][ring] = 2
    opened.tools.select_class(3)
    opened.tools.set_tool("fill")
    canvas.fill_at(40, 40)
    assert s.labels()[s.z, 40, 40] == 3 and s.labels()[s.z, 40, 48] == 3
    assert s.labels()[s.z, 5, 5] == 0   # outside the ring stays background


def test_polygon_fills_its_inside(opened):
    s, canvas = opened.session, opened.canvas
    opened.tools.set_tool("polygon")
    for vertex in ((20, 20), (20, 60), (60, 60), (60, 20)):
        canvas.add_polygon_vertex(*vertex)
    canvas.close_polygon()
    assert (s.labels()[s.z] == 1).sum() == 40 * 40


def test_copy_from_previous_slice_and_interpolation(opened):
    s, ws = opened.session, opened.label_ws
    z0 = 1
    s.set_slice(z0)
    opened.canvas.brush_radius = 8
    opened.canvas.paint_at(*centre(opened))
    s.set_slice(z0 + 1)
    ws.run_action("copy-prev")
    assert np.array_equal(s.labels()[z0 + 1], s.labels()[z0])
    s.set_slice(z0 + 4)
    opened.canvas.brush_radius = 14
    opened.canvas.paint_at(*centre(opened))
    s.set_slice(z0 + 2)
    ws.interpolate()
    areas = [(s.labels()[z] > 0).sum() for z in range(z0 + 1, z0 + 5)]
    assert all(a > 0 for a in areas) and areas == sorted(areas)


def test_keyboard_selects_class_tool_and_slice_status(opened, qtbot):
    s = opened.session
    qtbot.keyClick(opened, Qt.Key.Key_2)
    assert opened.canvas.active_class == 2
    qtbot.keyClick(opened, Qt.Key.Key_E)
    assert opened.canvas.tool == "eraser"
    qtbot.keyClick(opened, Qt.Key.Key_D)
    assert s.slice_status()[s.z] == "d"
    z = s.z
    qtbot.keyClick(opened, Qt.Key.Key_PageDown)
    assert s.z == z + 1
    qtbot.keyClick(opened, Qt.Key.Key_N)
    assert s.slice_status()[s.z] != "d"


def test_next_unlabelled_skips_done_slices(opened):
    s = opened.session
    from sra_seg_core.project import SliceStatus

    s.set_slice(0)
    for z in range(3):
        s.set_status(SliceStatus.DONE, z)
    opened.label_ws.run_action("next-unlabelled")
    assert s.z == 3


def test_undo_memory_stays_under_its_cap(opened):
    s = opened.session
    s.history.budget.cap_bytes = 20_000
    for k in range(12):
        opened.canvas.brush_radius = 12
        opened.canvas.paint_at(20 + 3 * k, 40)
    assert s.history.used_bytes <= 20_000 + max(c.nbytes for c in s.history._live)
    assert s.history.count() == 12   # expired steps stay listed until reached, then Qt drops them


def test_window_level_follows_presets(opened):
    s = opened.session
    opened.label_ws.window_preset("Full range")
    assert s.window.low == pytest.approx(float(s.image.array.min()))
    opened.label_ws.window_preset("Auto (1–99 %)")
    assert s.window.low > float(s.image.array.min())


def test_cursor_readout_names_the_label(opened, qtbot):
    s = opened.session
    opened.tools.select_class(3)
    opened.canvas.paint_at(30, 30)
    info = {"voxel": (30, 30, s.z), "value": 1.0, "label": 3, "prediction": None, "world": (0.0, 0.0, 0.0)}
    opened._readout(info)
    assert "label LV" in opened.readout.text() and "voxel (30, 30," in opened.readout.text()


def test_replacing_a_cases_labels_clears_undo_steps_that_would_write_stale_pixels(opened):
    s = opened.session
    opened.canvas.paint_at(*centre(opened))
    assert s.history.count() == 1
    s.save()
    s.project.save_label(s.case_id, np.zeros(s.image.shape, np.uint8))   # e.g. a prediction accepted elsewhere
    s.reload_case(s.case_id)
    assert s.history.count() == 0 and not s.labels().any()


def test_the_readout_follows_a_keyboard_slice_change_a_fill_and_an_undo(opened):
    s, canvas = opened.session, opened.canvas
    canvas.hover_pixel(30, 30)          # the mouse rests here from now on
    z = s.z
    s.step_slice(1)                     # PgDown
    assert f"voxel (30, 30, {z + 1})" in opened.readout.text()
    opened.tools.select_class(3)
    canvas.set_tool("fill")
    canvas.fill_at(30, 30)
    assert "label LV" in opened.readout.text()
    s.history.undo()
    assert "label background" in opened.readout.text()


class _Drag:
    """The parts of pyqtgraph's MouseDragEvent the canvas reads: a left drag from ``start`` to ``here`` (scene)."""

    def __init__(self, start, here, *, first=False, last=False):
        self._start, self._here, self._first, self._last = start, here, first, last

    def scenePos(self):
        return self._here

    def buttonDownScenePos(self):
        return self._start

    def isStart(self):
        return self._first

    def isFinish(self):
        return self._last

    def modifiers(self):
        return Qt.KeyboardModifier.NoModifier


def _drag_across(canvas, rows_cols):
    from PySide6.QtCore import QPointF

    sy, sx = canvas._spacing_yx()
    scene = [canvas.view.mapViewToScene(QPointF(c * sx, r * sy)) for r, c in rows_cols]
    for i, here in enumerate(scene):
        canvas._paint_drag(_Drag(scene[0], here, first=i == 0, last=i == len(scene) - 1))


def test_a_brush_drag_paints_along_its_path(opened):
    s, canvas = opened.session, opened.canvas
    opened.tools.select_class(2)
    canvas.set_tool("brush")
    before = s.labels()[s.z].copy()
    r, c = centre(opened)
    _drag_across(canvas, [(r, c - 10), (r, c), (r, c + 10)])
    assert np.all(s.labels()[s.z][int(r), int(c) - 8:int(c) + 8] == 2)
    assert not np.array_equal(s.labels()[s.z], before)


def test_a_brush_drag_that_starts_where_editing_is_refused_paints_nothing_later(opened, monkeypatch):
    s, canvas = opened.session, opened.canvas
    opened.tools.select_class(2)
    canvas.set_tool("brush")
    before = s.labels()[s.z].copy()
    monkeypatch.setattr(s, "can_edit", lambda: False)   # a read-only project refuses at the drag's start
    r, c = centre(opened)
    _drag_across(canvas, [(r, c - 10), (r, c - 5), (r, c), (r, c + 10)])
    assert np.array_equal(s.labels()[s.z], before)
