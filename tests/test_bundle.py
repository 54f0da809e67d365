"""The frozen bundle (PyInstaller recipe in packaging/): cheap checks of the recipe and the desktop metadata in every
run; the slow test builds the bundle and starts the app, the CLI and the app's engine path from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"


def test_the_pyinstaller_recipe_is_valid_python():
    compile((PACKAGING / "sra-seg-studio.spec").read_text(encoding="utf-8"), "sra-seg-studio.spec", "exec")


def test_the_filled_in_desktop_entry_validates(tmp_path):
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (Debian/Ubuntu: apt-get install desktop-file-utils)")
    entry = tmp_path / "sra-seg-studio.desktop"
    text = (PACKAGING / "sra-seg-studio.desktop.in").read_text(encoding="utf-8")
    entry.write_text(text.replace("@EXEC@", "/opt/sra-seg-studio/sra-seg-studio").replace("@ICON@", "sra-seg-studio"))
    out = subprocess.run([tool, str(entry)], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def test_the_appstream_metadata_parses_and_names_the_desktop_entry():
    component = ET.parse(PACKAGING / "io.github.sra_seg.Studio.metainfo.xml").getroot()
    assert component.tag == "component" and component.get("type") == "desktop-application"
    assert component.findtext("id") == "io.github.sra_seg.Studio" and component.findtext("name")
    assert component.findtext("launchable") == "sra-seg-studio.desktop"
    assert (PACKAGING / component.findtext("launchable")).with_suffix(".desktop.in").exists()


def test_the_bundle_entry_point_answers_the_apps_engine_command(capsys):
    """Frozen, ``sys.executable -m sra_seg_core ARGS`` (how the app starts its engine) must reach the engine's CLI."""
    sys.path.insert(0, str(PACKAGING))
    try:
        from sra_seg_bundle import main
    finally:
        sys.path.remove(str(PACKAGING))
    with pytest.raises(SystemExit) as exit_:
        main(["-m", "sra_seg_core", "--help"])
    assert exit_.value.code == 0 and "usage: sra-seg" in capsys.readouterr().out
    assert main(["--version"]) == 0 and capsys.readouterr().out.startswith("SRA-Seg Studio ")


def test_the_bundle_entry_point_answers_torchrun_and_its_workers(capsys):
    """A multi-GPU run from the app is ``sys.executable -m torch.distributed.run …``, whose workers are
    ``sys.executable -u -m sra_seg_core …``: frozen, both must land where the interpreter would send them."""
    sys.path.insert(0, str(PACKAGING))
    try:
        from sra_seg_bundle import main
    finally:
        sys.path.remove(str(PACKAGING))
    try:
        main(["-m", "torch.distributed.run", "--help"])
    except SystemExit as exit_:   # whether torchrun's --help exits depends on the torch version
        assert exit_.code in (0, None)
    assert "--nproc_per_node" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["-u", "-m", "sra_seg_core", "--help"])
    assert exit_.value.code == 0 and "usage: sra-seg" in capsys.readouterr().out


@pytest.mark.slow
def test_the_bundle_builds_and_starts(tmp_path):
    """Several minutes and about 5 GB (torch with its CUDA libraries); needs pyinstaller in this environment."""
    pytest.importorskip("PyInstaller")
    build = subprocess.run([str(PACKAGING / "build-bundle"), "--dist", str(tmp_path / "dist"),
                            "--work", str(tmp_path / "work")], env={**os.environ, "PYTHON": sys.executable},
                           capture_output=True, text=True, timeout=3600)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-3000:]
    bundle = tmp_path / "dist" / "sra-seg-studio"
    app, cli = bundle / "sra-seg-studio", bundle / "sra-seg"

    def run(*args):
        return subprocess.run(args, capture_output=True, text=True, timeout=300)

    version = run(str(app), "--version")
    assert version.returncode == 0 and version.stdout.startswith("SRA-Seg Studio ")
    # The sub-commands are found by listing a package: frozen, that must still find every one of them.
    for command, expected in (([str(cli), "--help"], "predict"),
                              ([str(app), "-m", "sra_seg_core", "train", "--help"], "--synthetic")):
        out = run(*command)
        assert out.returncode == 0 and "usage: sra-seg" in out.stdout and expected in out.stdout, out.stderr[-2000:]
    devices = run(str(cli), "devices")   # imports torch inside the bundle
    assert devices.returncode == 0, devices.stderr[-2000:]
    # A tiny SRA-Seg run from the bundle: torch, timm (and torchvision's compiled operators, which only this finds
    # missing), the DINOv2 encoder and a checkpoint.
    data = tmp_path / "data"
    for args in (["real", "--cases", "6"], ["syn", "--cases", "2", "--style", "synthetic", "--first-id", "101",
                                            "--no-labels"]):
        out = run(str(cli), "phantoms", "cardiac", str(data / args[0]), *args[1:])
        assert out.returncode == 0, out.stderr[-2000:]
    out = run(str(cli), "train", "--data", str(data / "real"), "--synthetic", str(data / "syn"), "--preset", "tiny",
              "--allow-untrained-encoder", "--set", "alignment.download=false", "--quiet",
              "--out", str(tmp_path / "run"))
    assert out.returncode == 0 and (tmp_path / "run" / "checkpoints" / "best.pt").exists(), out.stderr[-3000:]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path / "home"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    gui = subprocess.Popen([str(app)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(8)
        assert gui.poll() is None, gui.communicate()[1][-3000:]   # still running: the window is up
    finally:
        gui.terminate()
        gui.wait(timeout=30)
