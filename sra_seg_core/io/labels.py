"""Label maps: images whose every value is a class number 0, 1, 2, ...

A label is read like any image, then checked: whole numbers only, none negative, none ``>= num_classes``, and with a
``reference`` image, the same voxel grid. The result is the smallest unsigned integer type that holds it (uint8 for
up to 256 classes) and carries ``meta["label"] = True``, which tells writers never to rescale it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io.formats import RASTER_FORMATS
from sra_seg_core.io.grey import colour_channels
from sra_seg_core.io.readwrite import MAX_PIXELS, read_pixels

# Labels exported by different tools from the same image agree to float32 precision, far below this.
GEOMETRY_TOLERANCE_MM = 1e-3
_SHOWN_VALUES = 8


def read_label(
    path: str | os.PathLike,
    *,
    reference: Image | None = None,
    num_classes: int | None = None,
    frame: int | None = None,
    binarize: bool = False,
    series: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Image:
    """Read a label map: array ``(Z, Y, X)`` unsigned integer (uint8 when the values fit), ``meta["label"] = True``.

    reference:   the image it labels: the shapes must be equal and, unless either is a 2-D picture (PNG, JPEG, TIFF:
                 no patient geometry), the affines must agree within ``GEOMETRY_TOLERANCE_MM``; the label then takes
                 the reference's affine exactly.
    num_classes: values must lie in ``0 .. num_classes - 1`` (background included).
    binarize:    read a 0/255 (or 0/1) binary mask, such as FIVES' vessel masks, as 0/1; any other value is an error.
    frame, series, max_pixels: as for :func:`~sra_seg_core.io.read_image`.

    Colour label pictures are accepted only when their colour channels are equal (a grey mask saved as RGB); a palette
    PNG is read by its indices, whatever colours its palette shows them in.
    Fractional, negative or out-of-range values raise :class:`InputError` naming the file and the values.
    """
    label = read_pixels(path, _one_channel, frame=frame, series=series, max_pixels=max_pixels, indexed=True)
    values = _class_numbers(label.array, label.source, binarize=binarize, num_classes=num_classes)
    affine = label.affine
    if reference is not None:
        _check_same_grid(label, reference)
        affine = reference.affine.copy()
    return Image(values, affine, label.source, {**label.meta, "label": True})


def _one_channel(pixels: np.ndarray, path: Path) -> np.ndarray:
    colour = colour_channels(pixels, path)
    if any(not np.array_equal(colour[..., 0], colour[..., c]) for c in range(1, colour.shape[-1])):
        raise InputError(
            "is a colour image whose channels differ, so it is not a label map (one class number per pixel); "
            "save the mask with grey class values 0, 1, 2, ...",
            path,
        )
    return colour[..., 0]


def _shown(values: np.ndarray) -> str:
    unique = np.unique(values)
    text = ", ".join(f"{v:g}" for v in unique[:_SHOWN_VALUES])
    return text + (f", ... ({len(unique)} distinct)" if len(unique) > _SHOWN_VALUES else "")


def _class_numbers(array: np.ndarray, path: Path, *, binarize: bool, num_classes: int | None) -> np.ndarray:
    if array.dtype.kind == "f":
        fractional = array != np.floor(array)
        if fractional.any():
            raise InputError(
                f"is not a label map: it has fractional values ({_shown(array[fractional])}); labels must be whole "
                "class numbers 0, 1, 2, ...",
                path,
            )
    if binarize:
        zero = array == 0
        if not (zero | (array == 255)).all() and not (zero | (array == 1)).all():
            raise InputError(
                f"is not a binary mask: binarize expects only 0 and 255 (or 0 and 1), found {_shown(array)}", path
            )
        return (~zero).astype(np.uint8)
    lo, hi = float(array.min()), float(array.max())
    top = None if num_classes is None else num_classes - 1
    if lo < 0 or (top is not None and hi > top):
        allowed = "0 or more" if top is None else f"0 to {top} (num_classes = {num_classes})"
        bad = (array < 0) if top is None else (array < 0) | (array > top)
        raise InputError(
            f"has label values {_shown(array[bad])} outside the allowed range {allowed}; values found: {_shown(array)}",
            path,
        )
    return array.astype(np.min_scalar_type(int(hi)), copy=False)


def _check_same_grid(label: Image, reference: Image) -> None:
    image = f"the image {reference.source}" if reference.source else "the image"
    if label.shape != reference.shape:
        raise InputError(
            f"label shape {label.shape} does not match the shape {reference.shape} of {image} (slices, rows, columns)",
            label.source,
        )
    pictures = {label.meta.get("format"), reference.meta.get("format")} & RASTER_FORMATS
    if pictures or np.allclose(label.affine, reference.affine, atol=GEOMETRY_TOLERANCE_MM):
        return
    facts = [
        f"origin (LPS) {_mm(label.origin_lps)} vs {_mm(reference.origin_lps)} mm",
        f"spacing {_mm(label.spacing)} vs {_mm(reference.spacing)} mm",
    ]
    if not np.allclose(label.direction_lps, reference.direction_lps, atol=1e-4):
        facts.append("the axis directions differ")
    raise InputError(
        f"lies on a different voxel grid than {image}: {'; '.join(facts)}. A label must share its image's geometry; "
        "re-export it from the image (or resample it onto the image) and try again",
        label.source,
    )


def _mm(values) -> str:
    return "(" + ", ".join(f"{v + 0.0:.4g}" for v in values) + ")"  # + 0.0: no "-0"
