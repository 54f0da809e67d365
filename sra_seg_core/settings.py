"""Per-user settings and the recent-projects list, in the platform's usual folders.

``SRA_SEG_CONFIG_DIR`` and ``SRA_SEG_DATA_DIR`` override the folders (tests point them at a temporary folder; a
portable install can point them beside itself). Settings live in ``<config>/settings.json``, the recent list in
``<data>/recent.json``; both are written atomically and a damaged file reads as empty rather than blocking start-up:
not JSON, too large, nested too deeply, a FIFO in its place, or a value of the wrong type (see :func:`setting`).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from sra_seg_core.atomic import atomic_write_json
from sra_seg_core.errors import SraSegError
from sra_seg_core.regular_files import load_json

APP_NAME = "sra-seg-studio"
MAX_RECENT = 10


def user_config_dir() -> Path:
    """Where settings are kept: ``$SRA_SEG_CONFIG_DIR`` or the platform's user config folder."""
    return Path(os.environ.get("SRA_SEG_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_data_dir() -> Path:
    """Where per-user data (recent projects, caches) is kept: ``$SRA_SEG_DATA_DIR`` or the platform's data folder."""
    return Path(os.environ.get("SRA_SEG_DATA_DIR") or platformdirs.user_data_dir(APP_NAME, appauthor=False))


MAX_SETTINGS_BYTES = 1 << 20


def _read_json(path: Path, kind: type):
    try:  # a user may keep settings as a link into a dotfiles folder, so links are followed here
        value = load_json(path, follow_links=True, max_bytes=MAX_SETTINGS_BYTES, max_depth=8)
    except (OSError, SraSegError):
        return kind()
    return value if isinstance(value, kind) else kind()


def load_settings() -> dict:
    """The saved settings, or {} when there are none (or the file is damaged)."""
    return _read_json(user_config_dir() / "settings.json", dict)


def setting(settings: dict, key: str, default):
    """``settings[key]`` if it has the type of ``default`` (an int is not taken for a bool, nor a bool for a number),
    else ``default``: a hand-edited or damaged value falls back instead of raising TypeError later."""
    value = settings.get(key, default)
    if isinstance(default, bool) or isinstance(value, bool):
        return value if type(value) is type(default) else default
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    return value if isinstance(value, type(default)) else default


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
