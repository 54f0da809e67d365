"""The slice views' image item draws what pyqtgraph's own ImageItem would, from 32-bit premultiplied images."""

import numpy as np
import pytest
from PySide6.QtGui import QImage

from sra_seg_app._pyqtgraph import pg
from sra_seg_app.widgets.canvas import label_lut
from sra_seg_app.widgets.display_image import DisplayImageItem

FAST = (QImage.Format.Format_RGB32, QImage.Format.Format_ARGB32_Premultiplied)


def pixels(item) -> np.ndarray:
    """(H, W, 4) uint8 premultiplied BGRA of the item's rendered image."""
    item.render()
    image = item.qimage.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : 4 * image.width()].reshape(image.height(), image.width(), 4).copy()  # image is freed on return


def rendered(cls, data, **kwargs):
    item = cls(axisOrder="row-major")
    item.setImage(data, autoLevels=False, **kwargs)
    return item


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8])
def test_an_integer_scan_is_windowed_like_pyqtgraph(qapp, dtype):
    info = np.iinfo(dtype)
    data = np.random.default_rng(0).integers(max(info.min, -2000), min(info.max, 3000), (37, 50)).astype(dtype)
    levels = (20, 180) if dtype == np.uint8 else (-300, 1200)
    ours, theirs = rendered(DisplayImageItem, data, levels=levels), rendered(pg.ImageItem, data, levels=levels)
    diff = np.abs(pixels(ours).astype(int) - pixels(theirs).astype(int))
    assert diff.max() <= 1 and ours.qimage.format() == QImage.Format.Format_RGB32


def test_a_strided_plane_slice_is_windowed_like_a_contiguous_copy(qapp):
    volume = np.random.default_rng(1).integers(-1000, 1000, (6, 20, 30)).astype(np.int16)
    cut = volume[::-1, 7, :]  # a coronal cut: a strided view, flipped
    a = rendered(DisplayImageItem, cut, levels=(-500, 500))
    b = rendered(DisplayImageItem, cut.copy(), levels=(-500, 500))
    np.testing.assert_array_equal(pixels(a), pixels(b))


def test_a_new_window_redraws_the_same_slice(qapp):
    data = np.arange(-50, 50, dtype=np.int16).reshape(10, 10)
    item = rendered(DisplayImageItem, data, levels=(-50, 50))
    before = pixels(item).copy()
    item.setLevels((0, 10))
    after = pixels(item)
    assert after[0, 0, 0] == 0 and after[-1, -1, 0] == 255 and not np.array_equal(before, after)


def test_labels_through_the_lut_match_pyqtgraph_premultiplied(qapp):
    labels = np.random.default_rng(2).integers(0, 5, (40, 33)).astype(np.uint8)
    lut = label_lut({1: "#E69F00", 2: "#56B4E9", 3: "#009E73"}, 0.45)  # 4 is not in the table: transparent
    ours, theirs = rendered(DisplayImageItem, labels, lut=lut), rendered(pg.ImageItem, labels, lut=lut)
    diff = np.abs(pixels(ours).astype(int) - pixels(theirs).astype(int))
    assert diff.max() <= 1 and ours.qimage.format() == QImage.Format.Format_ARGB32_Premultiplied
    assert pixels(ours)[labels == 0].max() == 0 and pixels(ours)[labels == 4].max() == 0


def test_a_new_opacity_recolours_the_labels(qapp):
    labels = np.full((4, 4), 2, np.uint8)
    item = rendered(DisplayImageItem, labels, lut=label_lut({2: "#FF0000"}, 1.0))
    assert pixels(item)[0, 0, 3] == 255
    item.setLookupTable(label_lut({2: "#FF0000"}, 0.5))
    assert pixels(item)[0, 0, 3] == 128


def test_other_images_take_pyqtgraphs_path_and_end_32_bit(qapp):
    data = np.random.default_rng(3).normal(0, 1, (12, 9)).astype(np.float32)
    ours, theirs = rendered(DisplayImageItem, data, levels=(-1, 1)), rendered(pg.ImageItem, data, levels=(-1, 1))
    np.testing.assert_array_equal(pixels(ours), pixels(theirs))
    assert ours.qimage.format() in FAST
