"""The assistant's rule as app state (plain pytest with a Qt core app): every N newly done slices a fine-tune starts
in the background as a training run of its own process group, pausable and stoppable as a whole, its failure said,
and its end makes proposals use the new model."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sra_seg_app.model import run_folder as rf
from sra_seg_app.model.assistant import Assistant
from sra_seg_app.model.jobs import JobState

# a fine-tune stand-in with a helper process, as a trainer with a data-loader worker: prints the helper's pid
GROUP = ("import subprocess, sys, time\n"
         "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
         "print(child.pid, flush=True)\n"
         "time.sleep(60)\n")


def proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def wait_state(pid: int, wanted: tuple[str, ...]) -> str:
    for _ in range(100):  # the kernel applies a signal asynchronously
        state = proc_state(pid)
        if state in wanted:
            return state
        time.sleep(0.02)
    return state


@pytest.fixture
def project(tmp_path):
    checkpoint = tmp_path / "runs" / "first" / "checkpoints" / "best.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    return tmp_path


def _assistant(project, started, launch):
    def starter(checkpoint, project_path, runs_dir):
        run_dir = runs_dir / f"assistant-{len(started) + 1}"
        run_dir.mkdir()
        process = launch(run_dir)
        started.append((checkpoint, run_dir, process))
        return run_dir, process, None

    a = Assistant(every=3, starter=starter)
    a.set_project(project, project / "runs")
    a.set_enabled(True)
    return a


def sleeping_group(helpers: list):
    def launch(run_dir):
        process = subprocess.Popen([sys.executable, "-c", GROUP], stdout=subprocess.PIPE, text=True,
                                   start_new_session=True)   # as run_folder.launch starts a run
        helpers.append(int(process.stdout.readline()))
        return process
    return launch


def test_a_fine_tune_starts_after_every_n_newly_done_slices_from_the_newest_model(project, qtbot):
    started, helpers = [], []
    a = _assistant(project, started, sleeping_group(helpers))
    try:
        a.update(4)            # done before: not new
        a.update(6)
        assert not started
        a.update(7)
        qtbot.waitUntil(lambda: a.state == JobState.RUNNING)
        assert started[0][0].name == "best.pt" and "fine-tuning" in a.status
    finally:
        a.stop()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process state from Linux procfs")
def test_pausing_freezes_the_whole_group_and_stop_ends_it(project, qtbot):
    started, helpers = [], []
    a = _assistant(project, started, sleeping_group(helpers))
    a.update(0)
    a.update(3)
    qtbot.waitUntil(lambda: a.state == JobState.RUNNING)
    leader = started[0][2].pid
    a.set_paused(True)
    assert wait_state(leader, ("T", "t")) in ("T", "t") and wait_state(helpers[0], ("T", "t")) in ("T", "t")
    assert "paused" in a.status
    a.set_paused(False)
    assert wait_state(helpers[0], ("S", "R")) in ("S", "R")
    a.set_paused(True)      # a paused fine-tune stops all the same
    a.stop()
    qtbot.waitUntil(lambda: a.state == JobState.FINISHED, timeout=10_000)
    assert "stopped" in a.status and wait_state(helpers[0], ("Z", "X")) in ("Z", "X")


def test_a_fine_tune_that_fails_says_why(project, qtbot):
    started = []

    def failing(run_dir):   # the real train command on data that is not there
        return rf.launch(["train", "--data", str(project / "missing"), "--out", str(run_dir)], run_dir, project)

    a = _assistant(project, started, failing)
    a.update(0)
    a.update(3)
    qtbot.waitUntil(lambda: a.state == JobState.FAILED, timeout=60_000)
    assert "Fine-tune assistant-1 failed: " in a.status and "train.log" in a.status


def test_a_finished_fine_tune_announces_its_run(project, qtbot):
    started = []

    def finishing(run_dir):   # ends with the done event a finished training writes
        (run_dir / "events.jsonl").write_text('{"event": "done", "status": "finished"}\n')
        return subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)

    a = _assistant(project, started, finishing)
    a.update(0)
    with qtbot.waitSignal(a.finished, timeout=10_000) as signal:
        a.update(3)
    assert signal.args == [str(started[0][1])] and "proposals now use it" in a.status


def test_it_starts_nothing_while_off_or_without_a_model(tmp_path, qtbot):
    started = []
    a = _assistant(tmp_path, started, sleeping_group([]))    # no runs folder: no model
    a.update(0)
    a.update(5)
    assert not started and "first trained run" in a.status
    a.set_enabled(False)
    assert a.status == "Assistant off."
