"""Several GPUs in the Train workspace: the choice appears with more than one GPU, a run over K GPUs starts as one
torchrun job the app follows like any run, and a GPU count that cannot share the batch is refused before anything is
written. The GPU probe is the engine's ``sra-seg devices`` answer, so "4 GPUs" is a dict here."""

from __future__ import annotations

import os
import sys

import pytest

from sra_seg_core import runs
from sra_seg_core.config import preset
from sra_seg_core.errors import ConfigError
from sra_seg_core.events import read_events
from sra_seg_app.model import run_folder as rf
from sra_seg_app.model import train as model
from sra_seg_app.model.train import RunMonitor
from sra_seg_app.workspaces.train import TrainWorkspace


def gpus(n: int) -> dict:
    return {"gpus": [{"index": k, "name": "H100", "memory_gb": 80.0, "bf16": True} for k in range(n)],
            "cpu_threads": 16, "default": "cuda" if n else "cpu"}


def config(batch: int = 24, device: str = "auto"):
    c = preset("tiny")
    c.train.batch_size, c.train.device = batch, device
    c.alignment.allow_untrained, c.alignment.download = True, False
    return c


@pytest.fixture
def workspace(session, qtbot):
    ws = TrainWorkspace(session)
    qtbot.addWidget(ws)
    return ws


@pytest.fixture
def launched(monkeypatch):
    """The command lines launch_training would start (nothing is started)."""
    commands = []

    class NoProcess:   # a child that has already exited
        pid = 0
        returncode = 0

        def poll(self):
            return 0

    def popen(command, **_kwargs):
        commands.append(command)
        return NoProcess()

    monkeypatch.setattr(rf.subprocess, "Popen", popen)
    return commands


# --- the command ----------------------------------------------------------------------------------------------------
def test_a_one_gpu_run_is_the_engine_command_alone():
    assert rf.command(["train", "--quiet"], 1) == [sys.executable, "-m", "sra_seg_core", "train", "--quiet"]


def test_a_two_gpu_run_is_the_same_command_under_torchrun():
    assert rf.command(["train", "--quiet"], 2) == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "sra_seg_core", "train", "--quiet"]


def test_every_process_of_a_multi_gpu_run_is_given_the_run_folder_the_app_follows(session, launched):
    run_dir, _ = model.launch_training(session.project, config(), processes=2)
    (command,) = launched
    assert command[command.index("--out") + 1] == str(run_dir)
    assert run_dir.parent == session.project.runs_dir and run_dir.name.startswith("sra-seg-")


# --- the rules ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [0, 1])
def test_no_gpu_choice_with_fewer_than_two_gpus(count):
    assert not model.offers_gpu_choice(gpus(count))


def test_four_gpus_are_found_and_offered_one_to_four():
    assert model.offers_gpu_choice(gpus(4)) and model.gpu_choices(gpus(4)) == [1, 2, 3, 4]
    assert model.gpus_found_text(model.gpu_count(gpus(4))) == "4 GPUs found"


def test_the_preselected_count_is_every_gpu_that_can_share_the_batch():
    assert model.default_gpus(gpus(4), config(batch=32)) == 4
    assert model.default_gpus(gpus(4), config(batch=24)) == 3    # halves of 6 do not split over 4
    assert model.default_gpus(gpus(0), config()) == 1


def test_a_run_pinned_to_one_device_is_one_process():
    assert model.processes_for(config(device="auto"), 4) == 4
    assert model.processes_for(config(device="cuda:1"), 4) == model.processes_for(config(device="cpu"), 4) == 1


def test_a_gpu_count_that_cannot_split_the_batch_is_refused_with_counts_that_can():
    text = model.gpu_refusal(config(batch=24), 4)
    assert "cannot be shared evenly by 4 GPUs" in text and "Choose 2 or 3 GPUs" in text and "multiple of 16" in text
    assert model.gpu_refusal(config(batch=24), 3) == "" and model.gpu_refusal(config(batch=24, device="cpu"), 4) == ""


def test_an_indivisible_launch_is_refused_before_a_run_folder_exists(session, launched):
    with pytest.raises(ConfigError, match="cannot be shared evenly by 4 GPUs"):
        model.launch_training(session.project, config(batch=24), processes=4)
    assert not launched and not list(session.project.runs_dir.glob("*"))


# --- the workspace --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [0, 1])
def test_the_gpus_control_is_hidden_with_fewer_than_two_gpus(workspace, count):
    workspace.set_device_info(gpus(count))
    assert not workspace.gpus_box.isVisibleTo(workspace) and workspace.chosen_gpus() == 1


def test_the_gpus_control_shows_with_four_gpus_and_says_how_many(workspace):
    workspace.form.set_config(config(batch=32))
    workspace.set_device_info(gpus(4))
    assert workspace.gpus_box.isVisibleTo(workspace)
    assert workspace.gpus_found.text() == "4 GPUs found" and workspace.chosen_gpus() == 4


def test_start_with_a_count_that_cannot_split_the_batch_says_why_and_starts_nothing(workspace, session, launched):
    workspace.form.set_config(config(batch=24))
    workspace.set_device_info(gpus(4))
    workspace.gpus.setCurrentIndex(workspace.gpus.findData(4))
    assert workspace.gpus_note.isVisibleTo(workspace)
    workspace.start()
    assert "cannot be shared evenly by 4 GPUs" in workspace.error_label.text()
    assert not launched and not workspace.monitor.live


def test_start_with_two_gpus_launches_torchrun_with_two_processes(workspace, launched):
    workspace.form.set_config(config(batch=24))
    workspace.set_device_info(gpus(2))
    workspace.start()
    (command,) = launched
    assert command[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    workspace.monitor.detach()


# --- for real: two gloo processes on the CPU ------------------------------------------------------------------------
@pytest.mark.slow
def test_the_apps_two_process_launch_is_one_run_that_stop_ends_whole(session, qtbot, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    c = config(batch=8, device="cpu")   # 4 + 4: each of 2 ranks gets one slice of each half
    c.train.pretrain_iters = c.train.selftrain_iters = 10_000
    c.train.num_threads = 1
    run_dir, process = model.launch_training(session.project, c, processes=2)
    monitor = RunMonitor()
    monitor.attach(run_dir, process=process, config=c)
    try:
        qtbot.waitUntil(lambda: bool(monitor.progress.losses.x), timeout=240_000)
        monitor.request_stop()
        qtbot.waitUntil(lambda: not monitor.live, timeout=120_000)
    finally:
        if process.poll() is None:
            rf.kill(process.pid)
            process.wait(30)
    assert monitor.progress.status == "stopped", runs.log_tail(run_dir, 30)
    assert runs.read_meta(run_dir).world_size == 2
    assert [e.event for e in read_events((run_dir / runs.EVENTS_FILE).open())].count("done") == 1
    with pytest.raises(ProcessLookupError):   # torchrun and both ranks are gone
        os.killpg(process.pid, 0)
