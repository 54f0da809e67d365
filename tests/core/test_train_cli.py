"""``sra-seg train / predict / evaluate --checkpoint`` from the command line, as a user or the app runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sra_seg_core.cli import main
from sra_seg_core.events import read_events
from sra_seg_core.io import read_image, read_label

TINY = ["--preset", "tiny", "--allow-untrained-encoder", "--set", "alignment.download=false",
        "--set", "train.num_threads=2"]


@pytest.fixture(scope="module")
def trained(phantoms, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    code = main(["train", "--data", str(phantoms / "real"), "--synthetic", str(phantoms / "synthetic"),
                 "--out", str(run_dir), "--events", str(run_dir.parent / "events.jsonl"), "--quiet", *TINY])
    assert code == 0
    return run_dir


def test_train_writes_a_run_folder_and_the_event_file(trained):
    assert (trained / "checkpoints" / "best.pt").exists()
    events = read_events((trained.parent / "events.jsonl").read_text().splitlines())
    assert events[-1].event == "done" and events[-1].status == "finished"


def test_predict_keeps_the_input_geometry(trained, phantoms, tmp_path):
    source = phantoms / "real" / "patient001" / "patient001_frame01.nii.gz"
    out = tmp_path / "pred.nii.gz"
    assert main(["predict", "--checkpoint", str(trained / "checkpoints" / "best.pt"), "--input", str(source),
                 "--output", str(out), "--tta"]) == 0
    image, pred = read_image(source), read_label(out)
    assert pred.shape == image.shape and np.allclose(pred.affine, image.affine)
    assert pred.array.dtype == np.uint8 and pred.array.max() <= 3


def test_predict_a_folder(trained, phantoms, tmp_path):
    assert main(["predict", "--checkpoint", str(trained / "checkpoints" / "best.pt"),
                 "--input", str(phantoms / "synthetic" / "patient101"), "--output", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in (phantoms / "synthetic" / "patient101").glob("*.nii.gz"))


def test_evaluate_a_checkpoint_on_the_test_split(trained, phantoms, tmp_path, capsys):
    csv = tmp_path / "m.csv"
    assert main(["evaluate", "--checkpoint", str(trained / "checkpoints" / "best.pt"),
                 "--data", str(phantoms / "real"), "--split", "test", "--csv", str(csv)]) == 0
    lines = csv.read_text().splitlines()
    assert lines[0] == "case,label,dice,jaccard,hd95,asd,hd95_mm,asd_mm,missing_prediction"
    test_cases = json.loads((trained / "run.json").read_text())["data"]["test_cases"]
    assert {line.split(",")[0] for line in lines[1:]} == set(test_cases)
    assert "RV" in capsys.readouterr().out


def test_missing_encoder_weights_is_one_error_line_and_exit_2(phantoms, tmp_path, capsys):
    code = main(["train", "--data", str(phantoms / "real"), "--synthetic", str(phantoms / "synthetic"),
                 "--out", str(tmp_path / "run"), "--preset", "tiny", "--set", "alignment.download=false", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error:") and "--dinov2-weights" in err[0] and "--allow-untrained-encoder" in err[0]


def test_resume_refuses_changed_settings(trained, capsys):
    assert main(["train", "--resume", str(trained), "--set", "blend.sigma=3"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_sigterm_saves_latest_and_exits_cleanly(phantoms, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sra_seg_core", "train", "--data", str(phantoms / "real"), "--synthetic",
         str(phantoms / "synthetic"), "--out", str(run_dir), "--quiet", *TINY,
         "--set", "train.pretrain_iters=100000", "--set", "train.validate_every=100000",
         "--set", "train.checkpoint_every=100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    events_file = run_dir / "events.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if events_file.exists() and any(e.event == "progress" for e in read_events(events_file.open())):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    events = read_events(events_file.open())
    assert events[-1].event == "done" and events[-1].status == "stopped"
    assert (run_dir / "checkpoints" / "latest.pt").exists()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"


def test_the_demo_command_trains_both_methods_and_says_which_won(tmp_path, capsys):
    """``sra-seg demo`` end to end at toy size: phantoms, SRA-Seg and the supervised baseline, test metrics, the
    verdict line, metrics CSVs and predicted label maps with the source geometry."""
    out = tmp_path / "demo"
    tiny = {"data.image_size": 32, "model.channels": "[4,8,16,32,64]", "train.pretrain_iters": 2,
            "train.selftrain_iters": 2, "train.batch_size": 4, "train.validate_every": 2,
            "train.checkpoint_every": 2, "train.num_threads": 1, "alignment.encoder_depth": 1,
            "alignment.projector_hidden": 16}
    sets = [arg for key, value in tiny.items() for arg in ("--set", f"{key}={value}")]
    assert main(["demo", "--out", str(out), "--patients", "10", "--synthetic", "2", "--device", "cpu", *sets]) == 0
    printed = capsys.readouterr().out
    verdict = [line for line in printed.splitlines() if line.startswith("SRA-Seg mean Dice")]
    assert len(verdict) == 1 and (" beats " in verdict[0] or " does not beat " in verdict[0])
    for method in ("sra-seg", "supervised"):
        assert f"{method} (trained in" in printed
        rows = (out / f"metrics-{method}.csv").read_text().splitlines()
        assert rows[0].startswith("case,label,dice") and len(rows) > 1
        predictions = sorted((out / "predictions" / method).rglob("*.nii.gz"))
        assert predictions, method
        case = predictions[0].name.replace("_pred", "").replace(".nii.gz", "")
        source = next((out / "data" / "real").rglob(f"{case}.nii.gz"))
        assert np.allclose(read_label(predictions[0]).affine, read_image(source).affine)
