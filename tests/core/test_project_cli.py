"""`sra-seg project create | import | info`: user errors are one line and exit code 2, skipped files are listed."""

import nibabel as nib
import numpy as np
import pytest

from sra_seg_core.cli import main
from sra_seg_core.project import Project


def nifti(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), np.diag([1.0, 1.0, 3.0, 1.0])).to_filename(path)
    return path


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    nifti(tmp_path / "data" / "case1.nii.gz", rng.random((2, 6, 5)).astype(np.float32))
    nifti(tmp_path / "data" / "case1_gt.nii.gz", rng.integers(0, 2, (2, 6, 5)).astype(np.uint8))
    nifti(tmp_path / "data" / "case2.nii.gz", rng.random((2, 6, 5)).astype(np.float32))
    return tmp_path / "data"


def test_create_with_classes(tmp_path, capsys):
    assert main(["project", "create", str(tmp_path / "p"), "--name", "Eyes", "--classes", "vessel, disc"]) == 0
    assert "created project 'Eyes'" in capsys.readouterr().out
    with Project.open(tmp_path / "p", read_only=True) as project:
        assert [c.name for c in project.classes] == ["vessel", "disc"]


def test_create_in_a_non_empty_folder_is_one_error_line(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("mine")
    assert main(["project", "create", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_import_folder_then_info(tmp_path, data, capsys):
    main(["project", "create", str(tmp_path / "p")])
    assert main(["project", "import", str(tmp_path / "p"), str(data), "--copy"]) == 0
    out = capsys.readouterr().out
    assert "imported case1 (real, 2x6x5, label)" in out and "2 imported, 0 skipped, 0 ignored" in out
    assert main(["project", "info", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "1 real labelled (2 slices done), 1 real unlabelled, 0 synthetic" in out
    assert "2/2 done" in out and "0/2 done" in out


def test_import_lists_skipped_files_with_reasons(tmp_path, data, capsys):
    main(["project", "create", str(tmp_path / "p")])
    (tmp_path / "bad.nii.gz").write_text("nope")
    code = main(["project", "import", str(tmp_path / "p"), str(data / "case2.nii.gz"), str(tmp_path / "bad.nii.gz"),
                 str(tmp_path / "missing.png"), "--role", "synthetic"])
    out = capsys.readouterr().out
    assert code == 1
    assert "imported case2 (synthetic" in out
    assert f"skipped {tmp_path / 'bad.nii.gz'}: " in out and f"skipped {tmp_path / 'missing.png'}: " in out


def test_info_works_while_another_process_writes(tmp_path, capsys):
    with Project.create(tmp_path / "p"):
        assert main(["project", "info", str(tmp_path / "p")]) == 0
    assert "0 real labelled" in capsys.readouterr().out


def test_import_into_a_missing_project_is_one_error_line(tmp_path, data, capsys):
    assert main(["project", "import", str(tmp_path / "nope"), str(data)]) == 2
    assert "no such project folder" in capsys.readouterr().err
