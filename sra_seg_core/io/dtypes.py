"""Data types on disk: what an array is stored as, and conversions that never wrap around silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sra_seg_core.errors import ConfigError, InputError

# Narrowest first: int64 data (numpy's default for label arithmetic) is stored in the first type that holds it.
_INTEGER_LADDER = tuple(map(np.dtype, ("uint8", "int16", "uint16", "int32", "uint32")))


def parse_dtype(dtype, allowed: tuple[str, ...], fmt: str) -> np.dtype:
    """A user's ``dtype`` option as a numpy dtype, refused (ConfigError) if ``fmt`` cannot store it."""
    try:
        parsed = np.dtype(dtype)
    except TypeError:
        raise ConfigError(f"unknown data type {dtype!r}; {fmt} can store {', '.join(allowed)}") from None
    if parsed.name not in allowed:
        raise ConfigError(f"{fmt} cannot store {parsed.name}; choose one of {', '.join(allowed)}")
    return parsed


def value_range(array: np.ndarray) -> tuple[float, float]:
    return (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)


def fits(array: np.ndarray, dtype: np.dtype) -> bool:
    """True if every value of ``array`` is representable in integer ``dtype`` (ignoring fractions)."""
    info = np.iinfo(dtype)
    lo, hi = value_range(array)
    return info.min <= lo and hi <= info.max


def smallest_integer_dtype(array: np.ndarray, candidates=_INTEGER_LADDER) -> np.dtype | None:
    """The first of ``candidates`` that holds every value of the integer ``array`` (None if none does)."""
    return next((dt for dt in candidates if fits(array, dt)), None)


def storable(array: np.ndarray) -> np.ndarray:
    """``array`` in a type every volume format stores: bool -> uint8, float16 -> float32, 64-bit integers narrowed to
    the smallest type that holds their values (many tools, and nibabel by default, refuse int64)."""
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if array.dtype.kind in "iu" and array.dtype.itemsize == 8:
        return array.astype(smallest_integer_dtype(array) or array.dtype, copy=False)
    return array


def cast(array: np.ndarray, dtype: np.dtype, path: Path) -> np.ndarray:
    """``array`` converted to ``dtype``: floats become integers by rounding; values that do not fit raise InputError
    instead of wrapping around."""
    if array.dtype == dtype:
        return array
    if dtype.kind in "iu":
        if array.dtype.kind == "f":
            array = np.rint(array)
        if not fits(array, dtype):
            lo, hi = value_range(array)
            raise InputError(f"values {lo:g} to {hi:g} do not fit in {dtype.name}; choose a wider data type", path)
    return array.astype(dtype)


def rescale_to_uint8(array: np.ndarray) -> np.ndarray:
    """Min-max rescale to uint8 0..255 (a constant image becomes 0): for pictures of data a format cannot hold."""
    lo, hi = value_range(array)
    if hi <= lo:
        return np.zeros(array.shape, np.uint8)
    scaled = (array.astype(np.float64) - lo) * (255.0 / (hi - lo))
    return np.rint(scaled).astype(np.uint8)
