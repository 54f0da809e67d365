"""The losses: SRA-Seg's soft Dice + CE, BCP's masked mix loss, the mean teacher's consistency."""

import math

import pytest
import torch
import torch.nn.functional as F

from sra_seg_core.blend import one_hot
from sra_seg_core.losses import bcp_mix_loss, consistency_loss, sigmoid_rampup, soft_seg_loss


def test_soft_loss_matches_the_spec_formula():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=g)
    target = torch.rand(2, 3, 8, 8, generator=g).softmax(1)
    loss, parts = soft_seg_loss(logits, target)
    p = logits.softmax(1).clamp(1e-6, 1 - 1e-6)
    y = target.clamp(1e-6, 1 - 1e-6)
    dice = 1 - (2 * (p * y).sum((2, 3)) / (p.sum((2, 3)) + y.sum((2, 3)) + 1e-5)).mean()
    ce = -(y * p.log()).sum(1).mean()
    assert parts["dice"].item() == pytest.approx(dice.item(), rel=1e-6)
    assert parts["ce"].item() == pytest.approx(ce.item(), rel=1e-6)
    assert loss.item() == pytest.approx((dice + ce).item(), rel=1e-6)


def test_soft_loss_with_one_hot_targets_equals_hard_cross_entropy_plus_dice():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 8, 8, generator=g)
    labels = torch.randint(0, 4, (2, 8, 8), generator=g)
    _, parts = soft_seg_loss(logits, one_hot(labels, 4))
    assert parts["ce"].item() == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-3)


def test_soft_loss_is_near_zero_ce_for_a_confident_correct_prediction():
    labels = torch.randint(0, 3, (1, 8, 8))
    logits = one_hot(labels, 3) * 40.0
    loss, parts = soft_seg_loss(logits, one_hot(labels, 3))
    assert parts["ce"].item() < 1e-4 and loss.item() < 0.01


def test_soft_loss_gradient_is_finite_for_extreme_logits():
    logits = (torch.randn(1, 4, 8, 8) * 1e4).requires_grad_()
    loss, _ = soft_seg_loss(logits, torch.full((1, 4, 8, 8), 0.25))
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_bcp_mix_loss_weights_the_two_regions():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 4, 8, 8, generator=g)
    outside, inside = (torch.randint(0, 4, (2, 8, 8), generator=g) for _ in range(2))
    mask = torch.ones(2, 8, 8)
    mask[:, 2:6, 2:6] = 0
    full, _ = bcp_mix_loss(logits, outside, inside, mask, outside_weight=1.0, inside_weight=1.0)
    half, _ = bcp_mix_loss(logits, outside, inside, mask, outside_weight=0.5, inside_weight=1.0)
    only_in, _ = bcp_mix_loss(logits, outside, inside, mask, outside_weight=0.0, inside_weight=1.0)
    only_out = full - only_in
    assert half.item() == pytest.approx(only_in.item() + 0.5 * only_out.item(), rel=1e-5)


def test_bcp_ce_term_is_masked_cross_entropy():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(1, 2, 6, 6, generator=g)
    labels = torch.randint(0, 2, (1, 6, 6), generator=g)
    mask = torch.ones(1, 6, 6)
    _, parts = bcp_mix_loss(logits, labels, labels, mask)
    assert parts["ce"].item() == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)


def test_consistency_is_zero_for_identical_outputs_and_positive_otherwise():
    a = torch.randn(2, 4, 8, 8)
    assert consistency_loss(a, a).item() == 0
    assert consistency_loss(a, -a).item() > 0


def test_sigmoid_rampup_ends():
    assert sigmoid_rampup(0, 200) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(200, 200) == 1.0
    assert sigmoid_rampup(1000, 200) == 1.0
