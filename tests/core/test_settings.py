"""User settings and recent projects live in per-user folders that environment variables can move."""

import pytest

from sra_seg_core import settings


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("SRA_SEG_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SRA_SEG_DATA_DIR", str(tmp_path / "data"))


def folders(tmp_path, n):
    paths = [tmp_path / f"project{i}" for i in range(n)]
    for p in paths:
        p.mkdir()
    return paths


def test_environment_overrides_the_user_folders(tmp_path):
    assert settings.user_config_dir() == tmp_path / "config"
    assert settings.user_data_dir() == tmp_path / "data"


def test_platform_folders_are_used_without_override(monkeypatch):
    monkeypatch.delenv("SRA_SEG_CONFIG_DIR")
    assert "sra-seg-studio" in str(settings.user_config_dir())


def test_settings_round_trip(tmp_path):
    settings.save_settings({"theme": "dark", "opacity": 0.4})
    assert settings.load_settings() == {"theme": "dark", "opacity": 0.4}
    assert (tmp_path / "config" / "settings.json").is_file()


def test_missing_or_damaged_settings_read_as_empty(tmp_path):
    assert settings.load_settings() == {}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text("{broken")
    assert settings.load_settings() == {}


def test_recent_projects_are_most_recent_first_without_duplicates(tmp_path):
    a, b = folders(tmp_path, 2)
    settings.add_recent_project(a)
    settings.add_recent_project(b)
    settings.add_recent_project(a)
    assert settings.recent_projects() == [a, b]


def test_recent_projects_keep_ten(tmp_path):
    paths = folders(tmp_path, 12)
    for p in paths:
        settings.add_recent_project(p)
    assert settings.recent_projects() == paths[::-1][:10]


def test_recent_projects_drop_missing_folders(tmp_path):
    a, b = folders(tmp_path, 2)
    settings.add_recent_project(a)
    settings.add_recent_project(b)
    b.rmdir()
    assert settings.recent_projects() == [a]
