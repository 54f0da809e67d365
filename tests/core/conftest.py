"""Shared fixtures of the engine tests."""

import pytest

from sra_seg_core.phantoms import write_acdc


@pytest.fixture(scope="session")
def phantoms(tmp_path_factory):
    """A tiny ACDC-layout tree of 6 real-style patients and a 2-patient synthetic pool (5 x 64 x 64 slices)."""
    root = tmp_path_factory.mktemp("phantoms")
    write_acdc(root / "real", cases=6, seed=1, shape=(5, 64, 64))
    write_acdc(root / "synthetic", cases=2, seed=2, style="synthetic", first_id=101, labels=False,
               shape=(5, 64, 64))
    return root
