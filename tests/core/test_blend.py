"""Soft edge blending: the mask, its smoothing and the two mixing directions of SRA-Seg."""

import pytest
import torch

from sra_seg_core.blend import bidirectional_mix, blend_alpha, box_mask, mix, one_hot, smooth_mask, smoothing_kernel
from sra_seg_core.config import BlendConfig


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_box_has_floor_two_thirds_size_and_is_shared_by_the_batch():
    m = box_mask(4, 256, 216, generator=gen())
    assert m.shape == (4, 1, 256, 216)
    assert int((m[0] == 0).sum()) == int(256 * 2 / 3) * int(216 * 2 / 3)
    assert torch.equal(m[0], m[3])


def test_per_sample_boxes_differ():
    m = box_mask(8, 64, 64, per_sample=True, generator=gen())
    assert not all(torch.equal(m[0], m[i]) for i in range(1, 8))


def test_box_position_is_uniform_within_the_reference_range():
    corners = set()
    for seed in range(200):
        m = box_mask(1, 12, 12, generator=gen(seed))[0, 0]
        rows, cols = torch.nonzero(m == 0, as_tuple=True)
        corners.add((int(rows.min()), int(cols.min())))
    # np.random.randint(0, 12 - 8) -> corners 0..3 in each direction, all 16 reachable, never 4
    assert corners == {(r, c) for r in range(4) for c in range(4)}


def test_gaussian_kernel_is_normalised_5x5_sigma_1():
    k = smoothing_kernel("gaussian", 5, 1.0)
    assert k.shape == (1, 1, 5, 5)
    assert k.sum().item() == pytest.approx(1.0)
    assert k[0, 0, 2, 2] / k[0, 0, 2, 3] == pytest.approx(torch.exp(torch.tensor(0.5)).item(), rel=1e-5)


def test_smoothing_makes_a_continuous_edge_and_keeps_far_regions():
    m = box_mask(1, 64, 64, generator=gen())
    alpha = smooth_mask(m, "gaussian", 5, 1.0)
    values = alpha.unique()
    assert len(values) > 5 and values.min() >= 0 and values.max() <= 1
    inside = (m == 0) & (torch.nn.functional.max_pool2d(1 - m, 5, 1, 2) == 1) & (
        torch.nn.functional.max_pool2d(m, 5, 1, 2) == 0)
    assert torch.all(alpha[inside] == 0)


def test_zero_padding_darkens_the_image_border_as_in_the_reference():
    alpha = smooth_mask(torch.ones(1, 1, 16, 16), "box", 7)
    assert alpha[0, 0, 8, 8] == pytest.approx(1.0)
    assert alpha[0, 0, 0, 0] == pytest.approx(16 / 49)


def test_hard_blend_config_gives_the_binary_mask():
    alpha, m = blend_alpha(2, 32, 32, BlendConfig(hard=True), generator=gen())
    assert torch.equal(alpha, m)


def test_fives_box_filter_config():
    alpha, m = blend_alpha(1, 64, 64, BlendConfig(smoothing="box", kernel_size=7), generator=gen())
    assert torch.allclose(alpha, smooth_mask(m, "box", 7))


def test_bidirectional_mix_follows_the_paper_formulas():
    g = gen(3)
    ra, rb, sa, sb = (torch.rand(2, 1, 16, 16, generator=g) for _ in range(4))
    ya, yb, pa, pb = (one_hot(torch.randint(0, 4, (2, 16, 16), generator=g), 4) for _ in range(4))
    alpha, _ = blend_alpha(2, 16, 16, generator=g)
    pair = bidirectional_mix(ra, rb, sa, sb, ya, yb, pa, pb, alpha)
    assert torch.allclose(pair.x1, sa * alpha + ra * (1 - alpha))
    assert torch.allclose(pair.y1, pa * alpha + ya * (1 - alpha))
    assert torch.allclose(pair.x2, rb * alpha + sb * (1 - alpha))
    assert torch.allclose(pair.y2, yb * alpha + pb * (1 - alpha))
    assert torch.allclose(pair.y1.sum(1), torch.ones(2, 16, 16))  # soft labels stay a distribution


def test_mix_with_alpha_one_and_zero():
    a, b = torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    assert torch.equal(mix(a, b, torch.ones_like(a)), a)
    assert torch.equal(mix(a, b, torch.zeros_like(a)), b)
