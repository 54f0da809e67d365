"""Model proposals: probabilities, argmax and uncertainty on the image's grid; accept per class."""

import numpy as np
import pytest
import torch

from sra_seg_core.assist.propose import (Proposal, accept_classes, check_fits, load_proposer, normalised_entropy,
                                         propose, proposal_checkpoint)
from sra_seg_core.errors import InputError
from sra_seg_core.model import UNet


def _save_checkpoint(path, num_classes=4, image_size=32):
    torch.manual_seed(0)
    model = UNet(1, num_classes, (4, 8, 16, 32, 64), (0.0,) * 5)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "sra-seg-checkpoint", "model": model.state_dict(), "num_classes": num_classes,
                "model_config": {"in_channels": 1, "channels": [4, 8, 16, 32, 64], "dropout": [0.0] * 5},
                "image_size": image_size, "meta": {"stage": "pretrain", "iteration": 7}}, path)
    return path


def _proposal(labels, slices=None):
    slices = tuple(range(labels.shape[0])) if slices is None else slices
    k = 4
    probs = np.eye(k, dtype=np.float32)[labels].transpose(0, 3, 1, 2)
    return Proposal(slices, probs, labels, normalised_entropy(probs), {})


def test_a_run_folder_proposes_from_best_and_falls_back_to_latest_while_training(tmp_path):
    run = tmp_path / "run"
    latest = _save_checkpoint(run / "checkpoints" / "latest.pt")
    assert proposal_checkpoint(run) == latest
    best = _save_checkpoint(run / "checkpoints" / "best.pt")
    assert proposal_checkpoint(run) == best


def test_a_folder_without_checkpoints_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no checkpoints"):
        proposal_checkpoint(tmp_path)


def test_proposal_is_on_the_image_grid_with_probabilities_that_sum_to_one(tmp_path):
    loaded = load_proposer(_save_checkpoint(tmp_path / "r" / "checkpoints" / "latest.pt"), "cpu")
    volume = np.random.default_rng(0).normal(100, 20, (5, 40, 52)).astype(np.float32)
    proposal = propose(loaded, volume, slices=[1, 3])
    assert proposal.slices == (1, 3)
    assert proposal.probabilities.shape == (2, 4, 40, 52)
    np.testing.assert_allclose(proposal.probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(proposal.labels, proposal.probabilities.argmax(axis=1))
    assert proposal.uncertainty.shape == (2, 40, 52)
    assert 0.0 <= proposal.uncertainty.min() and proposal.uncertainty.max() <= 1.0
    assert proposal.source["iteration"] == 7 and proposal.source["checkpoint"].endswith("latest.pt")


def test_a_slice_outside_the_image_is_an_input_error(tmp_path):
    loaded = load_proposer(_save_checkpoint(tmp_path / "c.pt"), "cpu")
    with pytest.raises(InputError, match="outside"):
        propose(loaded, np.zeros((2, 16, 16), np.float32), slices=[2])


def test_entropy_is_zero_when_sure_and_one_when_every_class_is_equally_likely():
    sure = np.zeros((1, 3, 1, 1), np.float32)
    sure[0, 1] = 1
    assert normalised_entropy(sure)[0, 0, 0] == pytest.approx(0.0, abs=1e-5)
    assert normalised_entropy(np.full((1, 3, 1, 1), 1 / 3, np.float32))[0, 0, 0] == pytest.approx(1.0)


def test_accepting_one_class_replaces_only_that_class_and_leaves_the_others():
    labels = np.zeros((1, 4, 4), np.uint8)
    labels[0, 0, :] = 1          # the user's RV row
    labels[0, 3, :] = 3          # the user's LV row
    proposed = np.zeros((1, 4, 4), np.uint8)
    proposed[0, 1, :] = 3        # the model's LV is elsewhere
    proposed[0, 0, :2] = 2
    edits = accept_classes(labels, _proposal(proposed), classes=[3])
    for e in edits:
        e.apply(labels)
    assert (labels[0, 0] == 1).all()            # RV untouched, even where the model proposed Myo
    assert (labels[0, 1] == 3).all() and (labels[0, 3] == 0).all()


def test_accepting_everything_makes_the_slice_the_proposal_as_one_edit_per_slice():
    labels = np.zeros((3, 4, 4), np.uint8)
    proposed = np.random.default_rng(0).integers(0, 4, (2, 4, 4)).astype(np.uint8)
    edits = accept_classes(labels, _proposal(proposed, slices=(0, 2)))
    assert [e.z for e in edits] == [0, 2]
    for e in edits:
        e.apply(labels)
    np.testing.assert_array_equal(labels[[0, 2]], proposed)
    assert not labels[1].any()


def test_propagation_with_a_model_is_the_models_proposal_for_the_target_slice(tmp_path):
    from sra_seg_core.assist.propagate import propagate

    loaded = load_proposer(_save_checkpoint(tmp_path / "c.pt"), "cpu")
    volume = np.random.default_rng(1).normal(0, 1, (3, 24, 24)).astype(np.float32)
    labels = np.zeros(volume.shape, np.uint8)
    result = propagate(volume, labels, 0, 1, model=loaded)
    assert result.method == "model"
    np.testing.assert_array_equal(result.labels, propose(loaded, volume, [1]).labels[0])


class Thresholder(torch.nn.Module):
    """A 'network' that calls class 1 wherever the normalised image is bright: its proposal is the image's blobs."""

    def forward(self, x):
        return (torch.cat([0.5 - x, x - 0.5, -x, -x], dim=1) * 20,)


def _blobs():
    """(4, 32, 32): a heart-like column through every slice and one small blob on slice 3, apart from it."""
    volume = np.zeros((4, 32, 32), np.float32)
    volume[:, 8:20, 8:20] = 1.0
    volume[3, 26:30, 26:30] = 1.0
    return volume


def _stand_in():
    from types import SimpleNamespace

    return SimpleNamespace(model=Thresholder(), image_size=32, device=torch.device("cpu"), meta={})


def test_a_whole_case_proposal_keeps_only_the_largest_3d_component_of_each_class():
    proposal = propose(_stand_in(), _blobs())
    assert (proposal.labels[:, 10, 10] == 1).all() and proposal.labels[3, 28, 28] == 0


def test_a_proposal_of_some_slices_keeps_every_component():
    proposal = propose(_stand_in(), _blobs(), slices=[3, 0])
    assert proposal.slice_labels(3)[28, 28] == 1 and proposal.slice_labels(0)[10, 10] == 1


def test_a_whole_case_given_out_of_order_keeps_each_slices_own_labels():
    volume = _blobs()
    volume[0] = 0.0   # slice 0 empty: its proposal must stay empty wherever it is listed
    proposal = propose(_stand_in(), volume, slices=[3, 2, 1, 0])
    assert not proposal.slice_labels(0).any() and proposal.slice_labels(3)[10, 10] == 1
    assert proposal.slice_labels(3)[28, 28] == 0


def test_a_model_with_other_classes_than_the_project_is_refused(tmp_path):
    loaded = load_proposer(_save_checkpoint(tmp_path / "c.pt", num_classes=4), "cpu")
    check_fits(loaded, 4)
    with pytest.raises(InputError, match="predicts 3 classes but the project has 2"):
        check_fits(loaded, 3)
