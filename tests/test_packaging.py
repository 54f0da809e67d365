"""The desktop entry installs from the packaging folder and points at the app."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_desktop_entry_installs_with_the_checkout_executable(tmp_path):
    script = ROOT / "packaging" / "install-desktop-entry"
    out = subprocess.run([str(script), "--prefix", str(tmp_path)], capture_output=True, text=True)
    if not (ROOT / ".venv" / "bin" / "sra-seg-studio").exists():   # the script refuses without an install
        assert out.returncode == 2 and "run-demo" in out.stderr
        return
    assert out.returncode == 0, out.stderr
    entry = (tmp_path / "applications" / "sra-seg-studio.desktop").read_text()
    assert f"Exec={ROOT / '.venv' / 'bin' / 'sra-seg-studio'} %f" in entry and "@" not in entry
    assert (tmp_path / "icons" / "hicolor" / "scalable" / "apps" / "sra-seg-studio.svg").exists()


def test_a_wheel_carries_the_style_sheet_and_every_file_it_names(tmp_path):
    """A non-editable install must look like the checkout: the style sheet and the icons it refers to are package
    data of sra_seg_app (built from a copy, so the checkout gets no build/ or egg-info)."""
    import re
    import shutil
    import sys
    import zipfile

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("sra_seg_core", "sra_seg_app"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sheet = (ROOT / "sra_seg_app" / "resources" / "style.qss").read_text(encoding="utf-8")
    needed = {"style.qss", *re.findall(r"\{RESOURCES\}/([\w.-]+)", sheet)}
    assert len(needed) > 1
    assert {f"sra_seg_app/resources/{name}" for name in needed} <= names
    assert "sra_seg_core/data/acdc_split.json" in names
