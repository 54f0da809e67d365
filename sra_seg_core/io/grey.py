"""Colour to grey: the network takes one channel, so colour pictures (fundus photographs) are reduced on read.

Rules (``GREY_RULES``):

- ``luminance``: ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B (the default; what most viewers show as grey);
- ``green``: the green channel, which has the best vessel contrast in fundus photographs;
- ``mean``: (R + G + B) / 3;
- ``first``: the first channel as stored.

Alpha is dropped; a grey + alpha image is already grey. Integer input stays integer (luminance and mean are rounded to
the nearest value of the input dtype, as image editors do), so an RGB PNG becomes a uint8 grey image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sra_seg_core.errors import ConfigError, InputError

GREY_RULES: tuple[str, ...] = ("luminance", "green", "mean", "first")
_BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_grey_rule(rule: str) -> None:
    if rule not in GREY_RULES:
        raise ConfigError(f"unknown grey rule {rule!r}; choose one of {', '.join(GREY_RULES)}")


def colour_channels(array: np.ndarray, path: Path) -> np.ndarray:
    """The colour channels of ``(..., C)`` pixels without alpha: ``(..., 1)`` for grey (+ alpha), ``(..., 3)`` for
    RGB(A). Other channel counts (vector fields, multi-echo) are refused."""
    channels = array.shape[-1]
    if channels in (1, 2):
        return array[..., :1]
    if channels in (3, 4):
        return array[..., :3]
    raise InputError(
        f"has {channels} values per pixel; only grey, grey + alpha, RGB and RGBA images can be used", path
    )


def to_grey(array: np.ndarray, rule: str, path: Path) -> np.ndarray:
    """``(..., C)`` pixels -> ``(...)`` grey by ``rule`` (see the module docstring); dtype kept."""
    check_grey_rule(rule)
    colour = colour_channels(array, path)
    if colour.shape[-1] == 1 or rule == "first":
        return colour[..., 0]
    if rule == "green":
        return colour[..., 1]
    weights = _BT601 if rule == "luminance" else np.full(3, 1 / 3, dtype=np.float32)
    grey = colour @ weights.astype(np.result_type(colour.dtype, np.float32))
    return np.rint(grey).astype(array.dtype) if array.dtype.kind in "iu" else grey.astype(array.dtype)
