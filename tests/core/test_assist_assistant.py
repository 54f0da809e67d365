"""The labelling assistant: when to fine-tune, and a fine-tune that starts from the last model as a normal run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sra_seg_core.assist.assistant import (describe_model, fine_tune_args, fine_tune_config,
                                           fine_tune_due, latest_model, lower_priority)
from sra_seg_core.config import preset
from sra_seg_core.io import write_image
from sra_seg_core.phantoms import cardiac_case
from sra_seg_core.project import Project
from sra_seg_core.project.classes import DEFAULT_CLASSES
from sra_seg_core.errors import ConfigError
from sra_seg_core.model import build_model
from sra_seg_core.trainer import Trainer


@pytest.fixture(scope="module")
def project_with_run(tmp_path_factory):
    """A project of two small phantom patients (one labelled, one reference) and a checkpoint of a tiny network
    as the trainer writes it (weights, network, input size and the run's config)."""
    root = tmp_path_factory.mktemp("assistant")
    project = Project.create(root / "demo", classes=list(DEFAULT_CLASSES))
    for number, role in ((1, "approved"), (2, "reference")):
        image, label = cardiac_case(number, shape=(3, 64, 64))
        image_file = write_image(image, root / f"p{number}.nii")
        label_file = write_image(label, root / f"p{number}_gt.nii")
        project.import_image(image_file, label=label_file, label_as=role, case_id=f"p{number}")
    c = preset("tiny")
    torch.manual_seed(0)
    model = build_model(c.model, 4)
    checkpoint = project.runs_dir / "first" / "checkpoints" / "best.pt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"format": "sra-seg-checkpoint", "model": model.state_dict(), "num_classes": 4,
                "model_config": {"in_channels": 1, "channels": list(c.model.channels),
                                 "dropout": list(c.model.dropout)},
                "image_size": c.data.image_size, "config": c.to_dict()}, checkpoint)
    yield project, checkpoint
    project.close()


def test_a_fine_tune_is_due_after_every_n_newly_done_slices():
    assert not fine_tune_due(4, 0, every=5)
    assert fine_tune_due(5, 0, every=5)
    assert not fine_tune_due(9, 5, every=5) and fine_tune_due(10, 5, every=5)


def test_unmarking_a_slice_counts_against_the_new_ones():
    assert not fine_tune_due(9, 5, every=5)   # 6 marked, 2 unmarked since: net 4


def test_the_newest_checkpoint_of_any_run_is_the_one_to_start_from(tmp_path):
    for name, file in (("a", "best.pt"), ("b", "latest.pt")):
        (tmp_path / name / "checkpoints").mkdir(parents=True)
        (tmp_path / name / "checkpoints" / file).write_bytes(b"x")
        time.sleep(0.01)
    assert latest_model(tmp_path) == tmp_path / "b" / "checkpoints" / "latest.pt"
    assert latest_model(tmp_path / "nothing") is None


def test_fine_tune_config_takes_the_checkpoints_network_and_trains_supervised(project_with_run):
    project, checkpoint = project_with_run
    config = fine_tune_config(checkpoint, project.path, iterations=40)
    assert config.model.channels == (4, 8, 16, 32, 64) and config.data.image_size == 64
    assert config.train.method == "supervised" and config.train.pretrain_iters == 40
    assert config.train.init_checkpoint == str(checkpoint.resolve()) and not config.uses_alignment


def test_a_fine_tune_starts_from_the_checkpoints_weights(project_with_run, tmp_path):
    project, checkpoint = project_with_run
    config = fine_tune_config(checkpoint, project.path, iterations=1)
    # nothing learnt (lr must be > 0; a step of 1e-30 is far below a float32 weight's last bit): the weights
    # it ends with are those it started from
    config.optim.lr = 1e-30
    Trainer(config, tmp_path / "ft", emit=lambda e: None).run()
    start = torch.load(checkpoint, weights_only=True)["model"]
    end = torch.load(tmp_path / "ft" / "checkpoints" / "latest.pt", weights_only=True)["model"]
    convs = [k for k in start if k.endswith("weight") and start[k].ndim == 4]
    assert convs and all(torch.equal(start[k], end[k]) for k in convs)
    about = describe_model(tmp_path / "ft" / "checkpoints" / "best.pt")
    assert about["started_from"] == str(checkpoint.resolve()) and about["labelled_slices"] > 0


def test_weights_that_do_not_fit_the_network_are_a_config_error(project_with_run, tmp_path):
    project, checkpoint = project_with_run
    config = fine_tune_config(checkpoint, project.path, iterations=1)
    config.model.channels = (8, 16, 32, 64, 128)
    with pytest.raises(ConfigError, match="do not fit"):
        Trainer(config, tmp_path / "bad", emit=lambda e: None).run()


def test_the_fine_tune_runs_the_ordinary_train_command():
    args = fine_tune_args("/p/runs/assistant-1/fine_tune.yaml", "/p/runs/assistant-1", "/p")
    assert args[:1] == ["train"] and args[args.index("--config") + 1].endswith("fine_tune.yaml")
    assert args[args.index("--data") + 1] == "/p" and args[args.index("--out") + 1] == "/p/runs/assistant-1"


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="POSIX niceness")
def test_the_background_process_gets_a_lower_priority():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10)"])
    try:
        before = os.getpriority(os.PRIO_PROCESS, child.pid)
        lower_priority(child.pid, 10)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == max(before, min(19, 10))
    finally:
        child.kill()
        child.wait()
