"""Window/level presets of the viewer: percentile ones for any image, fixed ones in Hounsfield units for CT.

A preset name maps to the (low, high) display window it gives on an image; "Custom" is what the preset box says
once the window no longer matches the preset chosen (a right-drag, or numbers typed into the fields).
"""

from __future__ import annotations

import numpy as np

PERCENTILE_PRESETS = {"Auto (1–99 %)": (1, 99), "Full range": (0, 100), "Soft (5–95 %)": (5, 95),
                      "Wide (0.5–99.5 %)": (0.5, 99.5)}
# (level, width) in HU, the usual radiology windows
CT_PRESETS = {"CT soft tissue (W 400 / L 40)": (40.0, 400.0), "CT lung (W 1500 / L −600)": (-600.0, 1500.0),
              "CT bone (W 1800 / L 400)": (400.0, 1800.0)}
CUSTOM = "Custom"
PRESETS = (*PERCENTILE_PRESETS, *CT_PRESETS)


def preset_window(name: str, volume: np.ndarray) -> tuple[float, float]:
    """The (low, high) window of preset ``name`` on ``volume`` (any shape; percentiles from a subsample)."""
    if name in CT_PRESETS:
        level, width = CT_PRESETS[name]
        return level - width / 2, level + width / 2
    if name not in PERCENTILE_PRESETS:
        raise ValueError(f"unknown window preset {name!r}; one of {', '.join(PRESETS)}")
    low_pct, high_pct = PERCENTILE_PRESETS[name]
    flat = volume.ravel()
    step = max(1, flat.size // 500_000)
    lo, hi = np.percentile(flat[::step].astype(np.float64), [low_pct, high_pct])
    if hi <= lo:
        lo, hi = float(flat.min()), float(flat.max()) + 1e-6
    return float(lo), float(hi)


def shown_preset(chosen: str | None, chosen_window: tuple[float, float] | None,
                 window: tuple[float, float]) -> str:
    """What the preset box shows: the preset last chosen while the window is still its own, else "Custom"."""
    if chosen is None or chosen_window is None or not np.allclose(chosen_window, window, rtol=1e-6, atol=1e-9):
        return CUSTOM
    return chosen
