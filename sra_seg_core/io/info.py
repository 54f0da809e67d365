"""What an image file's header says, and the checks made on it before (and just after) the pixels are decoded.

Every reader first produces an :class:`ImageInfo` from the header alone, so an oversized image, an empty dimension or a
4-D file without a chosen frame is refused before any pixel is decoded; then the decoded data is checked for NaN/Inf
and the geometry for a proper voxel grid.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sra_seg_core.errors import InputError

MIN_SPACING_MM = 1e-6  # a nanometre: no imaging device resolves less, so smaller is a damaged header

# What each format's ``open_*`` returns beside the ImageInfo: load(frame) -> (array, affine, meta), where array is
# (Z, Y, X) or (Z, Y, X, C) for multi-channel pixels, affine the (4, 4) RAS+ matrix, and meta goes to Image.meta.
Loader = Callable[[int | None], tuple[np.ndarray, np.ndarray, dict]]


@dataclass(frozen=True)
class ImageInfo:
    """Header facts of an image file or DICOM series.

    format:     "NIfTI", "NRRD", "MetaImage", "DICOM", "DICOM series", "PNG", "JPEG" or "TIFF".
    shape:      (Z, Y, X) of one frame, as ``Image.array`` will have it.
    spacing:    voxel size in mm along (i, j, k).
    dtype:      numpy dtype of the values ``read_image`` returns (after NIfTI scaling; per channel for colour).
    frames:     number of 3-D frames (> 1 only for 4-D files).
    components: values per pixel (1 grey, 3 RGB, 4 RGBA, ...).
    dims:       2 for a single 2-D image (PNG, 2-D NIfTI/NRRD), else 3.
    """

    format: str
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    dtype: np.dtype
    frames: int = 1
    components: int = 1
    dims: int = 3

    @property
    def pixels(self) -> int:
        """Pixels in one frame (what one decoded frame holds, per channel)."""
        return math.prod(self.shape)

    def check_size(self, max_pixels: int, path: Path) -> None:
        """Refuse empty images and images with more than ``max_pixels`` pixels per frame."""
        if min(*self.shape, self.frames) < 1:  # a damaged header can even declare negative sizes
            raise InputError(f"has an empty dimension (shape {self.describe_shape()}): there is no image data", path)
        if self.pixels > max_pixels:
            raise InputError(
                f"is {self.describe_shape()} = {self.pixels:,} pixels, over the limit of {max_pixels:,} (max_pixels); "
                "crop or downsample it first, or raise the limit if this machine has the memory",
                path,
            )

    def frame_index(self, frame: int | None, path: Path) -> int | None:
        """The 4-D frame to read (None for a 3-D image, which counts as one frame 0)."""
        if self.frames == 1:
            if frame not in (None, 0):
                raise InputError(f"has a single frame; frame {frame} does not exist (use 0 or leave it out)", path)
            return None
        if frame is None:
            raise InputError(
                f"is 4-D with {self.frames} frames; choose one with frame= (--frame in the CLI), "
                f"0 to {self.frames - 1}",
                path,
            )
        if not 0 <= frame < self.frames:
            raise InputError(f"has {self.frames} frames (0 to {self.frames - 1}); frame {frame} does not exist", path)
        return frame

    def describe_shape(self) -> str:
        z, y, x = self.shape
        text = f"{x} x {y}" if self.dims == 2 else f"{x} x {y} x {z}"
        return f"{text} x {self.frames} frames" if self.frames > 1 else text


def check_finite(array: np.ndarray, path: Path) -> None:
    """Refuse float data that holds NaN or Inf: every later step (normalisation, training, metrics) would spread it."""
    if array.dtype.kind not in "fc":
        return
    # block by block: a flag array as large as the volume would add a quarter of a float32 volume to the peak memory
    flat = array.ravel(order="K")  # a view of any contiguous array
    block = 1 << 24
    finite = sum(int(np.count_nonzero(np.isfinite(flat[i : i + block]))) for i in range(0, flat.size, block))
    bad = array.size - finite
    if bad:
        raise InputError(
            f"contains {bad:,} NaN or infinite values out of {array.size:,}; replace them (e.g. with 0) and try again",
            path,
        )


def check_geometry(affine: np.ndarray, path: Path) -> None:
    """Refuse a (4, 4) voxel -> mm matrix that places no proper voxel grid: values that are not finite, a voxel size
    below a nanometre (0 in a damaged sform / qform / spacing), or axes that point the same way. Nothing could be
    measured or displayed on it, and a project could not store it."""
    linear = affine[:3, :3]
    if not np.isfinite(affine).all():
        problem = "values that are not finite"
    else:
        spacing = np.linalg.norm(linear, axis=0)
        small = [f"{mm:.3g} mm along {axis}" for axis, mm in zip("ijk", spacing) if mm < MIN_SPACING_MM]
        if small:
            problem = "a voxel size of " + " and ".join(small)
        elif abs(np.linalg.det(linear / spacing)) < 1e-6:
            problem = "two voxel axes point the same way"
        else:
            return
    raise InputError(f"has a damaged voxel geometry ({problem}); fix the header's spacing / orientation or export "
                     "the image again", path)


def short_reason(exc: BaseException) -> str:
    """One line from a library's exception (SimpleITK's span several lines and name C++ source files)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    if lines[0].startswith("Exception thrown in SimpleITK"):  # then a source location, then the message
        lines = lines[-1:]
    text = " ".join(lines)
    text = re.sub(r"^(sitk::ERROR|ITK ERROR)(: \w+\(0x[0-9a-f]+\))?:\s*", "", text)
    if "Unable to determine ImageIO reader" in text:
        return "its contents are not in any image format this program knows"
    if "Unknown PixelType" in text:  # e.g. ITK cannot read grey + alpha PNGs
        return f"its pixel layout is not supported ({text}); save it as plain grey or RGB"
    return text if len(text) <= 200 else text[:197] + "..."


def cannot_read(path: str | os.PathLike, fmt: str, exc: BaseException) -> InputError:
    """The error for a file that exists but does not decode (truncated, corrupt, or not an image at all)."""
    return InputError(f"cannot be read as {fmt}: {short_reason(exc)}", path)
