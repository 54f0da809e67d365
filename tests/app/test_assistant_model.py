"""The assistant's rule as app state (plain pytest with a Qt core app): every N newly done slices a fine-tune starts
in the background, pausable, and its end makes proposals use the new model."""

from pathlib import Path

import pytest

from sra_seg_app.model.assistant import Assistant


class StandIn:
    """A fine-tune process stand-in: running until ``code`` is set."""

    def __init__(self, run_dir):
        self.run_dir, self.code, self.calls = Path(run_dir), None, []

    def poll(self):
        return self.code

    def pause(self):
        self.calls.append("pause")

    def resume(self):
        self.calls.append("resume")

    def stop(self):
        self.calls.append("stop")


@pytest.fixture
def project(tmp_path):
    checkpoint = tmp_path / "runs" / "first" / "checkpoints" / "best.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    return tmp_path


def _assistant(project, started):
    def starter(checkpoint, project_path, runs_dir):
        job = StandIn(runs_dir / "assistant-1")
        started.append((checkpoint, job))
        return job

    a = Assistant(every=3, starter=starter)
    a.set_project(project, project / "runs")
    a.set_enabled(True)
    return a


def test_a_fine_tune_starts_after_every_n_newly_done_slices_from_the_newest_model(project, qtbot):
    started = []
    a = _assistant(project, started)
    a.update(4)            # done before: not new
    a.update(6)
    assert not started
    a.update(7)
    qtbot.waitUntil(lambda: a.job is not None)
    assert started[0][0].name == "best.pt" and "fine-tuning" in a.status


def test_pausing_freezes_the_fine_tune_and_its_end_announces_the_run(project, qtbot):
    started = []
    a = _assistant(project, started)
    a.update(0)
    a.update(3)
    qtbot.waitUntil(lambda: a.job is not None)
    job = started[0][1]
    a.set_paused(True)
    assert job.calls == ["pause"] and "paused" in a.status
    a.set_paused(False)
    job.code = 0
    with qtbot.waitSignal(a.finished) as signal:
        a.poll()
    assert signal.args == [str(job.run_dir)] and a.job is None


def test_it_starts_nothing_while_off_or_without_a_model(tmp_path, qtbot):
    started = []
    a = _assistant(tmp_path, started)    # no runs folder: no model
    a.update(0)
    a.update(5)
    assert not started and "first trained run" in a.status
    a.set_enabled(False)
    assert a.status == "Assistant off."
