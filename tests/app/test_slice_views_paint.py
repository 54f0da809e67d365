"""What the slice views draw and when: a hidden canvas catches up when shown; the edge letters are painted."""

import numpy as np
from PySide6.QtGui import QImage


def test_a_hidden_canvas_shows_the_current_slice_once_shown(session, qtbot):
    from sra_seg_app.widgets.canvas import SliceCanvas

    canvas = SliceCanvas(session)
    qtbot.addWidget(canvas)
    session.select_case(session.project.cases[0].id)
    session.set_slice(0)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.hide()
    session.set_slice(1)  # while hidden (another workspace is on screen)
    canvas.show()
    np.testing.assert_array_equal(canvas.image_item.image, session.image.array[1])
    session.close_project()  # while the canvas still exists (it follows the session's signals)


def test_the_orientation_letters_are_painted_at_the_edges(qtbot):
    from sra_seg_app.model.planes import PlanesModel
    from sra_seg_app.widgets.plane_views import PlaneView
    from sra_seg_core.image import Image

    model = PlanesModel()
    model.set_image(Image.from_spacing(np.zeros((4, 30, 30), np.float32), (1.0, 1.0, 1.0)))
    view = PlaneView(model, "axial")
    qtbot.addWidget(view)
    view.resize(200, 200)
    view.show()
    qtbot.waitExposed(view)
    shot = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    rgb = np.frombuffer(shot.constBits(), np.uint8).reshape(shot.height(), -1, 4)[:, : shot.width(), 2::-1].copy()
    yellow = (rgb[..., 0] > 200) & (rgb[..., 1] > 170) & (rgb[..., 2] < 80)
    top = yellow[: shot.height() // 8]
    assert top.any() and view.markers.text()["top"] == "A"
    columns = np.nonzero(top.any(axis=0))[0]
    assert abs(columns.mean() - shot.width() / 2) < 10  # centred on the top edge
