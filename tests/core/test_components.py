"""The batched, device-side connected components behind the pseudo-labels: exact against scipy, ties decided the
same way on every device, and no host read in the fixed-round mode."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from sra_seg_core.teacher import (_largest_component_cpu, _largest_component_torch, component_roots, default_rounds,
                                  largest_component, pseudo_labels)

EIGHT = np.ones((3, 3), dtype=bool)


def serpentine(h: int, w: int) -> np.ndarray:
    """One path through every other row, joined at alternating ends: the longest component an H x W grid holds."""
    m = np.zeros((h, w), dtype=bool)
    m[::2] = True
    for i, r in enumerate(range(1, h, 2)):
        m[r, w - 1 if i % 2 == 0 else 0] = True
    return m


def scipy_partition(mask: np.ndarray) -> np.ndarray:
    labels, _ = ndimage.label(mask, structure=EIGHT)
    return labels


def same_partition(roots: np.ndarray, labels: np.ndarray) -> bool:
    """Two labelings describe the same components when the pairs (ours, scipy's) are one-to-one."""
    fg = labels.ravel() > 0
    pairs = set(zip(roots.ravel()[fg].tolist(), labels.ravel()[fg].tolist()))
    return len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


@pytest.mark.parametrize("density", [0.3, 0.45, 0.55, 0.7])
def test_components_are_scipys_eight_connected_partition(density):
    rng = np.random.default_rng(int(density * 100))
    masks = rng.random((4, 29, 33)) < density
    roots, converged = component_roots(torch.from_numpy(masks))
    assert bool(converged)
    for i in range(4):
        assert same_partition(roots[i].numpy(), scipy_partition(masks[i]))


def test_each_component_is_rooted_at_its_first_pixel_in_raster_order():
    mask = np.zeros((6, 6), dtype=bool)
    mask[4:6, 0:2] = True      # starts at flat index 24
    mask[1, 3:6] = True        # starts at flat index 9
    roots, _ = component_roots(torch.from_numpy(mask)[None])
    r = roots[0].view(6, 6)
    assert r[4, 0] == r[5, 1] == 24 and r[1, 5] == 9
    assert (r[~torch.from_numpy(mask)] == 36).all()  # background points at the sentinel H*W


@pytest.mark.parametrize("size", [16, 33, 64])
def test_serpentine_converges_within_the_fixed_rounds(size):
    mask = torch.from_numpy(serpentine(size, size))[None]
    roots, converged = component_roots(mask, rounds=default_rounds(size, size))
    assert bool(converged)
    assert (roots[0][mask.view(-1)] == 0).all()  # one component, rooted at the top-left pixel


def test_too_few_rounds_are_reported_not_hidden():
    mask = torch.from_numpy(serpentine(64, 64))[None]
    flag = torch.tensor(True)
    _largest_component_torch(mask, rounds=2, converged=flag)
    assert not bool(flag)


def test_a_tie_keeps_the_component_that_starts_first_on_both_paths():
    mask = np.zeros((1, 8, 8), dtype=bool)
    mask[0, 5:7, 1:3] = True   # 4 pixels, starts at row 5
    mask[0, 1:3, 5:7] = True   # 4 pixels, starts at row 1: first in raster order -> kept
    expected = np.zeros_like(mask)
    expected[0, 1:3, 5:7] = True
    t = torch.from_numpy(mask)
    assert np.array_equal(_largest_component_cpu(t).numpy(), expected)
    assert np.array_equal(_largest_component_torch(t).numpy(), expected)
    assert np.array_equal(_largest_component_torch(t, rounds=default_rounds(8, 8)).numpy(), expected)


@pytest.mark.parametrize("density", [0.35, 0.5, 0.6])
def test_device_path_keeps_exactly_the_pixels_scipy_keeps(density):
    rng = np.random.default_rng(int(density * 1000))
    masks = torch.from_numpy(rng.random((5, 31, 27)) < density)
    masks[4] = torch.from_numpy(serpentine(31, 27))
    assert torch.equal(_largest_component_torch(masks, rounds=default_rounds(31, 27)),
                       _largest_component_cpu(masks))


def test_pseudo_labels_label_every_class_in_one_pass_like_the_cpu():
    rng = np.random.default_rng(3)
    logits = torch.from_numpy(rng.normal(size=(3, 4, 24, 24)).astype(np.float32))
    assert torch.equal(pseudo_labels(logits, rounds=default_rounds(24, 24)), pseudo_labels(logits))
