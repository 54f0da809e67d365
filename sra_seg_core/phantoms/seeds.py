"""Seeds and random streams: one seed fixes a case; each purpose (anatomy, rendering of a style) gets its own stream."""

from __future__ import annotations

import numpy as np

from sra_seg_core.errors import ConfigError


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"phantom seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """An independent random stream for one purpose (``keys``) of one case, so e.g. the anatomy drawn for a seed does
    not depend on which style or phase is rendered."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def case_seed(seed: int, number: int) -> int:
    """The seed of case ``number`` (e.g. a patient id) of a data set generated from ``seed``."""
    return int(np.random.SeedSequence([check_seed(seed), number]).generate_state(1)[0])
