"""One validation of the config tree: whichever way a value comes in (--set, an option, a config file, a resumed run's
config.yaml, the app's form or plain attribute assignment), a bad one is refused with one line naming the field, the
value and what is allowed; a run whose loss turns NaN stops with an error, not "finished"."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sra_seg_core.cli import main
from sra_seg_core.config import GREY_RULES, LAYOUTS, RunConfig, preset, save_config_file
from sra_seg_core.errors import ConfigError, TrainingError
from sra_seg_core.trainer import Trainer

# the examples, each (dotted key, value as typed, words the message must hold)
REFUSED = [
    ("train.log_every", "0", ">= 1"),
    ("model.channels", "0,32,64,128,256", ">= 1"),
    ("model.channels", "-16,32,64,128,256", ">= 1"),
    ("model.dropout", "2,0.1,0.2,0.3,0.5", "< 1"),
    ("optim.lr", "-1", "> 0"),
    ("optim.lr", "nan", "finite"),
    ("optim.lr", "inf", "finite"),
    ("blend.sigma", "-inf", "finite"),
    ("alignment.batch_size", "0", ">= 1"),
    ("train.device", "bogus", "cuda:K"),
    ("train.batch_size", "1", ">= 2"),
    ("data.image_size", "100", "multiple of 16"),
    ("blend.kernel_size", "4", "odd"),
    ("train.ema_decay", "1", "< 1"),
    ("train.method", "magic", "sra-seg"),
    ("train.compile", "maybe", "true or false"),
    ("train.seed", "1.5", "whole number"),
    ("data.num_classes", "1000", "<= 256"),
]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize("key,value,rule", REFUSED)
def test_a_bad_value_is_refused_naming_the_field_the_value_and_the_rule(key, value, rule):
    with pytest.raises(ConfigError) as caught:
        RunConfig().set(key, value)
    message = str(caught.value)
    assert key in message and rule in message and "\n" not in message
    assert value.split(",")[0].lstrip("-") in message


@pytest.mark.parametrize("key,value,rule", REFUSED[:6])
def test_a_bad_set_exits_2_with_one_line_before_anything_is_read(capsys, tmp_path, key, value, rule):
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), "--set",
                 f"{key}={value}"]) == 2
    line = one_error_line(capsys)
    assert key in line and rule in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args,words", [
    (["--device", "bogus"], ["--device", "'bogus'", "auto, cpu, cuda or cuda:K"]),
    (["--batch-size", "0"], ["--batch-size", "train.batch_size", ">= 2"]),
    (["--validate-every", "0"], ["--validate-every", ">= 1"]),
    (["--labeled-fraction", "nan"], ["--labeled-fraction", "finite"]),
    (["--image-size", "8"], ["--image-size", ">= 32"]),
])
def test_a_bad_option_is_refused_naming_the_option(capsys, tmp_path, args, words):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), *args]) == 2
    line = one_error_line(capsys)
    assert all(word in line for word in words), line


@pytest.mark.parametrize("command", [
    ["predict", "--checkpoint", "missing.pt", "--input", "in.nii.gz", "--output", "out.nii.gz"],
    ["evaluate", "--checkpoint", "missing.pt", "--data", "."],
])
def test_a_bogus_device_is_refused_with_the_allowed_forms_by_every_command(capsys, tmp_path, command):
    (tmp_path / "in.nii.gz").write_bytes(b"")
    command = [str(tmp_path / c) if c.endswith((".pt", ".nii.gz")) else c for c in command]
    assert main([*command, "--device", "bogus"]) == 2
    assert "auto, cpu, cuda or cuda:K" in one_error_line(capsys)


def test_predict_refuses_a_batch_size_of_zero(capsys, tmp_path):
    (tmp_path / "in.nii.gz").write_bytes(b"")
    assert main(["predict", "--checkpoint", str(tmp_path / "m.pt"), "--input", str(tmp_path / "in.nii.gz"),
                 "--output", str(tmp_path / "out.nii.gz"), "--batch-size", "0"]) == 2
    assert "--batch-size must be >= 1, not 0" in one_error_line(capsys)


def test_project_predict_refuses_a_batch_size_of_zero(capsys, project_path, tmp_path):
    assert main(["project", "predict", str(project_path), "--checkpoint", str(tmp_path / "m.pt"), "--output",
                 str(tmp_path / "out"), "--batch-size", "0"]) == 2
    assert "--batch-size must be >= 1, not 0" in one_error_line(capsys)


def test_a_usage_error_is_one_line_too(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["train", "--batch-size", "abc"])
    assert caught.value.code == 2
    line = one_error_line(capsys)
    assert "--batch-size" in line and "'abc'" in line and "--help" in line


@pytest.mark.parametrize("suffix,text,key", [
    (".yaml", "train:\n  log_every: 0\n", "train.log_every"),
    (".yaml", "optim:\n  lr: .nan\n", "optim.lr"),
    (".toml", "[optim]\nlr = inf\n", "optim.lr"),
    (".json", '{"model": {"dropout": [2, 0, 0, 0, 0]}}', "model.dropout"),
    (".yaml", "train:\n  log_every: true\n", "train.log_every"),   # YAML's true is no count
    (".yaml", "train:\n  seed: [1, 2]\n", "train.seed"),
    (".yaml", "augment:\n  enabled: 5\n", "augment.enabled"),
])
def test_a_config_file_with_a_bad_value_is_refused_naming_the_file_and_the_field(capsys, tmp_path, suffix, text,
                                                                                 key):
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    assert main(["train", "--config", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and key in line


def test_resume_refuses_an_edited_config_yaml_with_nan(capsys, tmp_path):
    run = tmp_path / "run"
    save_config_file(preset("tiny"), run / "config.yaml")
    text = (run / "config.yaml").read_text().replace("lr: 0.01", "lr: .nan")
    (run / "config.yaml").write_text(text)
    assert main(["train", "--resume", str(run)]) == 2
    line = one_error_line(capsys)
    assert "config.yaml" in line and "optim.lr" in line and "finite" in line
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]  # nothing else written


def test_values_set_by_attribute_as_the_app_form_may_are_checked_by_validate():
    config = RunConfig()
    config.optim.lr = float("nan")
    with pytest.raises(ConfigError, match="optim.lr must be a finite number"):
        config.validate()
    config = RunConfig()
    config.train.log_every = "10"   # a form that forgot to convert its text
    with pytest.raises(ConfigError, match="train.log_every must be a whole number"):
        config.validate()


def test_the_presets_and_the_defaults_are_valid():
    RunConfig().validate()
    for name in ("acdc", "fives", "demo", "tiny"):
        preset(name).validate()


def test_choices_listed_in_config_agree_with_the_readers():
    from sra_seg_core.datasets.discover import LAYOUTS as READER_LAYOUTS
    from sra_seg_core.io.grey import GREY_RULES as READER_GREY_RULES

    assert GREY_RULES == READER_GREY_RULES and LAYOUTS == READER_LAYOUTS


# --- a loss that turns NaN ------------------------------------------------------------------------------------------
def test_a_loss_that_turns_nan_stops_the_run_as_failed_with_an_error_event(phantoms, tmp_path):
    config = preset("tiny")
    config.data.root, config.train.method = str(phantoms), "supervised"
    config.train.num_threads, config.train.log_every = 1, 2
    events = []
    trainer = Trainer(config, tmp_path / "run", emit=events.append)
    real_step = trainer._pretrain_step
    calls = []

    def step(*args):
        losses = real_step(*args)
        calls.append(1)
        if len(calls) >= 2:  # iteration 2 on: the loss is NaN, as with a far too high learning rate
            losses["total"] = losses["total"] * math.nan
        return losses

    trainer._pretrain_step = step
    with pytest.raises(TrainingError, match="NaN or infinite") as caught:
        trainer.run()
    assert "optim.lr" in str(caught.value)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "failed" and "diverged" in meta["error"]
    kinds = [e.event for e in events]
    assert kinds[-1] == "error" and "done" not in kinds
    assert not (tmp_path / "run" / "checkpoints" / "latest.pt").exists()  # checkpoint_every 2: never saved NaN
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists() or torch.isfinite(
        next(iter(torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)["model"].values()))
    ).all()
