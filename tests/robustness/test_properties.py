"""Property-based tests (hypothesis) of the readers and the metrics: for any input, the documented contract holds.

Readers: a damaged file of any supported format is refused with InputError or read as a proper image, never another
exception, and never changed; label values are refused exactly when they are not class numbers. Metrics: bounds,
symmetry and units hold for any pair of masks.
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io import read_image, read_info, read_label, write_image
from sra_seg_core.metrics import binary_metrics, case_metrics, summarise

FORMATS = (".nii", ".nii.gz", ".nrrd", ".mha", ".png", ".tif")


@pytest.fixture(autouse=True, scope="module")
def quiet_nibabel():
    """nibabel logs every header field it repairs; thousands of damaged headers would flood the output."""
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


def source_bytes(suffix: str) -> bytes:
    """A small valid file of the format, 2-D for the picture formats."""
    shape = (1, 9, 7) if suffix in (".png", ".tif") else (3, 9, 7)
    values = (np.arange(np.prod(shape)).reshape(shape) * 7 % 251).astype(np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        return write_image(Image.from_spacing(values, (0.5, 0.7, 2.0)), Path(folder) / f"src{suffix}").read_bytes()


SOURCES = {suffix: source_bytes(suffix) for suffix in FORMATS}


def damaged(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with a few bytes overwritten (mostly in the header, where parsers decide what to do), bytes inserted,
    and/or cut short."""
    edit = st.tuples(st.integers(0, len(data) - 1), st.binary(min_size=1, max_size=8), st.booleans())
    head_edit = st.tuples(st.integers(0, min(len(data), 400) - 1), st.binary(min_size=1, max_size=4), st.just(False))

    @st.composite
    def build(draw):
        out = bytearray(data)
        for pos, chunk, insert in draw(st.lists(st.one_of(head_edit, edit), min_size=1, max_size=4)):
            out[pos:pos if insert else pos + len(chunk)] = chunk
        return bytes(out[: draw(st.integers(0, len(out)))]) if draw(st.booleans()) else bytes(out)

    return build()


@pytest.mark.parametrize("suffix", FORMATS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_file_is_refused_with_input_error_or_read_as_a_proper_image(tmp_path, suffix, data):
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(data.draw(damaged(SOURCES[suffix]), label="file"))
    before = path.read_bytes()
    try:
        image = read_image(path)
    except InputError as error:
        assert path.name in str(error) and "\n" not in str(error)
    else:
        assert image.array.ndim == 3 and 0 not in image.shape
        assert image.array.dtype.kind not in "fc" or np.isfinite(image.array).all()
        assert np.isfinite(image.affine).all() and min(image.spacing) > 0
        assert read_info(path).shape == image.shape
    assert path.read_bytes() == before


label_volumes = arrays(np.int16, st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),
                       elements=st.integers(-3, 12))


@settings(max_examples=60, deadline=None)
@given(values=label_volumes, num_classes=st.integers(1, 10))
def test_label_values_are_refused_exactly_when_they_are_not_class_numbers(values, num_classes):
    with tempfile.TemporaryDirectory() as folder:
        path = write_image(Image(values), Path(folder) / "label.nii.gz")
        valid = values.min() >= 0 and values.max() < num_classes
        try:
            label = read_label(path, num_classes=num_classes)
        except InputError as error:
            assert not valid and "outside the allowed range" in str(error)
        else:
            assert valid and label.array.dtype.kind == "u" and np.array_equal(label.array, values)


@settings(max_examples=60, deadline=None)
@given(values=arrays(np.float32, (2, 4, 5), elements=st.sampled_from([0.0, 1.0, 2.0, 0.5, 1.25, 3.0])))
def test_real_valued_labels_are_refused_exactly_when_a_value_is_fractional(values):
    with tempfile.TemporaryDirectory() as folder:
        path = write_image(Image(values), Path(folder) / "label.nii.gz")
        whole = bool(np.all(values == np.floor(values)))
        try:
            label = read_label(path)
        except InputError as error:
            assert not whole and "fractional values" in str(error)
        else:
            assert whole and np.array_equal(label.array, values.astype(np.uint8))


# --- metrics --------------------------------------------------------------------------------------------------------
mask_shapes = st.tuples(st.integers(1, 4), st.integers(2, 9), st.integers(2, 9))


@st.composite
def mask_pairs(draw):
    shape = draw(mask_shapes)
    return draw(arrays(bool, shape)), draw(arrays(bool, shape))


@settings(max_examples=150, deadline=None)
@given(pair=mask_pairs())
def test_overlap_scores_are_bounded_and_tied_and_distances_are_non_negative(pair):
    pred, gt = pair
    scores = binary_metrics(pred, gt)
    assert 0.0 <= scores["jaccard"] <= scores["dice"] <= 1.0
    if pred.any():
        assert math.isclose(scores["jaccard"], scores["dice"] / (2 - scores["dice"]), abs_tol=1e-12)
    for key in ("hd95", "asd", "hd95_mm", "asd_mm"):
        assert math.isnan(scores[key]) or scores[key] >= 0


@settings(max_examples=150, deadline=None)
@given(pair=mask_pairs())
def test_dice_jaccard_and_hd95_do_not_depend_on_which_mask_is_the_prediction(pair):
    pred, gt = pair
    if not (pred.any() and gt.any()):  # an empty prediction scores 0 by convention, so only then is order relevant
        return
    forward, backward = binary_metrics(pred, gt), binary_metrics(gt, pred)
    for key in ("dice", "jaccard", "hd95"):
        assert math.isclose(forward[key], backward[key], rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=100, deadline=None)
@given(mask=arrays(bool, mask_shapes))
def test_a_mask_scored_against_itself_is_perfect(mask):
    scores = binary_metrics(mask, mask)
    expected = (1.0, 1.0, 0.0, 0.0) if mask.any() else (0.0, 0.0, 0.0, 0.0)
    assert tuple(scores[k] for k in ("dice", "jaccard", "hd95", "asd")) == expected


@settings(max_examples=100, deadline=None)
@given(pair=mask_pairs(), size=st.sampled_from([0.25, 0.8, 3.0]))
def test_millimetre_distances_scale_with_an_isotropic_voxel_size(pair, size):
    pred, gt = pair
    voxels, mm = binary_metrics(pred, gt), binary_metrics(pred, gt, (size, size, size))
    for key in ("hd95", "asd"):
        assert np.array_equal(voxels[key], mm[key], equal_nan=True)  # voxel distances ignore the spacing
        assert math.isnan(mm[f"{key}_mm"]) == math.isnan(voxels[key])
        if not math.isnan(voxels[key]):
            assert math.isclose(mm[f"{key}_mm"], size * voxels[key], rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), cases=st.integers(1, 4))
def test_summary_means_lie_within_the_case_scores_and_count_undefined_distances(data, cases):
    shape = data.draw(mask_shapes, label="shape")
    labels = (1, 2)
    rows = []
    for n in range(cases):
        pred = data.draw(arrays(np.uint8, shape, elements=st.integers(0, 2)), label=f"pred{n}")
        gt = data.draw(arrays(np.uint8, shape, elements=st.integers(0, 2)), label=f"gt{n}")
        rows += [(f"case{n}", m) for m in case_metrics(pred, gt, labels)]
    summary = summarise(rows)
    for label in labels:
        for metric in ("dice", "hd95"):
            values = np.array([getattr(m, metric) for _, m in rows if m.label == label])
            stats = summary["labels"][label][metric]
            assert stats["n"] + stats["nan"] == cases and stats["nan"] == int(np.isnan(values).sum())
            if stats["n"]:
                finite = values[~np.isnan(values)]
                assert finite.min() - 1e-12 <= stats["mean"] <= finite.max() + 1e-12

