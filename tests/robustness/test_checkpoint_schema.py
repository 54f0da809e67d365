"""Checkpoints whose contents are wrong: a file ``torch.load(weights_only=True)`` accepts, but with a field missing,
of the wrong type, describing an impossible network or holding NaN weights, is refused with one line naming the file
and the field, by every reader (predict, evaluate, resume, suggest, the app's review through ``load_checkpoint``), and
before the network is allocated."""

from __future__ import annotations

import copy
import resource

import pytest
import torch

from sra_seg_core.cli import main
from sra_seg_core.config import preset, save_config_file
from sra_seg_core.errors import InputError
from sra_seg_core.inference import load_checkpoint
from sra_seg_core.model import UNet

CHANNELS = [4, 8, 16, 32, 64]


def good_state() -> dict:
    """What the trainer writes to ``latest.pt`` for a tiny 4-class network (weights, description, resume state)."""
    torch.manual_seed(0)
    model = UNet(1, 4, tuple(CHANNELS), (0.05, 0.1, 0.2, 0.3, 0.5))
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return {
        "format": "sra-seg-checkpoint", "version": 1, "model": weights,
        "model_config": {"in_channels": 1, "channels": list(CHANNELS), "dropout": [0.05, 0.1, 0.2, 0.3, 0.5]},
        "num_classes": 4, "class_names": ["background", "RV", "Myo", "LV"], "image_size": 64, "grey": "luminance",
        "meta": {"method": "sra-seg", "stage": "selftrain", "iteration": 4}, "config": preset("tiny").to_dict(),
        "stage": "selftrain", "iteration": 4, "best": {"pretrain": 0.5, "selftrain": 0.6},
        "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(), "teacher": copy.deepcopy(weights),
    }


def first_weight(state, key="model"):
    return next(k for k, v in state[key].items() if v.is_floating_point())


def _set(path):
    def apply(state):
        *parents, last = path.split(".")
        target = state
        for part in parents:
            target = target[part]
        target[last] = BROKEN_VALUES[path]
    return apply


BROKEN_VALUES = {
    "model_config.channels": [10**6] * 5,               # terabytes, if the network were built from it
    "num_classes": 10**9,
    "image_size": 0,
    "model_config.dropout": "high",
    "model_config.in_channels": 3,
    "class_names": [1, 2, 3, 4],
    "meta": ["not", "a", "dict"],
    "grey": "purple",
}

# (name, change of the good state, words of the message)
BROKEN = [
    ("no model", lambda s: s.pop("model"), "'model'"),
    ("no model_config", lambda s: s.pop("model_config"), "'model_config'"),
    ("no num_classes", lambda s: s.pop("num_classes"), "'num_classes'"),
    ("num_classes as text", lambda s: s.update(num_classes="4"), "'num_classes' field is a str"),
    ("num_classes a bool", lambda s: s.update(num_classes=True), "'num_classes' field is a bool"),
    ("channels of a huge network", _set("model_config.channels"), "model_config.channels"),
    ("channels as text", lambda s: s["model_config"].update(channels="16,32"), "model_config.channels"),
    ("three channels", lambda s: s["model_config"].update(channels=[4, 8, 16]), "5 entries"),
    ("a billion classes", _set("num_classes"), "num_classes must be <= 256"),
    ("image size 0", _set("image_size"), "image_size must be >= 32"),
    ("dropout as text", _set("model_config.dropout"), "model_config.dropout"),
    ("colour input", _set("model_config.in_channels"), "model_config.in_channels"),
    ("class names not texts", _set("class_names"), "class_names"),
    ("meta a list", _set("meta"), "'meta' field is a list"),
    ("unknown grey rule", _set("grey"), "grey must be one of"),
    ("NaN weights", lambda s: s["model"][first_weight(s)].fill_(float("nan")), "NaN or infinite"),
    ("inf weights", lambda s: s["model"][first_weight(s)].view(-1)[0].fill_(float("inf")), "NaN or infinite"),
    ("NaN teacher", lambda s: s["teacher"][first_weight(s, "teacher")].fill_(float("nan")), "'teacher."),
    ("a weight of the wrong shape", lambda s: s["model"].update({first_weight(s): torch.zeros(3, 3)}), "has shape"),
    ("a weight missing", lambda s: s["model"].pop(first_weight(s)), "lacks"),
    ("a weight too many", lambda s: s["model"].update(extra=torch.zeros(1)), "'extra'"),
    ("a weight that is no tensor", lambda s: s["model"].update({first_weight(s): [0.0]}), "holds a list"),
    ("weights for 2 classes", lambda s: s.update(num_classes=2), "out_conv"),
]


def write(tmp_path, change, name="broken.pt"):
    state = good_state()
    change(state)
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_the_good_checkpoint_loads(tmp_path):
    loaded = load_checkpoint(write(tmp_path, lambda s: None), "cpu")
    assert loaded.num_classes == 4 and loaded.image_size == 64


def test_the_good_state_is_resumable(tmp_path):
    from sra_seg_core.checkpoints import check_resumable

    state = good_state()
    assert check_resumable(state, tmp_path / "latest.pt") is state


@pytest.mark.parametrize("name,change,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_checkpoint_is_refused_naming_the_file_and_the_field(tmp_path, name, change, words):
    path = write(tmp_path, change)
    with pytest.raises(InputError) as caught:
        load_checkpoint(path, "cpu")
    message = str(caught.value)
    assert message.startswith(f"{path}: not a usable SRA-Seg checkpoint") and words in message, message
    assert "\n" not in message and len(message) < 400


def test_a_huge_network_description_is_refused_before_any_allocation(tmp_path):
    path = write(tmp_path, _set("model_config.channels"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InputError, match="model_config.channels"):
        load_checkpoint(path, "cpu")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: under 200 MiB more


def test_channels_within_range_but_not_matching_the_weights_are_refused_without_building_them(tmp_path):
    path = write(tmp_path, lambda s: s["model_config"].update(channels=[4096] * 5))
    with pytest.raises(InputError, match="has shape"):
        load_checkpoint(path, "cpu")


@pytest.mark.parametrize("name,change,words", [BROKEN[1], BROKEN[5], BROKEN[15]], ids=["no-config", "huge", "nan"])
def test_predict_refuses_it_with_one_line_and_writes_nothing(capsys, tmp_path, name, change, words):
    from sra_seg_core.image import Image
    from sra_seg_core.io import write_image

    source = write_image(Image(torch.rand(2, 16, 16).numpy()), tmp_path / "scan.nii.gz")
    path = write(tmp_path, change)
    assert main(["predict", "--checkpoint", str(path), "--input", str(source), "--output",
                 str(tmp_path / "mask.nii.gz"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and words in err
    assert not (tmp_path / "mask.nii.gz").exists()


def test_evaluate_refuses_it_with_one_line(capsys, tmp_path, phantoms):
    path = write(tmp_path, BROKEN[15][1])
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(phantoms), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NaN or infinite" in err


RESUME_BROKEN = [
    ("not the trainer's format", lambda s: s.pop("format"), "not a resumable"),
    ("no stage", lambda s: s.pop("stage"), "'stage'"),
    ("unknown stage", lambda s: s.update(stage="stage3"), "stage must be one of"),
    ("iteration as text", lambda s: s.update(iteration="4"), "'iteration' field is a str"),
    ("negative iteration", lambda s: s.update(iteration=-1), "iteration must be >= 0"),
    ("no rng state", lambda s: s.pop("torch_rng"), "'torch_rng'"),
    ("rng state of floats", lambda s: s.update(torch_rng=torch.zeros(3)), "torch_rng"),
    ("best as a list", lambda s: s.update(best=[0.5]), "'best' field is a list"),
    ("no optimizer", lambda s: s.pop("optimizer"), "'optimizer'"),
    ("NaN weights", BROKEN[15][1], "NaN or infinite"),
]


@pytest.mark.parametrize("name,change,words", RESUME_BROKEN, ids=[b[0] for b in RESUME_BROKEN])
def test_resume_refuses_a_broken_latest_pt_with_one_line(capsys, tmp_path, phantoms, name, change, words):
    run = tmp_path / "run"
    config = preset("tiny")
    config.data.root, config.train.method = str(phantoms), "supervised"
    save_config_file(config, run / "config.yaml")
    (run / "checkpoints").mkdir()
    write(run / "checkpoints", change, "latest.pt")
    assert main(["train", "--resume", str(run), "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "latest.pt" in err and words in err, err


def test_suggest_by_disagreement_refuses_nan_teacher_weights(tmp_path):
    from sra_seg_core.selection import _load_teacher_student

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    write(tmp_path / "run" / "checkpoints", BROKEN[17][1], "latest.pt")
    with pytest.raises(InputError, match="teacher.*NaN or infinite"):
        _load_teacher_student(tmp_path / "run", "cpu")
