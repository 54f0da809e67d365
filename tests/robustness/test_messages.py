"""One-line errors: control characters in a file name or a manifest are escaped, so they cannot forge a second
``error:`` line or drive the terminal; what third-party libraries print is folded into the error line or silenced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from sra_seg_core.cli import error_line, main
from sra_seg_core.errors import InputError, one_line
from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.project import Project

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("raw,shown", [
    ("a\nerror: forged", "a\\nerror: forged"),
    ("carriage\rreturn", "carriage\\rreturn"),
    ("tab\there", "tab\\there"),
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
    ("bell\x07 and nul\x00", "bell\\x07 and nul\\x00"),
    ("next line\x85c1", "next line\\x85c1"),
    ("line\u2028separator", "line\\u2028separator"),
    ("right-to-left \u202eoverride", "right-to-left \\u202eoverride"),
    ("Patiënt Ω/データ/脳.nii.gz", "Patiënt Ω/データ/脳.nii.gz"),  # letters of any script stay as they are
])
def test_one_line_escapes_control_characters_and_keeps_letters(raw, shown):
    assert one_line(raw) == shown


def test_an_error_line_escapes_the_file_name():
    line = error_line(InputError("cannot be read", "scan\nerror: everything is fine.nii.gz"))
    assert "\n" not in line and line.startswith("scan\\nerror: everything is fine.nii.gz: ")
    assert "\n" not in error_line(FileNotFoundError(2, "No such file", "a\nb"))


def test_a_newline_in_a_file_name_cannot_forge_a_second_error_line(capsys, tmp_path):
    path = tmp_path / "scan\nerror: forged.nii.gz"
    path.write_bytes(b"not an image")
    assert main(["convert", str(path), str(tmp_path / "out.nrrd")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "scan\\nerror: forged" in err


def test_terminal_escapes_in_a_manifest_never_reach_the_terminal_through_project_info(capsys, tmp_path):
    with Project.create(tmp_path / "p") as project:
        write_image(Image(np.zeros((2, 6, 5), np.float32)), tmp_path / "scan.nii.gz")
        project.import_image(tmp_path / "scan.nii.gz", case_id="case")
    manifest = tmp_path / "p" / "project.json"
    data = json.loads(manifest.read_text())
    data["name"] = "\x1b]0;owned\x07\x1b[2Jproject"
    data["cases"][0]["group"] = "g\nerror: forged"
    manifest.write_text(json.dumps(data))
    assert main(["project", "info", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;owned" in out
    assert "g\\nerror: forged" in out and not any(line.startswith("error:") for line in out.splitlines())


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sra_seg_core", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)


def png_with_a_bad_chunk(path: Path) -> Path:
    good = write_image(Image((np.arange(64 * 64).reshape(1, 64, 64) % 251).astype(np.uint8)), path).read_bytes()
    damaged = bytearray(good)
    damaged[40:48] = b"\xff" * 8   # a chunk header libpng rejects, saying so on stderr itself
    path.write_bytes(bytes(damaged))
    return path


def test_libpngs_own_message_is_folded_into_the_single_error_line(tmp_path):
    png = png_with_a_bad_chunk(tmp_path / "bad.png")
    result = cli("convert", png, tmp_path / "out.nii.gz", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert "bad.png" in result.stderr and "libpng" in result.stderr


def test_nibabels_header_repair_messages_are_silenced(tmp_path):
    import nibabel as nib

    image = nib.Nifti1Image(np.zeros((4, 4, 3), np.float32), np.eye(4))
    image.header["sform_code"] = 7  # nibabel logs "sform_code 7 not valid; setting to 0" when it reads this
    nib.save(image, tmp_path / "odd.nii.gz")
    result = cli("convert", tmp_path / "odd.nii.gz", tmp_path / "out.nrrd", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.startswith("wrote ")


def test_inside_pytest_nothing_is_redirected_and_engine_warnings_stay_one_line(capsys):
    from sra_seg_core.third_party_output import _show_warning, folded_third_party_output

    with folded_third_party_output() as native:
        assert native.last_line() == ""
        _show_warning(UserWarning("only 3 slices\nfor a batch of 8"), UserWarning,
                      str(ROOT / "sra_seg_core" / "trainer.py"), 1)
        _show_warning(UserWarning("TypedStorage is deprecated"), UserWarning, "/torch/storage.py", 1)
        warnings.warn("from a library", DeprecationWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err == "warning: only 3 slices\\nfor a batch of 8\n"
