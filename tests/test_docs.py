"""The user guide: its links lead somewhere, its screenshots are the ones docs/make-screenshots makes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _script_outputs() -> set[str]:
    source = (DOCS / "make-screenshots").read_text(encoding="utf-8")
    workspaces = re.search(r"WORKSPACES = \(([^)]*)\)", source).group(1)
    return {"welcome.png"} | {f"{name.lower()}.png" for name in re.findall(r'"(\w+)"', workspaces)}


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")) + ["../README.md"])
def test_every_relative_link_of_the_guide_exists(page):
    path = DOCS / page
    targets = [t for t in LINK.findall(path.read_text(encoding="utf-8")) if "://" not in t]
    missing = [t for t in targets if not (path.parent / t).exists()]
    assert not missing, f"{page} links to missing {missing}"


def test_the_guide_shows_exactly_the_screenshots_the_script_makes():
    shown = {Path(t).name for page in DOCS.glob("*.md") for t in LINK.findall(page.read_text(encoding="utf-8"))
             if t.startswith("images/")}
    assert shown == _script_outputs()
    assert {p.name for p in (DOCS / "images").glob("*.png")} == _script_outputs()


def test_the_screenshot_script_is_valid_python():
    compile((DOCS / "make-screenshots").read_text(encoding="utf-8"), "make-screenshots", "exec")


@pytest.mark.slow
def test_the_screenshot_script_runs_against_the_app(tmp_path):
    """The whole script without the training run, writing into a copy of docs/ so the committed images stay."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "make-screenshots").write_text((DOCS / "make-screenshots").read_text(encoding="utf-8"))
    for package in ("sra_seg_core", "sra_seg_app"):
        os.symlink(ROOT / package, tmp_path / package)
    out = subprocess.run([sys.executable, str(docs / "make-screenshots"), "--train", "0"], capture_output=True,
                         text=True, timeout=900, env={k: v for k, v in os.environ.items() if k != "DISPLAY"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert {p.name for p in (docs / "images").glob("*.png")} == _script_outputs()
