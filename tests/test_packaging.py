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
