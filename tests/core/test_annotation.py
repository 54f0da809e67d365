"""Annotation engine: sparse undoable edits, brush, eraser, flood fill, polygon, copy, interpolation, navigation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from sra_seg_core.annotation import (
    SliceEdit,
    UndoBudget,
    copy_slice,
    disk_indices,
    flood_fill,
    interpolate_slices,
    make_edit,
    next_unlabelled,
    paint,
    polygon_indices,
    stroke_indices,
)


def _mask(indices, shape):
    mask = np.zeros(shape, bool)
    mask.flat[indices] = True
    return mask


def _disc(shape, center, radius):
    yy, xx = np.indices(shape)
    return np.hypot(yy - center[0], xx - center[1]) <= radius


# --- SliceEdit and make_edit -----------------------------------------------------------------------------------------

slices = arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, 4))


@settings(max_examples=60, deadline=None)
@given(slices, st.data())
def test_applying_an_edit_then_its_inverse_restores_the_slice_exactly(labels, data):
    indices = data.draw(st.lists(st.integers(0, labels.size - 1), max_size=40))
    values = data.draw(st.lists(st.integers(0, 4), min_size=len(indices), max_size=len(indices)))
    volume = np.stack([labels, labels])
    before = volume.copy()
    edit = make_edit(volume[1], 1, indices, np.asarray(values, np.uint8))
    if edit is None:
        return
    edit.apply(volume)
    assert np.array_equal(volume[1].flat[edit.indices], edit.new)
    edit.inverse().apply(volume)
    assert np.array_equal(volume, before)


def test_make_edit_keeps_only_pixels_that_change():
    labels = np.array([[0, 1, 2], [1, 1, 0]], np.uint8)
    edit = make_edit(labels, 3, [0, 1, 2, 3, 4], 1)
    assert edit.z == 3
    assert edit.indices.tolist() == [0, 2]
    assert edit.old.tolist() == [0, 2]
    assert edit.new.tolist() == [1, 1]


def test_make_edit_returns_none_when_nothing_changes():
    labels = np.array([[0, 1], [1, 1]], np.uint8)
    assert make_edit(labels, 0, [1, 2, 3], 1) is None
    assert make_edit(labels, 0, [], 2) is None


def test_make_edit_sorts_indices_and_a_repeated_index_keeps_its_last_value():
    labels = np.zeros((2, 2), np.uint8)
    edit = make_edit(labels, 0, [3, 0, 3], np.array([1, 2, 3], np.uint8))
    assert edit.indices.tolist() == [0, 3]
    assert edit.new.tolist() == [2, 3]


def test_make_edit_rejects_indices_outside_the_slice():
    with pytest.raises(ValueError, match="indices must be in 0..3"):
        make_edit(np.zeros((2, 2), np.uint8), 0, [4], 1)
    with pytest.raises(ValueError, match="indices must be in"):
        make_edit(np.zeros((2, 2), np.uint8), 0, [-1], 1)


def test_edit_arrays_are_read_only():
    edit = make_edit(np.zeros((2, 2), np.uint8), 0, [1], 1)
    with pytest.raises(ValueError):
        edit.new[0] = 5


def test_edit_requires_sorted_unique_indices():
    with pytest.raises(ValueError, match="sorted and unique"):
        SliceEdit(0, np.array([2, 1]), np.zeros(2, np.uint8), np.ones(2, np.uint8))


def test_edit_applies_only_to_a_volume():
    edit = make_edit(np.zeros((4, 4), np.uint8), 1, [2], 1)
    with pytest.raises(ValueError, match=r"\(Z, Y, X\) volume"):
        edit.apply(np.zeros((4, 4), np.uint8))


def test_edit_nbytes_counts_its_pixel_arrays():
    edit = SliceEdit(0, np.arange(10), np.zeros(10, np.uint8), np.ones(10, np.uint8))
    assert edit.nbytes == 10 * (8 + 1 + 1)


def test_merged_edit_has_the_effect_of_both_edits_in_turn():
    volume = np.zeros((1, 4, 4), np.uint8)
    volume[0, 0, :2] = 3
    before = volume.copy()
    first = paint(volume[0], 0, [0, 1, 2, 5], 1)
    first.apply(volume)
    second = paint(volume[0], 0, [1, 2, 9], 2)
    second.apply(volume)
    after = volume.copy()

    merged = first.merged(second)

    assert merged.indices.tolist() == [0, 1, 2, 5, 9]
    assert merged.old.tolist() == [3, 3, 0, 0, 0]  # from the first edit where both touch
    assert merged.new.tolist() == [1, 2, 2, 1, 2]
    merged.inverse().apply(volume)
    assert np.array_equal(volume, before)
    merged.apply(volume)
    assert np.array_equal(volume, after)


def test_merged_leaves_out_pixels_that_end_where_they_started():
    labels = np.zeros((3, 3), np.uint8)
    first = paint(labels, 0, [0, 1], 1)
    painted = labels.copy()
    painted.flat[first.indices] = first.new
    merged = first.merged(paint(painted, 0, [1], 0))
    assert merged.indices.tolist() == [0]


def test_merged_rejects_edits_of_other_slices_or_not_made_on_top():
    labels = np.zeros((3, 3), np.uint8)
    first = paint(labels, 0, [0], 1)
    with pytest.raises(ValueError, match="different slices"):
        first.merged(paint(labels, 1, [0], 1))
    with pytest.raises(ValueError, match="not made on top"):
        first.merged(paint(labels, 0, [0], 2))  # its old value is 0, but the first edit left a 1


# --- brush -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("radius", [3, 7.5, 20])
def test_disc_area_is_pi_r_squared(radius):
    indices = disk_indices((50.3, 49.8), radius, (100, 100))
    assert len(indices) == pytest.approx(math.pi * radius**2, rel=0.05)


def test_disc_is_the_pixels_whose_centre_is_within_the_radius():
    indices = disk_indices((10, 12), 4, (30, 30))
    assert np.array_equal(_mask(indices, (30, 30)), _disc((30, 30), (10, 12), 4))


def test_disc_is_round_in_mm_under_anisotropic_spacing():
    spacing_yx = (2.0, 0.5)  # y pixels are 4x as tall as x pixels are wide
    mask = _mask(disk_indices((50, 50), 40, (100, 100), spacing_yx), (100, 100))
    rows, cols = np.nonzero(mask)
    height_mm = (rows.max() - rows.min()) * spacing_yx[0]
    width_mm = (cols.max() - cols.min()) * spacing_yx[1]
    assert height_mm == pytest.approx(40 * 0.5 * 2, abs=spacing_yx[0])  # radius 40 x-pixels = 20 mm
    assert width_mm == pytest.approx(height_mm, abs=spacing_yx[0])
    assert mask.sum() * spacing_yx[0] * spacing_yx[1] == pytest.approx(math.pi * 20**2, rel=0.05)


def test_disc_under_one_pixel_paints_the_pixel_holding_the_centre():
    assert disk_indices((3.4, 5.6), 0.5, (10, 10)).tolist() == [3 * 10 + 6]
    assert disk_indices((3.4, 5.6), 0, (10, 10)).tolist() == [3 * 10 + 6]


def test_disc_is_clipped_at_the_slice_border():
    indices = disk_indices((0, 0), 10, (50, 40))
    assert indices.min() >= 0 and indices.max() < 50 * 40
    assert np.array_equal(_mask(indices, (50, 40)), _disc((50, 40), (0, 0), 10))
    assert disk_indices((-30, 10), 5, (50, 40)).size == 0


def test_stroke_between_far_apart_points_leaves_no_gap():
    shape = (100, 200)
    mask = _mask(stroke_indices([(50, 10), (50, 190), (90, 190)], 3, shape), shape)
    assert mask[48:53, 10:191].all()  # every pixel within 2 of the path (stamps scallop the edge at 3)
    assert mask[50:91, 188:193].all()
    assert ndimage.label(mask)[1] == 1


def test_one_pixel_stroke_is_an_unbroken_line():
    shape = (64, 64)
    indices = stroke_indices([(2.2, 3.7), (60.1, 40.4)], 0.5, shape)
    mask = _mask(indices, shape)
    assert ndimage.label(mask, structure=np.ones((3, 3)))[1] == 1
    assert mask[2, 4] and mask[60, 40]
    assert mask.sum() <= 58 + 37 + 1  # a thin line: at most a 4-connected staircase, not a band


def test_stroke_indices_are_sorted_and_unique():
    indices = stroke_indices([(20, 20), (25, 30), (20, 20)], 4, (50, 50))
    assert np.all(np.diff(indices) > 0)


# --- paint and eraser ------------------------------------------------------------------------------------------------

def test_paint_returns_only_the_pixels_it_changes():
    labels = np.zeros((20, 20), np.uint8)
    labels[5:10, 5:10] = 2
    indices = disk_indices((7, 7), 4, labels.shape)
    edit = paint(labels, 0, indices, 2)
    assert set(edit.indices) == set(indices) - set(np.flatnonzero(labels == 2))
    assert np.all(edit.old == 0) and np.all(edit.new == 2)


def test_eraser_paints_background():
    labels = np.full((6, 6), 3, np.uint8)
    edit = paint(labels, 0, [0, 7, 14], 0)
    assert edit.new.tolist() == [0, 0, 0]
    assert edit.old.tolist() == [3, 3, 3]


def test_paint_without_overwrite_keeps_other_classes():
    labels = np.array([[0, 1, 2, 3]], np.uint8)
    edit = paint(labels, 0, [0, 1, 2, 3], 3, overwrite=False)
    assert edit.indices.tolist() == [0]


def test_paint_overwrites_only_the_classes_it_is_allowed_to():
    labels = np.array([[0, 1, 2, 3]], np.uint8)
    edit = paint(labels, 0, [0, 1, 2, 3], 3, overwrite={1})
    assert edit.indices.tolist() == [0, 1]


# --- flood fill ------------------------------------------------------------------------------------------------------

def test_flood_fill_fills_the_connected_region_of_the_seed_label_only():
    labels = np.zeros((10, 10), np.uint8)
    labels[:, 5] = 1  # a wall splitting the background in two
    edit = flood_fill(labels, 0, (2, 2), 4)
    assert np.array_equal(_mask(edit.indices, labels.shape), np.pad(np.ones((10, 5), bool), ((0, 0), (0, 5))))
    assert np.all(edit.new == 4)


def test_flood_fill_grows_the_region_within_the_intensity_tolerance():
    yy, xx = np.indices((40, 40))
    image = np.where(np.hypot(yy - 20, xx - 20) < 10, 100.0, 20.0) + (xx % 3)  # a bright disc with texture
    labels = np.zeros(image.shape, np.uint8)
    labels[0, 0] = 2
    edit = flood_fill(labels, 0, (20, 20), 1, image=image, tolerance=5)
    assert np.array_equal(_mask(edit.indices, labels.shape), np.hypot(yy - 20, xx - 20) < 10)
    assert flood_fill(labels, 0, (20, 20), 1, image=image, tolerance=0.5).indices.size < edit.indices.size


def test_flood_fill_crosses_corners_only_with_8_connectivity():
    labels = np.eye(6, dtype=np.uint8)  # a diagonal line of 1s
    assert flood_fill(labels, 0, (0, 0), 2, connectivity=4).indices.tolist() == [0]
    assert flood_fill(labels, 0, (0, 0), 2, connectivity=8).indices.size == 6


def test_flood_fill_with_the_region_own_label_changes_nothing():
    labels = np.zeros((8, 8), np.uint8)
    labels[2:5, 2:5] = 1
    assert flood_fill(labels, 0, (3, 3), 1) is None


def test_region_growing_needs_image_and_tolerance_together():
    labels = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="both an image and a tolerance"):
        flood_fill(labels, 0, (3, 3), 1, image=np.zeros((8, 8)))


# --- polygon ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "vertices, count",
    [
        ([(2, 3), (2, 9), (12, 9), (12, 3)], 10 * 6),  # axis-aligned rectangle: its area
        ([(0, 0), (0, 10), (10, 0)], 55),  # right triangle: rows hold 10, 9, ..., 1 centres
    ],
    ids=["rectangle", "triangle"],
)
def test_polygon_holds_the_expected_pixel_count(vertices, count):
    assert polygon_indices(vertices, (20, 20)).size == count


def test_concave_polygon_leaves_its_notch_out():
    u_shape = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 7), (6, 7), (6, 3), (0, 3)]  # a U open at the top
    mask = _mask(polygon_indices(u_shape, (12, 12)), (12, 12))
    assert mask.sum() == 100 - 6 * 4
    assert not mask[0:6, 3:7].any()
    assert mask[6:10, 0:10].all()


def _pnpoly(vertices, shape):
    """Per-pixel even-odd ray casting (W. R. Franklin's PNPOLY) on pixel centres: the reference."""
    inside = np.zeros(shape, bool)
    n = len(vertices)
    for y in range(shape[0]):
        for x in range(shape[1]):
            for i in range(n):
                (yi, xi), (yj, xj) = vertices[i], vertices[(i + 1) % n]
                if (yi > y) != (yj > y) and x < xi + (y - yi) * (xj - xi) / (yj - yi):
                    inside[y, x] = not inside[y, x]
    return inside


# Quarter-pixel positions keep the reference's arithmetic exact: with arbitrary floats the two differ only by rounding.
quarter_pixels = st.integers(-12, 56).map(lambda v: v / 4)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(quarter_pixels, quarter_pixels), min_size=3, max_size=7))
def test_polygon_matches_per_pixel_ray_casting(vertices):
    shape = (11, 12)
    assert np.array_equal(_mask(polygon_indices(vertices, shape), shape), _pnpoly(vertices, shape))


def test_polygon_with_fewer_than_three_vertices_is_empty():
    assert polygon_indices([(1, 1), (5, 5)], (10, 10)).size == 0


# --- copy and interpolation ------------------------------------------------------------------------------------------

def _two_class_volume():
    volume = np.zeros((3, 8, 8), np.uint8)
    volume[0, 1:4, 1:4] = 1
    volume[0, 5:7, 5:7] = 2
    volume[1, 0:2, 0:8] = 2
    volume[1, 6, 0] = 3
    return volume


def test_copy_slice_makes_the_target_a_copy_of_the_source():
    volume = _two_class_volume()
    edit = copy_slice(volume, 0, 1)
    edit.apply(volume)
    assert np.array_equal(volume[1], volume[0])


def test_copy_slice_of_some_classes_replaces_only_their_layer():
    volume = _two_class_volume()
    expected = volume[1].copy()
    expected[expected == 2] = 0
    expected[volume[0] == 2] = 2
    copy_slice(volume, 0, 1, classes={2}).apply(volume)
    assert np.array_equal(volume[1], expected)
    assert volume[1, 6, 0] == 3


def test_copy_slice_onto_an_identical_slice_changes_nothing():
    volume = _two_class_volume()
    volume[2] = volume[0]
    assert copy_slice(volume, 0, 2) is None


def _interpolated(volume, z_a, z_b, **kwargs):
    result = volume.copy()
    for edit in interpolate_slices(volume, z_a, z_b, **kwargs):
        edit.apply(result)
    return result


def test_interpolation_between_discs_changes_the_area_monotonically_through_disc_shapes():
    shape = (80, 80)
    volume = np.zeros((9,) + shape, np.uint8)
    volume[0][_disc(shape, (40, 40), 8)] = 1
    volume[8][_disc(shape, (40, 40), 24)] = 1

    result = _interpolated(volume, 0, 8)

    areas = [(result[z] == 1).sum() for z in range(9)]
    assert all(a < b for a, b in zip(areas, areas[1:]))
    middle = result[4] == 1
    reference = _disc(shape, (40, 40), 16)
    assert (middle & reference).sum() / (middle | reference).sum() > 0.95


def test_interpolation_shrinks_a_class_missing_on_one_side_to_nothing_by_half_way():
    shape = (60, 60)
    volume = np.zeros((11,) + shape, np.uint8)
    volume[0][_disc(shape, (30, 20), 10)] = 1
    volume[10][_disc(shape, (30, 20), 10)] = 1
    volume[0][_disc(shape, (30, 45), 8)] = 2

    result = _interpolated(volume, 0, 10)

    assert all(np.array_equal(result[z] == 1, volume[0] == 1) for z in range(11))
    areas_2 = [(result[z] == 2).sum() for z in range(11)]
    assert all(a >= b for a, b in zip(areas_2, areas_2[1:]))
    assert areas_2[0] > areas_2[2] > areas_2[4] > 0
    assert sum(areas_2[5:]) == 0


def test_interpolation_writes_onto_background_only_unless_told_to_overwrite():
    shape = (20, 20)
    volume = np.zeros((3,) + shape, np.uint8)
    volume[0, 5:15, 5:15] = 1
    volume[2, 5:15, 5:15] = 1
    volume[1, 8:12, 8:12] = 3
    volume[1, 0, 0] = 1  # a stray pixel of the interpolated class

    kept = _interpolated(volume, 0, 2)
    assert np.all(kept[1, 8:12, 8:12] == 3) and kept[1, 0, 0] == 1
    assert np.all(kept[1, 5:8, 5:15] == 1)

    replaced = _interpolated(volume, 0, 2, overwrite=True)
    assert np.array_equal(replaced[1], volume[0])


def test_interpolation_refuses_an_end_slice_without_labels():
    volume = np.zeros((5, 8, 8), np.uint8)
    volume[0, 2:4, 2:4] = 1
    with pytest.raises(ValueError, match="slice 4 has no labels"):
        interpolate_slices(volume, 0, 4)


def test_interpolation_of_a_class_filling_an_end_slice():
    volume = np.zeros((3, 10, 10), np.uint8)
    volume[0] = 1
    volume[2, 2:8, 2:8] = 1
    result = _interpolated(volume, 0, 2)
    assert (result[1] == 1).sum() > 36 and result[1, 5, 5] == 1


def test_interpolation_uses_in_plane_spacing():
    volume = np.zeros((3, 40, 40), np.uint8)
    volume[0, 10:30, 18:22] = 1  # thin in x
    volume[2, 18:22, 10:30] = 1  # thin in y
    isotropic = _interpolated(volume, 0, 2)[1] == 1
    stretched = _interpolated(volume, 0, 2, spacing_zyx=(5.0, 1.0, 3.0))[1] == 1
    assert not np.array_equal(isotropic, stretched)


# --- navigation and undo budget --------------------------------------------------------------------------------------

def test_next_unlabelled_skips_done_slices_and_wraps_around():
    status = ".dd.pdfd"
    assert next_unlabelled(status, 0) == 3
    assert next_unlabelled(status, 6) == 0
    assert next_unlabelled(status, 0, direction=-1) == 6
    assert next_unlabelled(status, -1) == 0


def test_next_unlabelled_returns_start_last_and_none_when_all_are_done():
    assert next_unlabelled("dd.d", 2) == 2
    assert next_unlabelled("dddd", 1) is None


def test_undo_budget_drops_the_oldest_edits_to_stay_under_its_cap():
    budget = UndoBudget(cap_bytes=100)
    assert [budget.push(40), budget.push(40), budget.push(40)] == [0, 0, 1]
    assert budget.used_bytes == 80
    assert budget.push(90) == 2
    assert (len(budget), budget.used_bytes) == (1, 90)


def test_undo_budget_keeps_the_newest_edit_even_over_its_cap():
    budget = UndoBudget(cap_bytes=100)
    budget.push(10)
    assert budget.push(500) == 1
    assert (len(budget), budget.used_bytes) == (1, 500)


def test_undo_budget_pop_forgets_the_newest_and_clear_forgets_all():
    budget = UndoBudget(cap_bytes=100)
    budget.push(10)
    budget.push(30)
    budget.pop()
    assert (len(budget), budget.used_bytes) == (1, 10)
    budget.clear()
    assert (len(budget), budget.used_bytes) == (0, 0)
    with pytest.raises(IndexError):
        budget.pop()
