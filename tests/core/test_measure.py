"""Ruler, ROI and per-label statistics in millimetres from the voxel geometry."""

import math

import numpy as np
import pytest

from sra_seg_core.image import Image
from sra_seg_core.measure import label_statistics, roi_mask, roi_stats, ruler_mm
from sra_seg_core.planes import plane_geometries


def test_ruler_uses_the_spacing_of_each_axis():
    affine = np.diag([1.25, 1.5, 8.0, 1.0])  # i, j, k
    assert ruler_mm(affine, (0, 0, 0), (0, 0, 4)) == pytest.approx(5.0)  # 4 columns
    assert ruler_mm(affine, (0, 0, 0), (2, 0, 0)) == pytest.approx(16.0)  # 2 slices
    assert ruler_mm(affine, (1, 2, 0), (1, 2 + 3, 4)) == pytest.approx(math.hypot(4.5, 5.0))


def test_ruler_length_does_not_change_with_rotation():
    c, s = math.cos(0.4), math.sin(0.4)
    rotated = np.array([[c, -s, 0, 10], [s, c, 0, -3], [0, 0, 1, 2], [0, 0, 0, 1.0]]) @ np.diag([2.0, 2.0, 5.0, 1.0])
    assert ruler_mm(rotated, (0, 0, 0), (1, 3, 4)) == pytest.approx(math.sqrt(5**2 + 6**2 + 8**2))


def test_ruler_between_points_picked_in_a_thick_coronal_view():
    image = Image.from_spacing(np.zeros((10, 20, 30)), spacing=(1.0, 1.0, 8.0))
    coronal = plane_geometries(image.affine, image.shape)["coronal"]
    a, b = coronal.voxel(5, 0, 0), coronal.voxel(5, 3, 4)  # 3 rows down = 3 slices, 4 columns
    assert ruler_mm(image.affine, a, b) == pytest.approx(math.hypot(24.0, 4.0))


def test_rectangle_roi_area_mean_and_sd():
    plane = np.zeros((10, 10))
    plane[2:6, 3:5] = [[1, 3], [1, 3], [1, 3], [1, 3]]
    stats = roi_stats(plane, (2.0, 0.5), (2, 3), (6, 5), "rectangle")
    assert stats.area_mm2 == pytest.approx(4 * 2.0 * 2 * 0.5)
    assert (stats.pixels, stats.mean, stats.sd) == (8, pytest.approx(2.0), pytest.approx(1.0))


def test_ellipse_roi_area_is_pi_ab_and_covers_about_that_many_pixels():
    plane = np.ones((200, 200))
    stats = roi_stats(plane, (1.0, 1.0), (20, 40), (180, 120), "ellipse")
    assert stats.area_mm2 == pytest.approx(math.pi * 80 * 40)
    assert stats.pixels == pytest.approx(math.pi * 80 * 40, rel=0.01)


def test_empty_roi_has_no_mean():
    stats = roi_stats(np.ones((4, 4)), (1, 1), (1, 1), (1, 1), "ellipse")
    assert stats.pixels == 0 and math.isnan(stats.mean)


def test_roi_corners_may_be_given_in_any_order():
    assert np.array_equal(roi_mask((8, 8), (6, 5), (1, 2), "rectangle"), roi_mask((8, 8), (1, 2), (6, 5), "rectangle"))


def test_label_statistics_counts_volume_and_intensity():
    image = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    labels = np.zeros((2, 3, 4), np.uint8)
    labels[0, 0, :2] = 1  # values 0, 1
    labels[1, 2, :] = 3  # values 20..23
    rows = label_statistics(image, labels, (10.0, 2.0, 1.0), values=[1, 2, 3])
    assert [(r.label, r.voxels) for r in rows] == [(1, 2), (2, 0), (3, 4)]
    assert rows[0].volume_ml == pytest.approx(2 * 20 / 1000)
    assert (rows[0].mean, rows[0].sd) == (pytest.approx(0.5), pytest.approx(0.5))
    assert rows[2].mean == pytest.approx(21.5) and rows[2].sd == pytest.approx(np.std([20, 21, 22, 23]))
    assert math.isnan(rows[1].mean)


def test_label_statistics_defaults_to_the_labels_present():
    labels = np.array([[[0, 2, 2, 5]]], np.uint8)
    assert [r.label for r in label_statistics(np.ones((1, 1, 4)), labels, (1, 1, 1))] == [2, 5]
