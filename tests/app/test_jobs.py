"""Child processes: one job life cycle, typed results from the done event, and Stop ending the whole process group."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sra_seg_app.model import run_folder as rf
from sra_seg_app.model.jobs import EngineRun, JobState, next_state


@pytest.mark.parametrize("steps, end", [
    ([("start", None), ("exit", 0)], JobState.FINISHED),
    ([("start", None), ("exit", 2)], JobState.FAILED),
    ([("start", None), ("exit", -1)], JobState.FAILED),
    ([("start", None), ("cancel", None), ("exit", -1)], JobState.FINISHED),
    ([("cancel", None)], JobState.IDLE),
])
def test_the_job_life_cycle(steps, end):
    state = JobState.IDLE
    for what, code in steps:
        state = next_state(state, what, code=code)
    assert state == end


def test_a_cancelled_job_passes_through_cancelling():
    assert next_state(JobState.RUNNING, "cancel") == JobState.CANCELLING


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
def test_stop_ends_the_whole_process_group_not_only_the_leader():
    code = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n")
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)   # as rf.launch starts a run
    helper = int(leader.stdout.readline())
    rf.request_stop(leader.pid)
    leader.wait(10)
    deadline = time.monotonic() + 10
    while not _gone(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(helper)


def test_an_engine_run_keeps_the_done_events_result(qapp, qtbot):
    run = EngineRun()
    states = []
    run.stateChanged.connect(states.append)
    with qtbot.waitSignal(run.finished, timeout=120_000):
        run.start("devices", "--events", "-")
    assert run.state == JobState.FINISHED and states == ["running", "finished"]
    assert run.result["default"] in ("cpu", "cuda") and "cpu_threads" in run.result


def test_a_worker_hands_its_result_or_its_error_to_the_gui_thread(qapp, qtbot):
    from sra_seg_app.model.worker import Worker, run_blocking

    ok = Worker(lambda w: (w.report(1), 42)[1])
    seen = []
    ok.progress.connect(seen.append)
    with qtbot.waitSignal(ok.done, timeout=10_000) as done:
        ok.start()
    ok.wait()
    assert done.args == [42] and seen == [1]
    assert run_blocking(lambda: "read") == "read"
    with pytest.raises(ZeroDivisionError):
        run_blocking(lambda: 1 / 0)


def test_a_launched_worker_is_kept_until_it_ends_and_stops_when_cancelled(qapp, qtbot):
    import threading

    from sra_seg_app.model.worker import Worker

    release = threading.Event()

    def steps(worker):
        while not worker.cancelled:
            release.wait(0.01)
        return "stopped"

    Worker(steps).launch()   # no reference kept here: a collected running QThread would abort the process
    assert len(Worker._live) == 1
    (worker,) = Worker._live
    with qtbot.waitSignal(worker.done, timeout=10_000) as done:
        worker.cancel()
    assert done.args == ["stopped"]
    qtbot.waitUntil(lambda: not Worker._live, timeout=5_000)
