"""Files from elsewhere run no code: checkpoints and weights are read with ``torch.load(weights_only=True)`` (or
safetensors), configs with ``yaml.safe_load``, manifests as JSON; a malicious file is refused with a clear error.

Each malicious file really is one: loading it the unsafe way creates a marker file, which every test checks first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from bad_corpus import good_image

from sra_seg_core.cli import main
from sra_seg_core.config import load_config_file, preset, save_config_file
from sra_seg_core.errors import ConfigError, InputError
from sra_seg_core.project import Project


class Payload:
    """Unpickling this calls ``open(marker, "w")``: any code at all would run the same way."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def malicious_checkpoint(path: Path, marker: Path, fmt: str) -> Path:
    """A checkpoint-shaped file whose unpickling runs code, in torch's zip format or its legacy pickle format."""
    state = {"format": "sra-seg-checkpoint", "model": Payload(marker), "model_config": {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path, _use_new_zipfile_serialization=fmt == "zip")
    torch.load(path, weights_only=False)  # the unsafe way: it does run
    assert marker.exists(), "the payload must be live, or the tests below prove nothing"
    marker.unlink()
    return path


@pytest.fixture(params=["zip", "legacy"])
def evil(request, tmp_path):
    """(malicious checkpoint at runs/evil/checkpoints/latest.pt, marker path)."""
    marker = tmp_path / "pwned"
    return malicious_checkpoint(tmp_path / "runs" / "evil" / "checkpoints" / "latest.pt", marker, request.param), marker


def one_error_line(capsys, *args) -> str:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_inference_refuses_a_malicious_checkpoint(evil):
    from sra_seg_core.inference import load_checkpoint

    path, marker = evil
    with pytest.raises(InputError, match=r"latest.pt: not a readable SRA-Seg checkpoint \(it calls io.open, which "
                                         r"weights never do, so it was not loaded\)$"):
        load_checkpoint(path, "cpu")
    assert not marker.exists()


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_the_cli_refuses_a_malicious_checkpoint_in_one_line(capsys, tmp_path, evil, command):
    path, marker = evil
    image = good_image(tmp_path / "scan.nii.gz")
    args = (["predict", "--checkpoint", path, "--input", image, "--output", tmp_path / "out.nii.gz"]
            if command == "predict" else ["evaluate", "--checkpoint", path, "--data", tmp_path])
    assert "latest.pt: not a readable SRA-Seg checkpoint" in one_error_line(capsys, *args)
    assert not marker.exists() and not (tmp_path / "out.nii.gz").exists()


def test_resuming_from_a_malicious_checkpoint_runs_no_code(tmp_path, evil):
    from sra_seg_core.trainer import Trainer

    path, marker = evil
    config = preset("tiny")
    config.set("train.method", "supervised")
    run_dir = path.parent.parent
    save_config_file(config, run_dir / "config.yaml")
    with pytest.raises(Exception, match="latest.pt|Unsupported global|weights_only"):
        Trainer(config, run_dir).run(resume=True)
    assert not marker.exists()


def test_the_cli_refuses_to_resume_from_a_malicious_checkpoint_in_one_line(capsys, evil):
    path, marker = evil
    config = preset("tiny")
    config.set("train.method", "supervised")
    save_config_file(config, path.parent.parent / "config.yaml")
    try:
        one_error_line(capsys, "train", "--resume", path.parent.parent, "--quiet")
    finally:
        assert not marker.exists()


def test_malicious_dinov2_weights_are_refused(tmp_path):
    from sra_seg_core.alignment import ENCODERS, load_encoder

    marker = tmp_path / "pwned"
    weights = malicious_checkpoint(tmp_path / "dinov2_vits14.pth", marker, "zip")
    with pytest.raises(InputError, match=r"dinov2_vits14.pth: not a readable .* \(it calls io.open, which weights"):
        load_encoder(ENCODERS["small"], weights_file=weights, download=False, depth=1)
    assert not marker.exists()


def test_suggesting_from_a_run_with_a_malicious_checkpoint_is_one_error_line(capsys, tmp_path, project_path, evil):
    path, marker = evil
    with Project.open(project_path) as project:
        project.import_image(good_image(tmp_path / "in" / "scan.nii.gz"))
    err = one_error_line(capsys, "project", "suggest", project_path, "--strategy", "disagreement", "--unit", "slices",
                         "--run", path.parent.parent, "--device", "cpu")
    assert "latest.pt: not a readable SRA-Seg checkpoint" in err and not marker.exists()


def test_a_config_file_that_would_run_code_is_refused(capsys, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"train: !!python/object/apply:builtins.open [{str(marker)!r}, w]\n")
    yaml.unsafe_load(evil.read_text())  # the unsafe way: it does run
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ConfigError, match="evil.yaml: not a valid yaml config"):
        load_config_file(evil)
    assert "evil.yaml: not a valid yaml config" in one_error_line(capsys, "train", "--config", evil, "--data",
                                                                     tmp_path)
    assert not marker.exists()
