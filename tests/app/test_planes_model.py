"""The three-plane viewer's model (plain pytest, no widgets): one crosshair, one window, layouts, painting rule."""

import numpy as np
import pytest

from sra_seg_app.model.planes import VIEW_3D, PlanesModel
from sra_seg_core.image import Image


@pytest.fixture
def model():
    array = np.arange(6 * 10 * 12, dtype=np.float32).reshape(6, 10, 12)
    labels = np.zeros(array.shape, np.uint8)
    labels[2, 3:5, 4:8] = 1
    m = PlanesModel()
    m.set_image(Image.from_spacing(array, spacing=(1.0, 1.2, 8.0)), labels, {1: "#E69F00", 2: "#56B4E9"})
    return m


def _record(model):
    seen = []
    model.changed.connect(seen.append)
    return seen


def test_crosshair_starts_at_the_centre(model):
    assert model.crosshair == (3, 5, 6)


def test_a_click_in_one_plane_moves_the_crosshair_for_all(model):
    seen = _record(model)
    model.click("coronal", 0.5, 2.5)  # top row of the coronal view = the most superior slice
    z, y, x = model.crosshair
    assert seen == ["crosshair"] and y == 5  # the coronal slice itself does not change
    assert model.slice_index("axial") == z == 5 and model.crosshair_in("coronal") == (0, 2)
    np.testing.assert_array_equal(model.image_slice("axial"), model.image.array[5, ::-1, ::-1])


def test_clicks_outside_the_slice_are_clamped(model):
    model.click("axial", -4, 500)
    assert model.crosshair_in("axial") == (0, 11)


def test_step_moves_along_the_planes_normal_and_stops_at_the_edge(model):
    model.step("axial", 10)
    assert model.crosshair[0] == 5
    model.step("sagittal", -1)
    assert model.crosshair[2] == 5


def test_window_is_shared_and_never_empty(model):
    seen = _record(model)
    model.set_window(100, 50)
    assert model.window[1] > model.window[0] and seen == ["window"]


def test_hidden_classes_are_left_out_of_the_overlay(model):
    model.set_class_visible(1, False)
    assert model.visible_colors() == {2: "#56B4E9"}
    model.set_class_visible(1, True)
    assert set(model.visible_colors()) == {1, 2}


def test_layouts_list_their_views(model):
    model.set_layout("2x2")
    assert model.views() == ["axial", "coronal", "sagittal", VIEW_3D]
    model.set_layout("1x1", "sagittal")
    assert model.views() == ["sagittal"]
    with pytest.raises(ValueError):
        model.set_layout("3x3")


def test_only_the_acquisition_plane_can_be_painted(model):
    assert model.can_paint("axial") and not model.can_paint("coronal")
    assert "view only" in model.paint_note("sagittal") and "paint here" in model.paint_note("axial")


def test_thick_slices_keep_their_true_pixel_size(model):
    assert model.planes["coronal"].pixel_mm == (8.0, 1.0)


def test_readout_at_the_crosshair(model):
    model.set_crosshair((2, 3, 4))
    read = model.readout()
    assert read["label"] == 1 and read["value"] == model.image.array[2, 3, 4]
    assert read["world_mm"] == pytest.approx((4.0, 3.6, 16.0))


def test_labels_of_another_shape_are_refused(model):
    with pytest.raises(ValueError):
        model.set_labels(np.zeros((1, 2, 3), np.uint8))


def test_a_2d_picture_is_shown_with_row_zero_on_top():
    picture = np.arange(20, dtype=np.float32).reshape(1, 4, 5)
    m = PlanesModel()
    m.set_image(Image(picture, meta={"dims": 2}))
    np.testing.assert_array_equal(m.image_slice("axial"), picture[0])


def test_ruler_in_a_thick_reformatted_plane_measures_millimetres(model):
    # coronal pixels are 8 mm tall (slices) and 1 mm wide: 3 rows down and 4 columns across
    result = model.measure("coronal", (1.0, 2.0), (4.0, 6.0), "ruler")
    assert result.value == pytest.approx((24.0**2 + 4.0**2) ** 0.5) and result.text.endswith("mm")


def test_rectangle_roi_reports_area_and_intensity(model):
    result = model.measure("axial", (0, 0), (2, 3), "rectangle")
    plane = model.image_slice("axial")[:2, :3]
    assert result.value == pytest.approx(2 * 1.2 * 3 * 1.0)
    assert f"mean {plane.mean():.1f}" in result.text and "(6 px)" in result.text


def test_measuring_uses_the_current_tool_and_is_announced(model):
    seen = _record(model)
    model.set_tool("ellipse")
    assert model.measure("axial", (0, 0), (4, 4)).kind == "ellipse"
    assert seen == ["tool", "measurement"]
    with pytest.raises(ValueError):
        model.set_tool("scalpel")
