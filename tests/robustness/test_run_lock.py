"""One writer per run folder: a second trainer of a running run exits 2 naming the process that holds it, and
touches nothing; a closed ``--events -`` reader does not kill the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sra_seg_core.cli import main
from sra_seg_core.config import preset, save_config_file
from sra_seg_core.errors import RunLockedError
from sra_seg_core.events import read_events
from sra_seg_core.run_lock import RunLock

ROOT = Path(__file__).resolve().parents[2]
HOLD_LOCK = "import sys, time; from sra_seg_core.run_lock import RunLock; lock = RunLock(sys.argv[1]); " \
            "print('locked', flush=True); time.sleep(120)"


def child_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def run_dir(tmp_path, phantoms):
    """A run folder as a running trainer leaves it: config, metadata, events."""
    run = tmp_path / "run"
    config = preset("tiny")
    config.data.root, config.train.method = str(phantoms), "supervised"
    save_config_file(config, run / "config.yaml")
    (run / "run.json").write_text(json.dumps({"status": "running", "pid": 1}))
    (run / "events.jsonl").write_text('{"event":"progress","iteration":2}\n')
    return run


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_resuming_a_run_that_another_process_trains_exits_2_naming_its_pid(capsys, run_dir):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True,
                              env=child_env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(run_dir)
        assert main(["train", "--resume", str(run_dir), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"process {holder.pid}" in err and "being written" in err, err
        assert snapshot(run_dir) == before  # no event, no status, no checkpoint from the refused trainer
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_exclusive_within_a_process_too_and_free_once_released(run_dir):
    lock = RunLock(run_dir)
    with pytest.raises(RunLockedError, match=f"process {os.getpid()}"):
        RunLock(run_dir)
    lock.release()
    RunLock(run_dir).release()


def test_a_killed_trainer_leaves_no_stale_lock(run_dir):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True,
                              env=child_env())
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()
    RunLock(run_dir).release()


@pytest.mark.slow
def test_a_broken_events_pipe_does_not_kill_the_run(tmp_path, phantoms):
    run = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "sra_seg_core", "train", "--data", str(phantoms), "--method", "supervised", "--preset",
         "tiny", "--device", "cpu", "--set", "train.num_threads=1", "--quiet", "--events", "-", "--out", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    assert child.stdout.readline()  # the reader takes one event, then goes away (`… --events - | head -1`)
    child.stdout.close()
    _, err = child.communicate(timeout=600)
    assert child.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"BrokenPipe" not in err
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert (run / "checkpoints" / "latest.pt").exists()
    events = read_events((run / "events.jsonl").read_text().splitlines())
    assert events[-1].event == "done" and events[-1].status == "finished"
