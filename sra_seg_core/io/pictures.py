"""What SimpleITK alone gets wrong about 2-D pictures (PNG, JPEG, TIFF), found and mended with Pillow.

- **Truncated JPEG**: libjpeg warns "Premature end of JPEG file" on stderr and fills the missing rows grey, so half a
  photograph reads as a whole one. Pillow decodes it once more and raises instead: the file is refused.
- **EXIF orientation**: cameras store the sensor's rows and say in the Orientation tag how to turn them; every viewer
  (and the clinician drawing a label on what it shows) sees the turned picture, ITK the stored rows. The turn is
  applied, so a label drawn on the displayed photo lies on the image.
- **Multi-page TIFF**: ITK stacks the pages into a volume using the first page's size and pixel type, so pages that
  differ come back cropped, padded or re-typed. A stack whose pages agree is read as the volume (Z = pages); one whose
  pages differ is refused. TIFFs with separate colour planes are refused too: ITK reads them through an 8-bit RGBA
  fallback that loses bit depth.
- **Palette PNG labels**: ITK expands palette indices to their colours. A label map saved with a palette (what many
  annotation tools write) means its indices, so labels are read by index; images still become grey from the colours.

Pillow is torchvision's own dependency, declared in pyproject.toml because it is imported here.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sra_seg_core.errors import InputError
from sra_seg_core.io.info import short_reason
from sra_seg_core.lazy import lazy_module

PIL_Image = lazy_module("PIL.Image")  # imported on first use (start-up time)

_ORIENTATION_TAG = 0x0112
_PLANAR_TAG = 284  # TIFF PlanarConfiguration: 2 = colour planes stored separately
_TRANSPOSED = frozenset({5, 6, 7, 8})  # orientations that swap rows and columns


@dataclass(frozen=True)
class PictureFacts:
    """What Pillow's header read says. orientation: EXIF 1..8 (1 = as stored); palette: pixels are palette indices."""

    orientation: int = 1
    palette: bool = False

    @property
    def transposed(self) -> bool:
        return self.orientation in _TRANSPOSED


@contextmanager
def _quiet():
    """Silence Pillow's warnings (damaged EXIF, DecompressionBomb): a file's problems are errors or nothing, never
    extra lines on the terminal; the pixel limit is read_image's to enforce."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def picture_facts(path: Path, fmt: str) -> PictureFacts:
    """Orientation and palette of a picture from its header; InputError for a TIFF whose pages cannot be stacked.

    A file Pillow cannot open or parse is left to ITK, whose error names the problem.
    """
    problem = None
    try:
        with _quiet(), PIL_Image.open(path) as picture:
            if fmt == "TIFF":
                problem = _tiff_problem(picture)
                picture.seek(0)
            orientation = picture.getexif().get(_ORIENTATION_TAG, 1)
            palette = picture.mode in ("P", "PA")
    except Exception:  # noqa: BLE001 — a damaged header can raise anything inside Pillow; ITK reads it next
        return PictureFacts()
    if problem:
        raise InputError(problem, path)
    return PictureFacts(orientation if orientation in range(1, 9) else 1, palette)


def _tiff_problem(picture) -> str | None:
    """Why the pages of a TIFF cannot be read as one stack, or None."""
    pages = getattr(picture, "n_frames", 1)
    layout = []
    for page in range(pages):
        picture.seek(page)
        if picture.tag_v2.get(_PLANAR_TAG) == 2:
            return ("stores its colour planes separately (TIFF planar configuration 2), which cannot be read without "
                    "losing bit depth; save it as an ordinary (interleaved) TIFF or PNG")
        layout.append((picture.size, picture.mode))
    different = [k for k, item in enumerate(layout) if item != layout[0]]
    if not different:
        return None
    (w0, h0), mode0 = layout[0]
    (w, h), mode = layout[different[0]]
    return (f"is a TIFF of {pages} pages that differ (page 1 is {w0} x {h0} {mode0}, page {different[0] + 1} is "
            f"{w} x {h} {mode}), so they do not stack into one volume; save each page as its own file")


def check_complete(path: Path, fmt: str) -> None:
    """Refuse a JPEG whose data ends early (see the module docstring); other formats' decoders already raise."""
    if fmt != "JPEG":
        return
    try:
        with _quiet(), PIL_Image.open(path) as picture:
            picture.load()
    except Exception as exc:  # noqa: BLE001 — whatever Pillow raises, the file does not decode in full
        raise InputError(f"is truncated or damaged ({short_reason(exc)}); copy or export it again", path) from None


def palette_indices(path: Path) -> np.ndarray:
    """The ``(1, H, W)`` palette indices of a palette picture, as stored (before any orientation)."""
    with PIL_Image.open(path) as picture:
        return np.asarray(picture.convert("P") if picture.mode == "PA" else picture)[None]


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn ``(Z, Y, X)`` or ``(Z, Y, X, C)`` stored pixels the way EXIF ``orientation`` says they are displayed."""
    rows, cols = 1, 2
    if orientation in _TRANSPOSED:
        array = np.swapaxes(array, rows, cols)
    flip_rows, flip_cols = {2: (False, True), 3: (True, True), 4: (True, False), 5: (False, False),
                            6: (False, True), 7: (True, True), 8: (True, False)}.get(orientation, (False, False))
    if flip_rows:
        array = array[:, ::-1]
    if flip_cols:
        array = array[:, :, ::-1]
    return np.ascontiguousarray(array)
