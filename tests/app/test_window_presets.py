"""Window presets (plain pytest): percentile presets follow the image, CT presets are fixed HU windows, and the box
says "Custom" once the window is no longer the chosen preset's."""

import numpy as np
import pytest

from sra_seg_app.model.window_presets import CUSTOM, preset_window, shown_preset


def test_ct_presets_are_level_and_width_in_hounsfield_units():
    assert preset_window("CT lung (W 1500 / L −600)", np.zeros(4)) == (-1350.0, 150.0)
    assert preset_window("CT soft tissue (W 400 / L 40)", np.zeros(4)) == (-160.0, 240.0)


def test_percentile_presets_follow_the_image():
    volume = np.arange(1001, dtype=np.float32)
    assert preset_window("Full range", volume) == (0.0, 1000.0)
    low, high = preset_window("Soft (5–95 %)", volume)
    assert low == pytest.approx(50) and high == pytest.approx(950)


def test_an_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="unknown window preset"):
        preset_window("Brain", np.zeros(4))


def test_the_box_shows_custom_after_the_window_moved_off_the_preset():
    assert shown_preset("Full range", (0.0, 10.0), (0.0, 10.0)) == "Full range"
    assert shown_preset("Full range", (0.0, 10.0), (1.0, 10.0)) == CUSTOM
