"""Linked plane views, the 3-D surface view and the indices panel on the offscreen platform."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from sra_seg_app.model.planes import PlanesModel
from sra_seg_app.widgets.plane_views import PlaneViews, label_lut
from sra_seg_core.image import Image
from sra_seg_core.indices import IndicesReport, PatientIndices, cardiac_indices


@pytest.fixture
def model():
    array = np.random.default_rng(0).normal(100, 20, (8, 40, 48)).astype(np.float32)
    labels = np.zeros(array.shape, np.uint8)
    labels[2:6, 10:20, 12:30] = 3
    m = PlanesModel()
    m.set_image(Image.from_spacing(array, spacing=(1.25, 1.25, 8.0)), labels, {1: "#E69F00", 3: "#009E73"})
    return m


@pytest.fixture
def views(qtbot, model):
    widget = PlaneViews(model)
    qtbot.addWidget(widget)
    widget.resize(1200, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_each_view_shows_the_slice_through_the_crosshair(views, model):
    model.set_crosshair((5, 12, 20))
    for plane, view in views.views.items():
        np.testing.assert_array_equal(view.image_item.image, model.image_slice(plane))
        np.testing.assert_array_equal(view.label_item.image, model.label_slice(plane))


def test_a_click_in_the_coronal_view_moves_the_axial_slice(views, model, qtbot):
    coronal = views.views["coronal"]
    row_mm, col_mm = model.planes["coronal"].pixel_mm
    scene = coronal.box.mapViewToScene(QPointF(10.5 * col_mm, 1.5 * row_mm))
    qtbot.mouseClick(coronal.viewport(), Qt.MouseButton.LeftButton, pos=coronal.mapFromScene(scene))
    assert model.crosshair_in("coronal") == (1, 10)
    assert model.slice_index("axial") == 6  # row 1 from the top (superior) of 8 slices
    np.testing.assert_array_equal(views.views["axial"].image_item.image, model.image_slice("axial"))


def test_thick_slices_are_drawn_thick(views, model):
    rect = views.views["coronal"].image_item.mapRectToParent(views.views["coronal"].image_item.boundingRect())
    assert rect.height() == pytest.approx(8 * 8.0) and rect.width() == pytest.approx(48 * 1.25)


def test_markers_and_painting_caption(views):
    axial, sagittal = views.views["axial"], views.views["sagittal"]
    assert [axial.markers.text()[e] for e in ("top", "bottom", "left", "right")] == ["A", "P", "R", "L"]
    assert [sagittal.markers.text()[e] for e in ("top", "left")] == ["S", "A"]
    assert "paint here" in axial.markers.caption and "view only" in sagittal.markers.caption


def test_window_and_opacity_are_the_same_in_every_view(views, model):
    model.set_window(50, 150)
    model.set_opacity(0.8)
    for view in views.views.values():
        assert tuple(view.image_item.levels) == (50, 150)
        assert view.label_item.lut[3][3] == round(0.8 * 255)


def test_hidden_class_is_transparent(views, model):
    model.set_class_visible(3, False)
    assert views.views["axial"].label_item.lut[3][3] == 0


def test_layouts_show_one_three_or_three_plus_3d(views, model, qtbot):
    model.set_layout("1x1", "coronal")
    assert [n for n, v in views.views.items() if v.isVisible()] == ["coronal"]
    model.set_layout("1x3")
    assert all(v.isVisible() for v in views.views.values())


def test_wheel_steps_slices(views, model):
    before = model.slice_index("axial")
    model.step("axial", 1)
    assert model.slice_index("axial") == before + 1


def test_label_lut_is_transparent_for_background():
    lut = label_lut({2: "#FF0000"}, 0.5)
    assert lut[0].tolist() == [0, 0, 0, 0] and lut[2].tolist() == [255, 0, 0, 128]


def test_surface_view_without_opengl_says_so(qtbot):
    from sra_seg_app.widgets.surface_view import SurfaceView

    view = SurfaceView(debounce_ms=10)
    qtbot.addWidget(view)
    assert view.gl is None and "unavailable" in view.message.text()  # offscreen has no OpenGL
    view.set_labels(np.ones((2, 3, 3), np.uint8), np.eye(4), {1: "#FF0000"})
    qtbot.wait(30)  # the debounced refresh runs and does nothing without GL
    assert view.items == {}


def test_indices_panel_fills_table_and_bland_altman(qtbot):
    from sra_seg_app.widgets.indices_panel import IndicesPanel

    report = IndicesReport()
    for n, (ref_lv, pred_lv) in enumerate([(1000, 950), (1200, 1210), (800, 700)]):
        ed_ref = np.zeros(5000, np.uint8)
        ed_ref[:ref_lv] = 3
        ed_pred = np.zeros(5000, np.uint8)
        ed_pred[:pred_lv] = 3
        es = np.zeros(5000, np.uint8)
        es[:300] = 3
        for source, ed in (("reference", ed_ref), ("prediction", ed_pred)):
            report.rows.append(PatientIndices(f"p{n}", source, "1", "2",
                                              cardiac_indices(ed[None, None], es[None, None], (1, 1, 1))))
    report.add_agreement("prediction", "reference")
    panel = IndicesPanel()
    qtbot.addWidget(panel)
    panel.set_report(report)
    assert panel.table.rowCount() == 6 and panel.table.item(0, 2).text() == "1.0"
    means, diffs = panel.points()  # default index: LV EDV
    np.testing.assert_allclose(diffs, [-0.05, 0.01, -0.1])
    assert panel.lines["bias"].value() == pytest.approx(np.mean([-0.05, 0.01, -0.1]))
    assert "n = 3" in panel.summary.text()


def test_the_3d_cell_follows_the_models_labels_and_visibility(qtbot, model):
    class FakeSurface(QWidget):
        def __init__(self):
            super().__init__()
            self.calls = []

        def set_labels(self, labels, affine, colors):
            self.calls.append(("labels", int(labels.sum()), tuple(colors)))

        def set_class_visible(self, value, visible):
            self.calls.append(("visible", value, visible))

    surface = FakeSurface()
    widget = PlaneViews(model, surface)
    qtbot.addWidget(widget)
    model.set_layout("2x2")
    assert widget.grid.indexOf(surface) >= 0
    edited = model.labels.copy()
    edited[0, 0, 0] = 1
    model.set_labels(edited)
    assert surface.calls[-1] == ("labels", int(edited.sum()), (1, 3))
    model.set_class_visible(3, False)
    assert ("visible", 3, False) in surface.calls


def test_dragging_the_ruler_in_a_view_measures_and_shows_millimetres(views, model, qtbot):
    model.set_tool("ruler")
    coronal = views.views["coronal"]
    row_mm, col_mm = model.planes["coronal"].pixel_mm

    def at(row, col):
        return coronal.mapFromScene(coronal.box.mapViewToScene(QPointF(col * col_mm, row * row_mm)))

    before = model.crosshair
    qtbot.mousePress(coronal.viewport(), Qt.MouseButton.LeftButton, pos=at(1, 2))
    for step in range(1, 6):
        qtbot.mouseMove(coronal.viewport(), pos=at(1 + 3 * step / 5, 2 + 4 * step / 5))
    qtbot.mouseRelease(coronal.viewport(), Qt.MouseButton.LeftButton, pos=at(4, 6))
    m = model.measurement
    assert m is not None and m.kind == "ruler" and model.crosshair == before
    assert m.value == pytest.approx((24.0**2 + 5.0**2) ** 0.5, rel=0.05)  # 3 slices of 8 mm, 4 columns of 1.25 mm
    assert coronal.ruler_item.isVisible() and coronal.measure_text.isVisible()
    assert not views.views["axial"].ruler_item.isVisible()
    model.step("coronal", 1)  # another slice: the measurement belongs to the one it was drawn on
    assert not coronal.measure_text.isVisible()


def test_label_statistics_table_follows_the_labels(qtbot, model):
    from sra_seg_app.widgets.label_stats import LabelStatsTable

    table = LabelStatsTable(model, {1: "RV", 3: "LV"}, debounce_ms=10)
    qtbot.addWidget(table)
    lv_voxels = int((model.labels == 3).sum())
    assert table.rowCount() == 2 and table.item(1, 0).text() == "LV"
    assert table.item(1, 1).text() == f"{lv_voxels:,}"
    assert table.item(1, 2).text() == f"{lv_voxels * 1.25 * 1.25 * 8.0 / 1000:.2f}"
    assert table.item(0, 1).text() == "0" and table.item(0, 3).text() == "—"  # no RV drawn
    edited = model.labels.copy()
    edited[0, 0, :5] = 1
    model.set_labels(edited)
    qtbot.waitUntil(lambda: table.item(0, 1).text() == "5")


def test_the_crosshair_lines_cross_at_the_crosshair_voxel_centre_in_mm(views, model):
    model.set_crosshair((5, 12, 20))
    coronal = views.views["coronal"]
    row, col = model.crosshair_in("coronal")
    row_mm, col_mm = model.planes["coronal"].pixel_mm
    v, h = coronal.v_line.line(), coronal.h_line.line()
    assert v.x1() == v.x2() == pytest.approx((col + 0.5) * col_mm)
    assert h.y1() == h.y2() == pytest.approx((row + 0.5) * row_mm)
    assert v.length() == pytest.approx(8 * 8.0) and h.length() == pytest.approx(48 * 1.25)  # across the slice


def _no_opengl() -> str | None:
    from sra_seg_app.widgets.surface_view import opengl_problem

    return opengl_problem()


def test_the_3d_view_draws_the_meshes_in_a_native_gl_window_not_a_qopenglwidget(qtbot):
    """Under Xvfb or a desktop (skipped on the offscreen platform of the default run): the surface is drawn, in the
    class colour, by a QOpenGLWindow in a window container, so no QOpenGLWidget makes Qt compose the window in GL."""
    problem = _no_opengl()
    if problem is not None:
        pytest.skip(problem)
    from PySide6.QtOpenGLWidgets import QOpenGLWidget

    from sra_seg_app.widgets.surface_view import SurfaceView

    view = SurfaceView(debounce_ms=10)
    qtbot.addWidget(view)
    view.resize(300, 300)
    view.show()
    qtbot.waitUntil(lambda: view.gl is not None and view.gl.isExposed())
    labels = np.zeros((8, 20, 20), np.uint8)
    labels[2:6, 5:15, 5:15] = 1
    view.set_labels(labels, np.diag([2.0, 2.0, 4.0, 1.0]), {1: "#FF0000"})
    view.refresh(background=False)
    view.gl.repaint()
    pixels = view.gl.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB32)
    rgb = np.frombuffer(pixels.constBits(), np.uint8).reshape(pixels.height(), -1, 4)[..., :3].copy()
    red = (rgb[..., 2] > 60) & (rgb[..., 1] < 30) & (rgb[..., 0] < 30)  # BGRA in memory
    assert red.sum() > 100
    assert not view.findChildren(QOpenGLWidget)
