"""The assisted-labelling model (state and rules, no widgets): previews, live tolerance, accept as one undo step."""

import numpy as np
import pytest
import torch

from sra_seg_app.model.assist import AssistModel, Tool
from sra_seg_core.model import UNet


def _scene():
    """Three slices of a bright disc (radius 10) on a dark noisy field; no labels yet."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    disc = np.hypot(yy - 24, xx - 24) < 10
    volume = np.stack([30 + 150 * disc + rng.normal(0, 3, disc.shape) for _ in range(3)]).astype(np.float32)
    return volume, np.zeros(volume.shape, np.uint8), disc


def _apply(labels, edits):
    for e in edits:
        e.apply(labels)


def test_a_fill_click_previews_without_touching_the_labels_and_accept_commits_it():
    volume, labels, disc = _scene()
    model = AssistModel(volume, labels)
    model.set_tool(Tool.SMART_FILL)
    model.fill_click((1, 24, 24), 3)
    assert (model.preview_mask[1] == disc).mean() > 0.98 and not labels.any()
    edits = model.accept()
    assert [e.z for e in edits] == [1] and model.preview is None
    _apply(labels, edits)
    assert ((labels[1] == 3) == disc).mean() > 0.98


def test_turning_the_wheel_regrows_the_previewed_fill():
    volume, labels, _ = _scene()
    model = AssistModel(volume, labels)
    model.set_tool(Tool.SMART_FILL)
    model.set_k(0.3)  # a narrow band: only part of the noisy disc
    model.fill_click((1, 24, 24), 3)
    small = model.preview_mask.sum()
    shown = []
    model.previewChanged.connect(lambda: shown.append(model.preview_mask.sum()))
    model.wheel(+20)
    assert shown and shown[-1] > small and model.k > 0.3


def test_scribbles_update_the_preview_and_cancel_drops_them():
    volume, labels, disc = _scene()
    model = AssistModel(volume, labels)
    model.add_scribble(1, [24 * 48 + 24], 2)
    model.add_scribble(1, [2 * 48 + 2], 0)  # class 0 from the panel = background scribble
    assert ((model.preview[1] == 2) == disc).mean() > 0.98
    model.cancel()
    assert model.preview is None and not model.scribbles.any()


def test_three_d_scribbles_preview_every_slice():
    volume, labels, disc = _scene()
    model = AssistModel(volume, labels)
    model.set_three_d(True)
    model.add_scribble(1, [24 * 48 + 24], 2)
    model.add_scribble(1, [2 * 48 + 2], 0)
    assert all(((model.preview[z] == 2) == disc).mean() > 0.95 for z in range(3))
    assert len(model.accept()) == 3


def test_scribble_preview_does_not_overwrite_other_labels_unless_paint_over():
    volume, labels, disc = _scene()
    labels[1, 22:26, 22:26] = 1
    model = AssistModel(volume, labels)
    model.add_scribble(1, [24 * 48 + 14], 2)
    model.add_scribble(1, [2 * 48 + 2], 0)
    _apply(labels, model.accept())
    assert (labels[1, 22:26, 22:26] == 1).all()


def test_propagation_previews_the_next_slice_and_accepting_one_class_keeps_the_rest():
    volume, labels, disc = _scene()
    labels[0][disc] = 3
    labels[1, :2, :2] = 1   # something of another class already on the target slice
    model = AssistModel(volume, labels)
    model.set_tool(Tool.PROPAGATE)
    model.propagate_to(0, 1)
    assert ((model.preview[1] == 3) == disc).mean() > 0.95
    _apply(labels, model.accept(classes=[3]))
    assert ((labels[1] == 3) == disc).mean() > 0.95 and (labels[1, :2, :2] == 1).all()


def test_proposing_needs_a_model_and_then_shows_its_uncertainty():
    volume, labels, _ = _scene()
    model = AssistModel(volume, labels)
    with pytest.raises(RuntimeError, match="no model"):
        model.propose([1])
    torch.manual_seed(0)
    from sra_seg_core.inference import LoadedModel

    net = UNet(1, 4, (4, 8, 16, 32, 64), (0.0,) * 5).eval()
    model.set_model(LoadedModel(net, 4, 32), {"run": "assistant-1", "labelled_slices": 12, "best_dice": 0.81})
    assert "assistant-1" in model.status and "12 labelled slices" in model.status
    model.set_tool(Tool.PROPOSE)
    model.propose([1])
    assert model.uncertainty.shape == volume.shape and not model.uncertainty[[0, 2]].any()
    edits = model.accept()
    assert all(e.z == 1 for e in edits)


def test_switching_tools_drops_the_preview():
    volume, labels, _ = _scene()
    model = AssistModel(volume, labels)
    model.add_scribble(1, [24 * 48 + 24], 2)
    model.add_scribble(1, [0], 0)
    model.set_tool(Tool.SMART_FILL)
    assert model.preview is None and not model.scribbles.any()


def test_background_scribble_segmentation_shows_its_preview_when_the_worker_ends(qtbot):
    from sra_seg_app.model.assist import AssistModel

    yy, xx = np.mgrid[:32, :32]
    disc = np.hypot(yy - 16, xx - 16) < 7
    volume = np.stack([20 + 100 * disc for _ in range(2)]).astype(np.float32)
    model = AssistModel(volume, np.zeros(volume.shape, np.uint8), background=True)
    model.add_scribble(0, np.ravel_multi_index(([16], [16]), (32, 32)), 2)
    model.add_scribble(0, np.ravel_multi_index(([2], [2]), (32, 32)), 0)   # while the first still runs: folded in
    assert model.busy or model.preview is not None
    model.wait()
    assert not model.busy
    assert model.preview[0][disc].mean() > 0.9 and (model.preview[0][~disc] == 2).mean() < 0.1


def test_a_late_background_result_after_cancel_is_dropped(qtbot):
    from sra_seg_app.model.assist import AssistModel

    volume = np.random.default_rng(0).normal(size=(1, 32, 32)).astype(np.float32)
    model = AssistModel(volume, np.zeros(volume.shape, np.uint8), background=True)
    model.add_scribble(0, np.array([5, 600]), 1)
    model.cancel()
    model.wait()
    assert model.preview is None
