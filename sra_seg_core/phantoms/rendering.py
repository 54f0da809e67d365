"""Rendering shared by the cardiac and fundus phantoms: the two styles, smooth random fields, generator artefacts.

Smooth fields are cubic B-spline surfaces over a coarse grid of random control values, evaluated as two small matrix
products (``A_y @ C @ A_x.T``), so a 2048 x 2048 field costs milliseconds and its feature size is set in pixels.
"""

from __future__ import annotations

import numpy as np

from sra_seg_core.errors import ConfigError

STYLES = ("real", "synthetic")


def check_style(style: str) -> str:
    if style not in STYLES:
        raise ConfigError(f"unknown phantom style {style!r}; use one of {', '.join(STYLES)}")
    return style


def _bspline_weights(n_out: int, n_ctrl: int) -> np.ndarray:
    """(n_out, n_ctrl) float32 cubic B-spline weights sampling ``n_out`` points across the valid span of the grid."""
    t = np.linspace(1.0, n_ctrl - 2.0, n_out)
    d = np.abs(t[:, None] - np.arange(n_ctrl)[None, :])
    w = np.where(d < 1, 2 / 3 - d**2 + d**3 / 2, np.where(d < 2, (2 - d) ** 3 / 6, 0.0))
    return w.astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], feature_px: float, count: int = 1) -> np.ndarray:
    """(count, H, W) float32 random fields with zero mean and unit standard deviation, varying over ``feature_px``
    pixels."""
    height, width = shape
    ay = _bspline_weights(height, int(np.ceil(height / feature_px)) + 3)
    ax = _bspline_weights(width, int(np.ceil(width / feature_px)) + 3)
    ctrl = rng.standard_normal((count, ay.shape[1], ax.shape[1])).astype(np.float32)
    field = np.ascontiguousarray(np.einsum("yk,nkl,xl->nyx", ay, ctrl, ax, optimize=True))
    field -= field.mean(axis=(1, 2), keepdims=True)
    field /= field.std(axis=(1, 2), keepdims=True) + 1e-6
    return field


def checkerboard(shape: tuple[int, int], period: int = 2) -> np.ndarray:
    """(H, W) float32 +-1 pattern of ``period``-pixel squares: the footprint of strided transposed convolutions."""
    cell = max(1, period // 2)
    yy, xx = np.indices(shape)
    return np.where((yy // cell + xx // cell) % 2 == 0, 1.0, -1.0).astype(np.float32)


def lowpass_ringing(images: np.ndarray, keep: float) -> np.ndarray:
    """Keep only spatial frequencies below ``keep`` x Nyquist with a hard cut-off, per 2-D image.

    images: (..., H, W) float32. The hard cut both over-smooths and leaves Gibbs ringing beside edges, the look of an
    image decoded from a truncated spectrum.
    """
    h, w = images.shape[-2:]
    fy = np.fft.fftfreq(h)[:, None] * 2
    fx = np.fft.rfftfreq(w)[None, :] * 2
    spectrum = np.fft.rfft2(images)
    spectrum *= np.hypot(fy, fx) <= keep
    return np.fft.irfft2(spectrum, s=(h, w)).astype(np.float32)
