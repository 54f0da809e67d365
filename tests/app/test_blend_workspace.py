"""The Blend workspace shows what training feeds the network: the engine's alpha, both mixes and their soft labels."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from sra_seg_core.blend import blend_alpha, one_hot
from sra_seg_core.config import BlendConfig, preset
from sra_seg_core.datasets import normalise_minmax, resize_slices
from sra_seg_app.workspaces.blend import HATCH_RGB, BlendWorkspace, hatch, soft_label_rgb
from sra_seg_app.model.session import Session

SIZE = 256


@pytest.fixture
def workspace(qtbot, session):
    ws = BlendWorkspace(session)
    qtbot.addWidget(ws)
    ws.resize(1200, 800)
    ws.show()
    ws.activated()
    qtbot.waitUntil(lambda: ws.preview is not None, timeout=60_000)
    return ws


def recompute(qtbot, ws, change) -> None:
    """Apply a control change and wait for the redraw it schedules."""
    with qtbot.waitSignal(ws.previewUpdated, timeout=5000):
        change()


def training_slice(session, case_id: str, z: int) -> np.ndarray:
    """The slice as training prepares it, computed here independently of the workspace."""
    volume = normalise_minmax(session.project.read_image(case_id).array)
    return resize_slices(volume[z : z + 1], SIZE, "linear")[0]


def synthetic_case(session) -> str:
    return next(c.id for c in session.project.cases if c.role == "synthetic")


def test_alpha_equals_blend_alpha_for_the_same_seed_and_config(workspace):
    assert workspace.blend_config() == BlendConfig()   # the defaults are training's defaults, 2/3 hole exactly
    alpha, m = blend_alpha(1, SIZE, SIZE, BlendConfig(), generator=torch.Generator().manual_seed(1337))
    assert workspace.seed.value() == 1337
    np.testing.assert_array_equal(workspace.preview.alpha, alpha[0, 0].numpy())
    np.testing.assert_array_equal(workspace.preview.mask, m[0, 0].numpy())


def test_mixed_images_follow_the_formulas_on_slices_prepared_like_training(workspace, session):
    r = training_slice(session, workspace.real_case.currentData(), workspace.real_slice.value() - 1)
    s = training_slice(session, workspace.syn_case.currentData(), workspace.syn_slice.value() - 1)
    a, p = workspace.preview.alpha, workspace.preview
    np.testing.assert_allclose(p.x1, s * a + r * (1 - a), atol=1e-6)
    np.testing.assert_allclose(p.x2, r * a + s * (1 - a), atol=1e-6)


def test_real_picker_defaults_to_a_slice_marked_done(workspace, session):
    case = session.project.case(workspace.real_case.currentData())
    assert case.slice_status[workspace.real_slice.value() - 1] == "d"
    assert "training uses this slice" in workspace.real_note.text()


def test_hard_smoothing_leaves_only_zeros_and_ones(qtbot, workspace):
    recompute(qtbot, workspace, lambda: workspace.smoothing.setCurrentText("None (hard edge)"))
    assert set(np.unique(workspace.preview.alpha)) == {0.0, 1.0}
    assert not workspace.kernel.isEnabled() and not workspace.sigma.isEnabled()


def test_gaussian_smoothing_is_strictly_between_0_and_1_at_the_box_edge(workspace):
    top, left, h, w = workspace.preview.box
    alpha = workspace.preview.alpha
    edge = [alpha[top, left + w // 2], alpha[top - 1, left + w // 2], alpha[top + h // 2, left + w - 1]]
    assert all(0.0 < value < 1.0 for value in edge)
    assert alpha[top + h // 2, left + w // 2] == 0.0   # deep inside the box the real / synthetic side is pure


def test_hole_size_sets_the_side_of_the_box(qtbot, workspace):
    recompute(qtbot, workspace, lambda: workspace.hole.setValue(30))   # 30/60 = half the side
    assert workspace.preview.box[2:] == (SIZE // 2, SIZE // 2)
    assert int((workspace.preview.mask == 0).sum()) == (SIZE // 2) ** 2
    assert "1/2 of the side" in workspace.hole_note.text()


def test_box_smoothing_follows_the_kernel_size(qtbot, workspace):
    recompute(qtbot, workspace, lambda: workspace.smoothing.setCurrentText("Box"))
    recompute(qtbot, workspace, lambda: workspace.kernel.setValue(7))
    top, left, h, w = workspace.preview.box
    row = workspace.preview.alpha[top + h // 2]
    soft = np.flatnonzero((row > 1e-6) & (row < 1 - 1e-6))   # a sum of 49 sevenths-squared is not exactly 1
    # a 7-wide box filter ramps over 3 pixels on each side of each box edge (and 3 at each image border)
    assert len(soft[(soft > 3) & (soft < SIZE - 4)]) == 12


def test_kernel_size_accepts_odd_values_only(qtbot, workspace):
    workspace.kernel.setValue(4)
    assert workspace.kernel.value() == 5
    workspace.kernel.lineEdit().selectAll()
    qtbot.keyClicks(workspace.kernel, "8")
    qtbot.keyClick(workspace.kernel, Qt.Key.Key_Return)
    assert workspace.kernel.value() == 9


def test_presets_set_the_mask_controls(workspace):
    workspace.apply_preset("fives")
    assert workspace.blend_config() == preset("fives").blend
    workspace.apply_preset("acdc")
    assert workspace.blend_config() == preset("acdc").blend


def test_reseed_moves_the_box_and_the_seed_reproduces_it(qtbot, workspace):
    before_seed, before_box = workspace.seed.value(), workspace.preview.box
    recompute(qtbot, workspace, workspace.reseed.click)
    assert workspace.seed.value() != before_seed
    assert workspace.preview.box != before_box
    recompute(qtbot, workspace, lambda: workspace.seed.setValue(before_seed))
    assert workspace.preview.box == before_box


def test_panels_follow_the_case_and_slice_pickers(qtbot, workspace, session):
    recompute(qtbot, workspace, lambda: workspace.real_slice.setValue(2))
    real = workspace.real_case.currentData()
    np.testing.assert_allclose(workspace.panels["real"].image.image, training_slice(session, real, 1), atol=1e-6)
    assert "slice 2" in workspace.panels["real"].title.text()

    other = workspace.syn_case.itemData(1)
    recompute(qtbot, workspace, lambda: workspace.syn_case.setCurrentIndex(1))
    z = workspace.syn_slice.value() - 1
    assert z == session.project.case(other).shape[0] // 2
    np.testing.assert_allclose(workspace.panels["synthetic"].image.image, training_slice(session, other, z),
                               atol=1e-6)


def test_real_picker_offers_only_cases_with_an_approved_label(workspace, session):
    offered = {workspace.real_case.itemData(i) for i in range(workspace.real_case.count())}
    assert offered == {c.id for c in session.project.cases if c.role == "real" and c.label}


def test_synthetic_side_without_prediction_is_shown_as_no_label(workspace):
    preview = workspace.preview
    assert preview.unlabelled
    # P is the extra "no label" class everywhere, so its weight in y1 is alpha and in y2 is 1 - alpha
    np.testing.assert_allclose(preview.y1[-1], preview.alpha, atol=1e-6)
    np.testing.assert_allclose(preview.y2[-1], 1 - preview.alpha, atol=1e-6)
    assert "No prediction" in workspace.syn_note.text()


def test_prediction_becomes_the_pseudo_label_with_the_teachers_largest_component_rule(qtbot, workspace, session):
    case = workspace.syn_case.currentData()
    prediction = np.zeros(session.project.case(case).shape, np.uint8)
    prediction[:, 60:140, 60:140] = 3
    prediction[:, 5:9, 5:9] = 3                          # a speck the teacher's rule drops
    session.project.save_prediction(case, prediction)
    recompute(qtbot, workspace, lambda: session.forget_prediction(case))
    preview, k = workspace.preview, session.project.num_classes
    assert not preview.unlabelled and preview.y1.shape[0] == k
    z = workspace.syn_slice.value() - 1
    pseudo = resize_slices(prediction[z : z + 1], SIZE, "nearest")[0]
    pseudo[:20, :20] = 0
    real = workspace.real_case.currentData()
    label = resize_slices(session.labels(real)[workspace.real_slice.value() - 1][None], SIZE, "nearest")[0]
    p, y = (one_hot(torch.from_numpy(a.astype(np.int64))[None], k)[0].numpy() for a in (pseudo, label))
    a = preview.alpha
    np.testing.assert_allclose(preview.y1, p * a + y * (1 - a), atol=1e-6)
    np.testing.assert_allclose(preview.y2, y * a + p * (1 - a), atol=1e-6)
    assert "prediction" in workspace.syn_note.text() and "No prediction" not in workspace.syn_note.text()


def test_label_edits_in_the_session_refresh_the_preview(qtbot, workspace, session):
    real, z = workspace.real_case.currentData(), workspace.real_slice.value() - 1
    session.labels(real)[z] = 0
    recompute(qtbot, workspace, lambda: session.labelsChanged.emit(real, z))
    assert np.allclose(workspace.preview.y2[0], workspace.preview.alpha)   # real side is all background


def test_project_without_synthetic_cases_shows_a_message(qtbot, workspace, session):
    session.remove_cases([c.id for c in session.project.cases if c.role == "synthetic"])
    assert workspace.pages.currentWidget() is workspace.message_page
    assert "synthetic" in workspace.message_title.text().lower()
    assert "import" in workspace.message_text.text().lower()


def test_soft_labels_are_drawn_as_class_colours_mixed_by_weight():
    palette = np.array([[0, 0, 0], [200, 100, 0]], np.float32)
    y = np.zeros((3, 2, 2), np.float32)
    y[0] = 0.5
    y[1] = 0.5                     # half background, half class 1
    y[:, 1, 1] = (0, 0, 1)         # the "no label" channel
    rgb = soft_label_rgb(y, palette, hatch(2, 2))
    assert rgb[0, 0].tolist() == [100, 50, 0]
    assert rgb[1, 1].tolist() in (list(HATCH_RGB[0]), list(HATCH_RGB[1]))


def test_building_the_workspace_does_not_import_torch(demo_path):
    script = textwrap.dedent(f"""
        import sys
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from sra_seg_app.model.session import Session
        from sra_seg_app.workspaces.blend import BlendWorkspace
        s = Session(); ws = BlendWorkspace(s); s.open_project({str(demo_path)!r}); ws.show(); app.processEvents()
        print("torch" in sys.modules)
        s.close_project()
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.strip() == "False", out.stderr


def test_the_engine_is_loaded_only_once_the_workspace_is_activated(qtbot, session):
    ws = BlendWorkspace(session)
    qtbot.addWidget(ws)
    ws.show()
    qtbot.wait(50)
    assert not ws.ready and ws.preview is None
    assert ws.pages.currentWidget() is ws.loading_page
    ws.activated()
    qtbot.waitUntil(lambda: ws.preview is not None, timeout=60_000)
    assert ws.ready and ws.pages.currentWidget() is ws.main_page
