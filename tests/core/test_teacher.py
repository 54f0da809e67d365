"""The EMA teacher and pseudo-labels."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from sra_seg_core.model import UNet
from sra_seg_core.teacher import _largest_component_torch, ema_update, largest_component, pseudo_labels


def test_ema_update_blends_parameters_and_batchnorm_statistics():
    torch.manual_seed(0)
    student, teacher = UNet(1, 2, channels=(2, 4, 4, 4, 4)), UNet(1, 2, channels=(2, 4, 4, 4, 4))
    student(torch.rand(2, 1, 32, 32))  # moves BN running stats
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    ema_update(teacher, student, 0.99)
    for k, v in teacher.state_dict().items():
        s = student.state_dict()[k]
        if v.is_floating_point():
            assert torch.allclose(v, 0.99 * before[k] + 0.01 * s, atol=1e-6), k
        else:
            assert torch.equal(v, s), k


def test_ema_decay_zero_copies_the_student():
    student, teacher = UNet(1, 2, channels=(2, 4, 4, 4, 4)), UNet(1, 2, channels=(2, 4, 4, 4, 4))
    ema_update(teacher, student, 0.0)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, student.state_dict()[k])


def test_pseudo_labels_keep_the_largest_component_of_each_class():
    logits = torch.zeros(1, 3, 10, 10)
    logits[0, 0] = 1
    logits[0, 1, 1:4, 1:4] = 5      # class 1: big blob
    logits[0, 1, 8, 8] = 5          # class 1: stray pixel -> dropped
    logits[0, 2, 6:8, 1:3] = 5      # class 2: one blob, kept
    labels = pseudo_labels(logits)
    assert labels[0, 8, 8] == 0
    assert (labels == 1).sum() == 9 and (labels == 2).sum() == 4
    assert (pseudo_labels(logits, largest_cc=False) == 1).sum() == 10


def test_pseudo_labels_of_a_volume_keep_the_largest_3d_component():
    logits = torch.zeros(1, 2, 3, 8, 8)
    logits[0, 0] = 1
    logits[0, 1, 0, 1:3, 1:3] = 5   # a small patch on slice 0 ...
    logits[0, 1, 1, 2:4, 2:4] = 5   # ... joined diagonally across slices to this one: 8 voxels in one component
    logits[0, 1, 2, 6:8, 0:3] = 5   # 6 voxels, apart: dropped although it is the largest on its own slice
    labels = pseudo_labels(logits)
    assert (labels == 1).sum() == 8 and labels[0, 2].sum() == 0


def test_connectivity_is_eight_neighbour_like_skimage():
    mask = torch.zeros(1, 5, 5, dtype=torch.bool)
    mask[0, 1, 1] = mask[0, 2, 2] = mask[0, 3, 3] = True   # a diagonal: one 8-connected component
    assert largest_component(mask).sum() == 3


@pytest.mark.parametrize("density", [0.3, 0.5, 0.6, 0.7])
def test_device_side_components_agree_with_scipy(density):
    rng = np.random.default_rng(int(density * 10))
    masks = torch.from_numpy(rng.random((3, 37, 41)) < density)
    ours = _largest_component_torch(masks).numpy()
    for i in range(3):
        labels, n = ndimage.label(masks[i].numpy(), structure=np.ones((3, 3)))
        sizes = np.bincount(labels.ravel())[1:] if n else np.array([0])
        assert ours[i].sum() == sizes.max()
        assert len(np.unique(labels[ours[i]])) <= 1  # one component only


def test_empty_mask_stays_empty():
    empty = torch.zeros(2, 8, 8, dtype=torch.bool)
    assert not largest_component(empty).any()
    assert not _largest_component_torch(empty).any()


def test_cached_ema_updater_is_exactly_the_state_dict_update():
    from sra_seg_core.ema import EmaUpdater

    torch.manual_seed(1)
    student = UNet(1, 2, channels=(2, 4, 4, 4, 4))
    teacher_a, teacher_b = UNet(1, 2, channels=(2, 4, 4, 4, 4)), UNet(1, 2, channels=(2, 4, 4, 4, 4))
    teacher_b.load_state_dict(teacher_a.state_dict())
    updater = EmaUpdater(teacher_b, student)
    for step in range(3):
        student(torch.rand(2, 1, 32, 32))          # BN statistics and num_batches_tracked move
        with torch.no_grad():
            for p in student.parameters():
                p.add_(0.01 * (step + 1))
        reference_ema(teacher_a, student, 0.99)
        updater.update(0.99)
    for k, v in teacher_a.state_dict().items():
        assert torch.equal(v, teacher_b.state_dict()[k]), k


def reference_ema(teacher, student, decay):
    """The update as it was written before the cached lists: over fresh state dicts every call."""
    t_state, s_state = teacher.state_dict(), student.state_dict()
    floats = [k for k, v in t_state.items() if v.is_floating_point()]
    torch._foreach_lerp_([t_state[k] for k in floats], [s_state[k].detach() for k in floats], 1.0 - decay)
    for k, v in t_state.items():
        if not v.is_floating_point():
            v.copy_(s_state[k])
