"""Per-user settings and the recent-projects list, in the platform's usual folders.

``SRA_SEG_CONFIG_DIR`` and ``SRA_SEG_DATA_DIR`` override the folders (tests point them at a temporary folder; a
portable install can point them beside itself). Settings live in ``<config>/settings.json``, the recent list in
``<data>/recent.json``; both are written atomically and a damaged file reads as empty rather than blocking start-up.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

from sra_seg_core.atomic import atomic_write_json

APP_NAME = "sra-seg-studio"
MAX_RECENT = 10


def user_config_dir() -> Path:
    """Where settings are kept: ``$SRA_SEG_CONFIG_DIR`` or the platform's user config folder."""
    return Path(os.environ.get("SRA_SEG_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_data_dir() -> Path:
    """Where per-user data (recent projects, caches) is kept: ``$SRA_SEG_DATA_DIR`` or the platform's data folder."""
    return Path(os.environ.get("SRA_SEG_DATA_DIR") or platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _read_json(path: Path, kind: type):
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return kind()
    return value if isinstance(value, kind) else kind()


def load_settings() -> dict:
    """The saved settings, or {} when there are none (or the file is damaged)."""
    return _read_json(user_config_dir() / "settings.json", dict)


def save_settings(settings: dict) -> None:
    """Replace the saved settings (JSON values only)."""
    atomic_write_json(user_config_dir() / "settings.json", settings)


def recent_projects() -> list[Path]:
    """Recently opened project folders, most recent first; folders that no longer exist are left out."""
    entries = _read_json(user_data_dir() / "recent.json", list)
    return [Path(p) for p in entries if isinstance(p, str) and Path(p).is_dir()][:MAX_RECENT]


def add_recent_project(path) -> list[Path]:
    """Put ``path`` first in the recent list (at most :data:`MAX_RECENT`, no duplicates) and return the list."""
    path = Path(path).expanduser().absolute()
    recent = [path, *(p for p in recent_projects() if p != path)][:MAX_RECENT]
    atomic_write_json(user_data_dir() / "recent.json", [str(p) for p in recent])
    return recent
