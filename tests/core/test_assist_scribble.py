"""Scribble-to-segment: strokes per class and background -> a label map that follows the image's edges."""

import numpy as np
import pytest

from sra_seg_core.assist.scribble import BACKGROUND, ScribbleSegmenter, segment_scribbles


def _two_discs(size=64, noise=3.0):
    """Two bright discs (class 1 left, class 2 right, radius 9) on a dark noisy field: (1, Y, X) image and labels."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:size, :size]
    left = np.hypot(yy - size / 2, xx - size / 4) < 9
    right = np.hypot(yy - size / 2, xx - 3 * size / 4) < 9
    image = 20.0 + 180.0 * (left | right) + rng.normal(0, noise, (size, size))
    truth = np.zeros((size, size), np.uint8)
    truth[left], truth[right] = 1, 2
    return image[None], truth[None]


def _marks(shape, *points):
    scribbles = np.zeros(shape, np.uint8)
    for z, y, x, value in points:
        scribbles[z, y - 1:y + 2, x - 1:x + 2] = value
    return scribbles


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_one_stroke_per_class_and_one_in_the_background_segments_both_structures():
    image, truth = _two_discs()
    marks = _marks(image.shape, (0, 32, 16, 1), (0, 32, 48, 2), (0, 4, 4, BACKGROUND))
    labels = segment_scribbles(image, marks)
    assert _dice(labels == 1, truth == 1) > 0.95
    assert _dice(labels == 2, truth == 2) > 0.95


def test_background_scribbles_come_back_as_label_zero():
    image, truth = _two_discs()
    marks = _marks(image.shape, (0, 32, 16, 1), (0, 4, 4, BACKGROUND))
    labels = segment_scribbles(image, marks)
    assert set(np.unique(labels)) == {0, 1}
    assert labels[0, 4, 4] == 0


def test_a_correction_stroke_changes_the_answer_where_it_is_drawn():
    image, truth = _two_discs()
    segmenter = ScribbleSegmenter(image)
    marks = _marks(image.shape, (0, 32, 16, 1), (0, 4, 4, BACKGROUND))
    first = segmenter.segment(marks).labels
    assert (first[truth == 2] == 0).all()  # the unmarked right disc is background at first
    marks |= _marks(image.shape, (0, 32, 48, 2))
    second = segmenter.segment(marks).labels
    assert _dice(second == 2, truth == 2) > 0.95 and _dice(second == 1, truth == 1) > 0.95


def test_in_2d_only_scribbled_slices_are_labelled():
    image, truth = _two_discs()
    volume = np.repeat(image, 3, axis=0)
    marks = _marks(volume.shape, (1, 32, 16, 1), (1, 4, 4, BACKGROUND))
    labels = segment_scribbles(volume, marks)
    assert not labels[[0, 2]].any() and _dice(labels[1] == 1, truth[0] == 1) > 0.95


def test_in_3d_scribbles_on_one_slice_label_the_whole_volume():
    image, truth = _two_discs()
    volume = np.repeat(image, 3, axis=0)
    marks = _marks(volume.shape, (1, 32, 16, 1), (1, 4, 4, BACKGROUND))
    labels = segment_scribbles(volume, marks, three_d=True)
    for z in range(3):
        assert _dice(labels[z] == 1, truth[0] == 1) > 0.9


def test_a_large_slice_goes_through_the_multiscale_scheme_and_keeps_thin_detail():
    rng = np.random.default_rng(2)
    size = 256
    image = 30.0 + rng.normal(0, 3.0, (size, size))
    truth = np.zeros((size, size), np.uint8)
    truth[:, 100:103] = 1  # a 3-px vessel: thinner than one coarse block of 4 px
    image[truth == 1] = 200.0
    marks = np.zeros((1, size, size), np.uint8)
    marks[0, 10:246:20, 101] = 1
    marks[0, 10:246:20, 30] = marks[0, 10:246:20, 200] = BACKGROUND
    segmenter = ScribbleSegmenter(image, max_side=64)
    assert segmenter.factor == 4
    labels = segmenter.segment(marks).labels[0]
    assert _dice(labels == 1, truth == 1) > 0.8


def test_scribbles_of_another_shape_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        segment_scribbles(np.zeros((1, 8, 8)), np.zeros((1, 8, 9), np.uint8))


def test_no_scribbles_at_all_is_refused():
    with pytest.raises(ValueError, match="no scribbles"):
        segment_scribbles(np.zeros((1, 8, 8)), np.zeros((1, 8, 8), np.uint8))
