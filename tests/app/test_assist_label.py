"""The assisted-labelling tools wired into the Label workspace, and the keyboard as a clinician expects it."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from sra_seg_app.model.assist import Tool


def centre(window):
    ny, nx = window.session.image.shape[1:]
    return ny // 2, nx // 2


def test_smart_fill_previews_then_enter_accepts_as_one_undo_step(opened, qtbot):
    s, canvas, ws = opened.session, opened.canvas, opened.label_ws
    before = s.labels()[s.z].copy()
    qtbot.keyClick(opened, Qt.Key.Key_F)
    assert canvas.tool == "smart_fill" and ws.assist.tool == Tool.SMART_FILL
    canvas.smart_fill_at(*centre(opened))
    assert canvas.ghost_item.isVisible() and np.array_equal(s.labels()[s.z], before)   # a preview only
    placed = canvas.ghost_item.mapRectToParent(canvas.ghost_item.boundingRect())      # over the slice, in mm
    assert placed.width() == pytest.approx(s.image.shape[2] * s.image.spacing[0])
    area = int(ws.assist.preview_mask.sum())
    ws.assist.wheel(-3)                                   # the wheel narrows the band while the preview shows
    assert 0 < ws.assist.preview_mask.sum() <= area
    qtbot.keyClick(opened, Qt.Key.Key_Return)
    assert ws.assist.preview is None and not canvas.ghost_item.isVisible()
    assert (s.labels()[s.z] != before).any()
    s.history.undo()
    assert np.array_equal(s.labels()[s.z], before)


def test_a_click_inside_the_smart_fill_preview_accepts_it(opened):
    s, canvas, ws = opened.session, opened.canvas, opened.label_ws
    opened.tools.set_tool("smart_fill")
    canvas.smart_fill_at(*centre(opened))
    canvas.smart_fill_at(*centre(opened))
    assert ws.assist.preview is None and s.labels()[s.z].any()


def test_escape_cancels_the_preview_and_gives_the_keyboard_back_to_the_image(opened, qtbot):
    canvas, ws = opened.canvas, opened.label_ws
    opened.tools.set_tool("smart_fill")
    canvas.smart_fill_at(*centre(opened))
    opened.browser.filter.setFocus()
    qtbot.keyClick(opened.browser.filter, Qt.Key.Key_Escape)
    assert ws.assist.preview is None and not opened.session.labels().any()
    assert canvas.hasFocus()


def test_scribbles_give_a_preview_off_the_gui_thread_and_enter_accepts(opened, qtbot):
    s, canvas, ws = opened.session, opened.canvas, opened.label_ws
    r, c = centre(opened)
    qtbot.keyClick(opened, Qt.Key.Key_S)
    qtbot.keyClick(opened, Qt.Key.Key_3)
    canvas.brush_radius = 1
    canvas.scribble_at([(r - 2, c), (r + 2, c)])
    canvas.scribble_at([(2, 2), (2, 20)], background=True)
    assert canvas.scribble_item.isVisible()
    ws.assist.wait()
    assert ws.assist.preview is not None and ws.assist.preview[s.z, r, c] == 3
    steps = len(s.history._undo) if hasattr(s.history, "_undo") else None
    qtbot.keyClick(opened, Qt.Key.Key_Return)
    assert s.labels()[s.z, r, c] == 3 and s.labels()[s.z, 2, 2] == 0
    assert s.history.undo_text() == "Scribble"
    s.history.undo()
    assert not s.labels()[s.z].any() and (steps is None or len(s.history._undo) == steps)


def test_number_keys_choose_the_class_unless_a_text_field_is_typed_in(opened, qtbot):
    opened.browser.filter.setFocus()
    qtbot.keyClick(opened.browser.filter, Qt.Key.Key_2)
    assert opened.browser.filter.text() == "2" and opened.canvas.active_class != 2
    opened.tools.class_list.setFocus()   # a list would jump to its row starting with "2"
    qtbot.keyClick(opened.tools.class_list, Qt.Key.Key_2)
    assert opened.canvas.active_class == 2


def test_f1_shows_the_shortcut_sheet_listing_the_tool_keys(opened, qtbot):
    qtbot.keyClick(opened, Qt.Key.Key_F1)
    assert opened.help_sheet.isVisible()
    assert "smart fill" in opened.help_sheet.text.text() and "Esc" in opened.help_sheet.text.text()
    qtbot.keyClick(opened.help_sheet, Qt.Key.Key_Space)
    assert not opened.help_sheet.isVisible()


def test_ct_presets_and_typed_numbers_set_the_window_and_the_box_says_custom(opened):
    s, t = opened.session, opened.tools
    opened.label_ws.window_preset("CT soft tissue (W 400 / L 40)")
    assert (s.window.low, s.window.high) == (-160.0, 240.0)
    assert t.window.currentText().startswith("CT soft") and t.width_spin.value() == pytest.approx(400)
    t.width_spin.setValue(300)
    assert s.window.width == pytest.approx(300) and t.window.currentText() == "Custom"


def test_brush_size_is_a_diameter_in_px_and_mm(opened):
    t = opened.tools
    t.size_spin.setValue(10)
    assert opened.canvas.brush_radius == 5
    mm = 10 * min(opened.session.image.spacing[:2])
    assert t.size_mm.text() == f"{mm:.1f} mm"


def test_the_slice_strip_has_a_legend_of_its_colours(opened):
    from PySide6.QtWidgets import QLabel

    texts = " ".join(label.text() for label in opened.label_ws.legend.findChildren(QLabel))
    for name in ("not started", "in progress", "done", "flagged"):
        assert name in texts


def test_propose_shows_the_models_labels_as_a_ghost_with_its_uncertainty_and_accepts_per_class(opened, qtbot):
    import torch

    from sra_seg_core.inference import LoadedModel
    from sra_seg_core.model import UNet

    s, canvas, ws = opened.session, opened.canvas, opened.label_ws
    torch.manual_seed(0)
    net = UNet(1, 4, (4, 8, 16, 32, 64), (0.0,) * 5).eval()
    ws.assist.set_model(LoadedModel(net, 4, 32), {"run": "assistant-1", "labelled_slices": 7})
    assert "assistant-1" in ws.assist_panel.status.text() and "7 labelled slices" in ws.assist_panel.status.text()
    ws.assist_panel.tool_buttons[Tool.PROPOSE].click()
    qtbot.waitUntil(lambda: ws.assist.preview is not None, timeout=20000)
    assert canvas.ghost_item.isVisible()
    qtbot.keyClick(opened, Qt.Key.Key_U)
    assert canvas.uncertainty_item.isVisible()
    for value, box in ws.assist_panel.class_boxes.items():
        box.setChecked(value == 2)
    expected = ws.assist.preview[s.z] == 2
    qtbot.keyClick(opened, Qt.Key.Key_Return)
    assert set(np.unique(s.labels()[s.z])) <= {0, 2} and np.array_equal(s.labels()[s.z] == 2, expected)


def test_the_assistant_counts_the_projects_done_slices_and_shows_its_state(opened, qtbot):
    ws = opened.label_ws
    before = ws.done_slices()
    ws.assist_panel.assistant_on.setChecked(True)
    assert ws.assistant.enabled and "next fine-tune after 5" in ws.assist_panel.assistant_status.text()
    qtbot.keyClick(opened, Qt.Key.Key_D)
    assert ws.done_slices() == before + 1 and "after 4" in ws.assist_panel.assistant_status.text()


def test_the_label_table_renames_adds_hides_and_locks_classes_saved_in_the_project(opened, qtbot, demo_path):
    from sra_seg_core.project import Project

    s, t, canvas = opened.session, opened.tools, opened.canvas
    t.classEdit.emit("rename", 2, "Myocardium")
    t.classEdit.emit("add", 0, "")
    assert [c.name for c in s.project.classes] == ["RV", "Myocardium", "LV", "class 4"]
    assert "4  class 4" in [t.class_list.item(k).text() for k in range(t.class_list.count())]
    qtbot.keyClick(opened, Qt.Key.Key_4)
    assert canvas.active_class == 4
    t.select_class(1)
    t.lock_class.setChecked(True)
    r, c = centre(opened)
    canvas.active_class = 1
    canvas.brush_radius = 3
    canvas.paint_at(r, c)
    canvas.active_class = 3
    canvas.paint_at(r, c)                      # class 1 is locked: its pixels stay
    assert s.labels()[s.z, r, c] == 1
    t.select_class(3)
    t.hide_class.setChecked(True)
    assert 3 not in canvas.class_colors() and 1 in canvas.class_colors()
    s.save()
    opened.session.close_project()
    with Project.open(demo_path, read_only=True) as project:
        assert project.classes[1].name == "Myocardium" and project.settings["label_view"] == {"hidden": [3],
                                                                                            "locked": [1]}


def test_removing_a_middle_class_asks_how_many_voxels_then_renumbers_the_classes_above(opened, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    s, t, canvas = opened.session, opened.tools, opened.canvas
    r, c = centre(opened)
    canvas.brush_radius = 2
    canvas.active_class = 2
    canvas.paint_at(r, c)
    canvas.active_class = 3
    canvas.paint_at(r, c + 8)
    held = {case.id: int((s.labels(case.id) == 2).sum()) for case in s.project.cases}
    myo = sum(held.values())
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    t.select_class(2)
    t.class_buttons["remove"].click()
    assert f"{myo} voxel(s) of Myo in {sum(n > 0 for n in held.values())} case(s)" in asked[0]
    assert "LV 3 → 2" in asked[0] and "cannot be undone" in asked[0]
    assert [c.name for c in s.project.classes] == ["RV", "LV"]
    assert s.labels()[s.z, r, c] == 0 and s.labels()[s.z, r, c + 8] == 2
    assert not s.history.can_undo() and canvas.active_class == 1   # the removed class was the one chosen
    rows = [t.class_list.item(k).text() for k in range(t.class_list.count())]
    assert any(row.startswith("2  LV") for row in rows) and not any(row.startswith("3  ") for row in rows)


def test_cancelling_the_removal_changes_nothing(opened, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    s, t = opened.session, opened.tools
    opened.canvas.active_class = 1
    opened.canvas.paint_at(*centre(opened))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    t.select_class(1)
    t.class_buttons["remove"].click()
    assert len(s.project.classes) == 3 and s.labels()[(s.z, *centre(opened))] == 1 and s.history.can_undo()


def test_propagate_proposes_the_next_slice_from_this_one_and_goes_there(opened, qtbot):
    s, canvas, ws = opened.session, opened.canvas, opened.label_ws
    r, c = centre(opened)
    z = s.z
    canvas.active_class = 3
    canvas.brush_radius = 6
    canvas.paint_at(r, c)
    ws.assist_panel.tool_buttons[Tool.PROPAGATE].click()
    assert s.z == z + 1 and canvas.ghost_item.isVisible()
    assert ws.assist.preview[z + 1, r, c] == 3
    qtbot.keyClick(opened, Qt.Key.Key_Return)
    assert s.labels()[z + 1, r, c] == 3 and s.history.undo_text() == "Accept propagation"


def test_smart_fill_respects_paint_over_from_the_tools_panel(opened):
    s, canvas, ws = opened.session, opened.canvas, opened.label_ws
    r, c = centre(opened)
    canvas.active_class, canvas.brush_radius = 1, 2
    canvas.paint_at(r, c)
    opened.tools.overwrite.setChecked(False)
    assert not ws.assist.paint_over
    opened.tools.set_tool("smart_fill")
    canvas.active_class = 3
    canvas.smart_fill_at(r, c + 4)
    assert ws.assist.preview is not None
    assert not (ws.assist.preview_mask[s.z] & (s.labels()[s.z] == 1)).any()
    opened.tools.overwrite.setChecked(True)
    assert ws.assist.paint_over


def test_coming_back_to_label_gives_the_keyboard_to_the_image(opened, qtbot):
    opened.show_workspace("Export")
    opened.browser.filter.setFocus()
    opened.show_workspace("Label")
    qtbot.keyClick(opened.focusWidget() or opened, Qt.Key.Key_2)
    assert opened.canvas.active_class == 2 and opened.browser.filter.text() == ""


def test_a_checkpoint_in_the_projects_runs_becomes_the_proposer_without_blocking(opened, qtbot):
    import torch

    from sra_seg_core.model import UNet

    ws = opened.label_ws
    net = UNet(1, 4, (4, 8, 16, 32, 64), (0.0,) * 5)
    checkpoint = opened.session.project.runs_dir / "r1" / "checkpoints" / "best.pt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"model": net.state_dict(), "model_config": {"in_channels": 1, "num_classes": 4,
                                                           "channels": [4, 8, 16, 32, 64], "dropout": [0.0] * 5},
                "num_classes": 4, "image_size": 32}, checkpoint)
    opened.show_workspace("Label")
    qtbot.waitUntil(lambda: ws.assist.model is not None or "Cannot load" in opened.statusBar().currentMessage(),
                    timeout=20000)
    assert ws.assist.model is not None, opened.statusBar().currentMessage()
    assert "r1" in ws.assist_panel.status.text() and ws.assist_panel.tool_buttons[Tool.PROPOSE].isEnabled()
