"""An image item that hands Qt the pixel formats it draws fastest: the slice views' per-frame cost.

A slice change repaints the image and its label overlay at screen size. Qt's raster engine scales and blends 32-bit
premultiplied images (``RGB32`` opaque, ``ARGB32_Premultiplied`` with alpha) on its fast paths; the 8-bit grey and
indexed images pyqtgraph makes go through a generic per-pixel fetch instead (measured offscreen, 512² drawn at
~530²: grey 0.7 ms vs 0.15 ms, indexed labels 1.3 ms vs 0.25 ms). pyqtgraph also builds an indexed image's colour
table in Python on each render (256 ``qRgba`` calls), and rescales a 16-bit integer scan (the usual CT/MR storage) in
floating point on each render (``makeARGB``, ~2 ms at 512²). Here the window becomes a grey table over every value of
the dtype, and the label LUT a premultiplied colour table, each built once per window or LUT: a slice then costs one
``np.take`` per layer. Other images (float, RGB) take pyqtgraph's path and are converted to a 32-bit format after.

The item's public state (``image``, ``levels``, ``lut``) is pyqtgraph's own; only the QImage it draws differs.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from sra_seg_app._pyqtgraph import pg

__all__ = ["DisplayImageItem", "gray_lut", "premultiplied_lut"]

_FAST = (QImage.Format.Format_RGB32, QImage.Format.Format_ARGB32_Premultiplied)


def gray_lut(dtype, levels) -> np.ndarray:
    """Opaque grey ARGB32 colours (uint32, one per bit pattern of ``dtype``, indexed by the image viewed as unsigned)
    for window ``levels`` = (low, high): low and below black, high and above white, linear between, as pyqtgraph
    rescales (``(value - low) * 255 / (high - low)``, truncated)."""
    dtype = np.dtype(dtype)
    unsigned = np.dtype(f"u{dtype.itemsize}")
    values = np.arange(2 ** (8 * dtype.itemsize), dtype=unsigned).view(dtype).astype(np.float64)
    low, high = float(levels[0]), float(levels[1])
    scale = 255.0 / (high - low) if high != low else 0.0
    grey = np.clip((values - low) * scale, 0, 255).astype(np.uint32)
    return (0xFF000000 | (grey << 16) | (grey << 8) | grey).astype(np.uint32)


def premultiplied_lut(lut: np.ndarray) -> np.ndarray:
    """(256,) uint32 premultiplied ARGB32 colours of an (N <= 256, 4) uint8 RGBA table; values past N transparent
    (the colour pyqtgraph gives an index outside its table)."""
    rgba = np.zeros((256, 4), np.uint32)
    rgba[: len(lut)] = lut
    alpha = rgba[:, 3]
    r, g, b = ((rgba[:, k] * alpha + 127) // 255 for k in range(3))
    return ((alpha << 24) | (r << 16) | (g << 8) | b).astype(np.uint32)


class DisplayImageItem(pg.ImageItem):
    """``pg.ImageItem`` whose rendered QImage is 32-bit premultiplied (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        self._gray_key = self._color_key = None
        self._gray_table: np.ndarray | None = None
        self._color_table: np.ndarray | None = None
        self._pixels: np.ndarray | None = None  # the buffer the fast path's QImage points into
        super().__init__(*args, **kwargs)

    def _integer_window(self) -> QImage | None:
        """The QImage of a 2-D 8/16-bit integer image with a scalar window and no LUT, or None for other images."""
        image, levels = self.image, self.levels
        if (image is None or image.ndim != 2 or image.dtype.kind not in "iu" or image.dtype.itemsize > 2
                or self.lut is not None or levels is None or np.ndim(levels) != 1 or self.autoDownsample
                or self.axisOrder != "row-major" or not isinstance(image, np.ndarray)):
            return None
        key = (image.dtype.str, float(levels[0]), float(levels[1]))
        if key != self._gray_key:
            self._gray_table, self._gray_key = gray_lut(image.dtype, levels), key
        self._pixels = np.take(self._gray_table, image.view(f"u{image.dtype.itemsize}"))
        rows, cols = self._pixels.shape
        return QImage(self._pixels.data, cols, rows, 4 * cols, QImage.Format.Format_RGB32)

    def _indexed_labels(self) -> QImage | None:
        """The QImage of a 2-D uint8 image drawn through an (N <= 256, 4) uint8 RGBA LUT without levels, or None."""
        image, lut = self.image, self.lut
        if (image is None or image.ndim != 2 or image.dtype != np.uint8 or not isinstance(lut, np.ndarray)
                or lut.dtype != np.uint8 or lut.ndim != 2 or lut.shape[1] != 4 or lut.shape[0] > 256
                or self.levels is not None or self.autoDownsample or self.axisOrder != "row-major"
                or not isinstance(image, np.ndarray)):
            return None
        key = lut.tobytes()
        if key != self._color_key:
            self._color_table, self._color_key = premultiplied_lut(lut), key
        self._pixels = np.take(self._color_table, image)
        rows, cols = self._pixels.shape
        return QImage(self._pixels.data, cols, rows, 4 * cols, QImage.Format.Format_ARGB32_Premultiplied)

    def render(self) -> None:
        qimage = self._integer_window()
        if qimage is None:
            qimage = self._indexed_labels()
        if qimage is not None:
            # what pyqtgraph's own render() leaves behind once it has made its QImage
            self.qimage, self._renderRequired, self._unrenderable = qimage, False, False
            return
        self._pixels = None
        super().render()
        if self.qimage is not None and self.qimage.format() not in _FAST:
            alpha = self.qimage.hasAlphaChannel()
            self.qimage = self.qimage.convertToFormat(_FAST[1] if alpha else _FAST[0])
