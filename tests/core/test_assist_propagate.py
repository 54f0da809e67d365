"""Propagation: the next slice's proposal from the current one, following the next slice's intensities."""

import numpy as np
import pytest

from sra_seg_core.assist.propagate import carried_scribbles, propagate
from sra_seg_core.assist.scribble import BACKGROUND
from sra_seg_core.phantoms import cardiac_case


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def _disc_stack():
    """Two slices of a bright disc that grows (radius 9 -> 11) and moves 1 px right; labels on slice 0 only."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    discs = [np.hypot(yy - 32, xx - 31) < 9, np.hypot(yy - 32, xx - 32) < 11]
    volume = np.stack([20.0 + 150.0 * d + rng.normal(0, 3, d.shape) for d in discs])
    labels = np.zeros(volume.shape, np.uint8)
    labels[0][discs[0]] = 1
    return volume, labels, discs[1]


def test_shape_propagation_follows_the_next_slices_edges_better_than_a_copy():
    volume, labels, truth = _disc_stack()
    result = propagate(volume, labels, 0, 1)
    assert result.method == "shape"
    copied = _dice(labels[0] == 1, truth)
    assert _dice(result.labels == 1, truth) > max(0.95, copied)


def test_propagation_on_phantom_slices_beats_copying_the_slice():
    image, label = cardiac_case(4, shape=(8, 128, 128))
    result = propagate(image.array, label.array, 3, 4)
    propagated = np.mean([_dice(result.labels == c, label.array[4] == c) for c in (1, 2, 3)])
    copied = np.mean([_dice(label.array[3] == c, label.array[4] == c) for c in (1, 2, 3)])
    assert propagated > copied + 0.05


def test_an_empty_source_slice_proposes_nothing():
    volume, labels, _ = _disc_stack()
    labels[:] = 0
    assert not propagate(volume, labels, 0, 1).labels.any()


def test_carried_scribbles_keep_cores_and_leave_a_band_to_decide():
    labels = np.zeros((32, 32), np.uint8)
    labels[8:24, 8:24] = 2
    scribbles = carried_scribbles(labels, margin=3)
    assert (scribbles[11:21, 11:21] == 2).all()
    assert (scribbles[6:26, 6:26] != BACKGROUND).all() and scribbles[0, 0] == BACKGROUND
    assert (scribbles[8:24, 8] == 0).all()


def test_a_thin_structure_still_carries_a_marker():
    labels = np.zeros((32, 32), np.uint8)
    labels[10:12, 5:25] = 1  # 2 px thick: erosion by 3 would remove it
    assert (carried_scribbles(labels, margin=3) == 1).any()


def test_a_slice_outside_the_volume_is_refused():
    volume, labels, _ = _disc_stack()
    with pytest.raises(ValueError, match="outside"):
        propagate(volume, labels, 0, 2)
