"""Smart fill: intensity-bounded region growing with a preview, walls at other labels."""

import numpy as np
import pytest

from sra_seg_core.annotation import flood_fill
from sra_seg_core.assist.smart_fill import local_statistics, preview_edits, smart_fill_preview


def _disc_scene(size=64, gap=True):
    """A bright disc (radius 12) in a dark ring (to radius 18) on a mid-grey field, mild noise; an outline of class 1
    drawn on the ring at radius 15, with a 3-px gap on the right when ``gap``."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] - size / 2
    r = np.hypot(yy, xx)
    image = np.where(r < 12, 200.0, np.where(r < 18, 40.0, 120.0)) + rng.normal(0, 4, (size, size))
    labels = np.zeros((size, size), np.uint8)
    labels[np.abs(r - 15) < 0.8] = 1
    if gap:
        labels[(np.abs(yy) <= 1.5) & (xx > 0)] = 0
    return image[None], labels[None], (r < 12)


def test_fill_inside_an_outline_with_a_gap_stays_in_the_structure():
    image, labels, disc = _disc_scene()
    preview = smart_fill_preview(image, labels, (0, 32, 32), value=3)
    assert preview.mask[0][disc].mean() > 0.95
    assert not preview.mask[0][~disc].any()


def test_the_plain_label_flood_fill_it_replaces_does_flood_through_the_gap():
    # the failure the smart fill exists for: without an intensity bound the fill leaves the outline
    image, labels, disc = _disc_scene()
    edit = flood_fill(labels[0], 0, (32, 32), 3)
    assert edit.indices.size > 0.8 * labels[0].size


def test_other_labels_are_walls_unless_paint_over():
    image, labels, disc = _disc_scene(gap=False)
    labels[0, 28:36, 28:36] = 2  # a class-2 patch inside the disc
    kept = smart_fill_preview(image, labels, (0, 32, 20), value=3)
    assert not kept.mask[0, 28:36, 28:36].any()
    over = smart_fill_preview(image, labels, (0, 32, 20), value=3, paint_over=True)
    assert over.mask[0, 28:36, 28:36].all()


def test_a_larger_k_grows_a_larger_region():
    image, labels, _ = _disc_scene()
    small = smart_fill_preview(image, np.zeros_like(labels), (0, 32, 32), value=1, k=0.5, fill_holes=False)
    large = smart_fill_preview(image, np.zeros_like(labels), (0, 32, 32), value=1, k=3.0, fill_holes=False)
    assert small.voxels < large.voxels
    assert not (small.mask & ~large.mask).any()


def test_an_absolute_tolerance_overrides_k():
    image, labels, _ = _disc_scene()
    wide = smart_fill_preview(image, np.zeros_like(labels), (0, 32, 32), value=1, tolerance=200.0)
    assert wide.tolerance == 200.0 and wide.voxels == labels.size


def test_tolerance_comes_from_the_statistics_around_the_seed():
    image, _, _ = _disc_scene()
    mean, std = local_statistics(image, (0, 32, 32))
    assert abs(mean - 200) < 3 and 2 < std < 6


def test_2d_fill_stays_in_its_slice_and_3d_fill_crosses_slices():
    image = np.zeros((3, 16, 16))
    image[:, 4:12, 4:12] = 10.0
    labels = np.zeros(image.shape, np.uint8)
    flat = smart_fill_preview(image, labels, (1, 8, 8), value=1)
    assert flat.mask[1].sum() == 64 and not flat.mask[[0, 2]].any()
    deep = smart_fill_preview(image, labels, (1, 8, 8), value=1, three_d=True)
    assert deep.mask.sum() == 3 * 64


def test_preview_edits_write_the_mask_as_one_edit_per_changed_slice():
    labels = np.zeros((3, 8, 8), np.uint8)
    mask = np.zeros(labels.shape, bool)
    mask[0, :2] = mask[2, 5:] = True
    edits = preview_edits(labels, mask, 4)
    assert [e.z for e in edits] == [0, 2]
    for e in edits:
        e.apply(labels)
    assert (labels[mask] == 4).all() and (labels[~mask] == 0).all()


def test_a_seed_outside_the_volume_is_refused():
    with pytest.raises(ValueError, match="outside"):
        smart_fill_preview(np.zeros((1, 4, 4)), np.zeros((1, 4, 4), np.uint8), (0, 9, 0), value=1)


def test_preview_edits_can_write_a_label_map_where_the_mask_is_set():
    labels = np.zeros((1, 4, 4), np.uint8)
    values = np.arange(16, dtype=np.uint8).reshape(1, 4, 4) % 3
    mask = np.zeros(labels.shape, bool)
    mask[0, 1:3] = True
    for e in preview_edits(labels, mask, values):
        e.apply(labels)
    np.testing.assert_array_equal(labels[mask], values[mask])
    assert not labels[~mask].any()
