"""The second phantom family (``gap="hard"``): another contrast, noise and anatomy than the real style."""

from __future__ import annotations

import numpy as np
import pytest

from sra_seg_core.errors import ConfigError
from sra_seg_core.phantoms import cardiac_case

SHAPE = (4, 96, 96)


def _means(image, label):
    a = image.array.astype(np.float64)
    a = (a - a.min()) / (a.max() - a.min())
    return {c: a[label.array == c].mean() for c in (2, 3)}  # Myo, LV cavity


def test_hard_gap_inverts_the_cavity_contrast():
    real = _means(*cardiac_case(3, "real", "ED", SHAPE))
    hard = _means(*cardiac_case(3, "synthetic", "ED", SHAPE, gap="hard"))
    assert real[3] > real[2]  # bright blood, dark wall
    assert hard[3] < hard[2]  # black blood, bright wall


def test_hard_gap_draws_larger_cavities_than_the_real_style():
    real = [int((cardiac_case(s, "real", "ED", SHAPE)[1].array == 3).sum()) for s in range(4)]
    hard = [int((cardiac_case(s, "synthetic", "ED", SHAPE, gap="hard")[1].array == 3).sum()) for s in range(4)]
    assert np.mean(hard) > 1.3 * np.mean(real)


def test_mild_gap_keeps_the_labels_of_the_real_style():
    assert np.array_equal(cardiac_case(3, "real", "ED", SHAPE)[1].array,
                          cardiac_case(3, "synthetic", "ED", SHAPE, gap="mild")[1].array)


def test_hard_gap_is_a_synthetic_rendering_only():
    with pytest.raises(ConfigError, match="synthetic"):
        cardiac_case(3, "real", "ED", SHAPE, gap="hard")
