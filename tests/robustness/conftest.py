"""Fixtures of the robustness tests: user folders in tmp, an empty project, tiny phantom data for training."""

from __future__ import annotations

import pytest

from sra_seg_core.phantoms import write_acdc
from sra_seg_core.project import Project


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch):
    """Recent projects and settings go to a temporary folder, never the real user folders."""
    monkeypatch.setenv("SRA_SEG_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SRA_SEG_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def project_path(tmp_path):
    """An empty project with the default classes RV, Myo, LV (label values 0..3), closed."""
    Project.create(tmp_path / "project").close()
    return tmp_path / "project"


@pytest.fixture(scope="session")
def phantoms(tmp_path_factory):
    """A tiny ACDC-layout tree of 6 patients (5 x 64 x 64 slices) to train on."""
    root = tmp_path_factory.mktemp("phantoms")
    write_acdc(root / "real", cases=6, seed=1, shape=(5, 64, 64))
    return root / "real"
