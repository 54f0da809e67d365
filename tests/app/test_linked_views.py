"""The Label workspace's linked views in the real window: the canvas is the acquisition plane, the other planes and
the 3-D view follow the session's case, slice, cursor, labels, window and overlay."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from sra_seg_app.model.session import WindowLevel


@pytest.fixture
def views(opened):
    v = opened.label_ws.views
    v.set_layout("1x3")
    return v


def _plane(views):
    return next(name for name in views.model.planes if views.model.can_paint(name))


def test_1x1_shows_only_the_painting_canvas(opened):
    views = opened.label_ws.views
    views.set_layout("1x1")
    assert opened.canvas.isVisible()
    assert not any(v.isVisible() for v in views.planes.views.values())


def test_1x3_puts_the_canvas_in_the_acquisition_plane_and_shows_the_other_two(views, opened):
    acquisition = _plane(views)
    assert views.planes.widget_for(acquisition) is opened.canvas and opened.canvas.isVisible()
    others = [p for p in views.planes.views if p != acquisition]
    assert len(others) == 2 and all(views.planes.views[p].isVisible() for p in others)
    assert "paint here" in views.markers.caption


def test_2x2_adds_the_3d_view(views):
    views.set_layout("2x2")
    assert views.surface.isVisible()


def test_the_planes_show_the_case_and_labels_the_canvas_shows(views, opened):
    s = opened.session
    assert views.model.image is s.image
    assert views.model.labels is s.labels()
    np.testing.assert_array_equal(views.model.image_slice(_plane(views)), s.image.array[s.z])  # same orientation


def test_the_crosshair_follows_the_canvas_slice(views, opened):
    opened.session.set_slice(2)
    assert views.model.crosshair[0] == 2


def test_a_click_in_another_plane_moves_the_canvas_to_that_slice(views, opened, qtbot):
    s = opened.session
    s.set_slice(0)
    other = next(p for p in views.planes.views if p != _plane(views))
    view = views.planes.views[other]
    row_mm, col_mm = views.model.planes[other].pixel_mm
    geometry = views.model.planes[other]
    row = 3 if geometry.rows == 0 else None  # the axis that runs down the other planes is z in stored display
    assert row is not None
    scene = view.box.mapViewToScene(QPointF(5.5 * col_mm, (row + 0.5) * row_mm))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(scene))
    assert s.z == 3


def test_the_cursor_over_the_canvas_moves_the_crosshair_in_the_other_planes(views, opened):
    opened.canvas.hover_pixel(7, 11)
    assert views.model.crosshair == (opened.session.z, 7, 11)


def test_a_stroke_on_the_canvas_shows_in_the_other_planes(views, opened):
    s = opened.session
    opened.canvas.tools.set_tool("brush")
    opened.canvas.active_class = 2
    opened.canvas.paint_at(20, 30)
    views.model.set_crosshair((s.z, 20, 30))
    other = next(p for p in views.planes.views if p != _plane(views))
    row, col = views.model.crosshair_in(other)
    assert views.planes.views[other].label_item.image[row, col] == 2


def test_window_level_is_shared_both_ways(views, opened):
    opened.session.set_window(WindowLevel(10.0, 50.0))
    assert views.model.window == (10.0, 50.0)
    views.model.set_window(0.0, 20.0)
    assert (opened.session.window.low, opened.session.window.high) == (0.0, 20.0)


def test_opacity_follows_the_tools(views, opened):
    opened.canvas.set_opacity(0.8)
    assert views.model.opacity == pytest.approx(0.8)


def test_the_prediction_layer_shows_the_prediction_in_the_planes(views, opened):
    s = opened.session
    prediction = np.zeros(s.image.shape, np.uint8)
    prediction[:, 5:9, 5:9] = 1
    s.project.save_prediction(s.case_id, prediction)
    s.forget_prediction(s.case_id)  # what Review does when a prediction arrives: the session reads it anew
    opened.canvas.set_layer("prediction")
    np.testing.assert_array_equal(views.model.labels, s.prediction())


def test_hiding_a_class_hides_it_in_the_canvas_and_the_planes(views, opened):
    views.class_boxes[1].setChecked(False)
    assert 1 in views.model.hidden
    assert 1 not in opened.canvas.class_colors()
    assert views.planes.views["coronal"].label_item.lut is None or \
        views.planes.views["coronal"].label_item.lut[1][3] == 0


def test_a_measuring_tool_swaps_the_canvas_for_its_plane_view_to_draw_on(views, opened):
    acquisition = _plane(views)
    views.set_tool("ruler")
    assert views.planes.widget_for(acquisition) is views.planes.views[acquisition]
    m = views.model.measure(acquisition, (10, 10), (10, 20))
    sx = opened.session.image.spacing[0]
    assert m.value == pytest.approx(10 * sx)
    views.set_tool("crosshair")
    assert views.planes.widget_for(acquisition) is opened.canvas


def test_the_canvas_carries_the_acquisition_planes_orientation_letters(views):
    plane = _plane(views)
    assert views.markers.text() == views.model.planes[plane].markers
    assert views.markers.caption == views.model.paint_note(plane) and "paint here" in views.markers.caption


def test_without_opengl_the_3d_cell_says_why(views):
    views.set_layout("2x2")
    if views.surface.problem is not None:  # the offscreen platform of the test run
        assert "3-D view unavailable" in views.surface.message.text()


def test_a_stroke_schedules_a_debounced_3d_rebuild_only_while_the_3d_view_is_shown(views, opened):
    surface = views.surface
    opened.canvas.tools.set_tool("brush")
    opened.canvas.paint_at(20, 30)
    assert not surface.timer.isActive()  # 1x3: no 3-D view, no meshing
    views.set_layout("2x2")
    surface.timer.stop()
    opened.canvas.paint_at(25, 35)
    assert surface.timer.isActive() and surface._pending[0] is opened.session.labels()


def test_the_plane_view_behind_the_canvas_shows_the_current_slice_when_it_comes_forward(views, opened):
    acquisition = _plane(views)
    opened.session.set_slice(4)  # while the canvas covers the plane view
    views.set_tool("rectangle")
    view = views.planes.views[acquisition]
    np.testing.assert_array_equal(view.image_item.image, opened.session.image.array[4])


def test_the_measurement_result_is_also_written_above_the_views(views):
    plane = _plane(views)
    views.set_tool("rectangle")
    m = views.model.measure(plane, (10, 10), (20, 30))
    assert views.measure_label.text() == m.text and "mm²" in m.text
    views.clear_button.click()
    assert views.measure_label.text() == ""
