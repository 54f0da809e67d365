"""The Train workspace's rules in the model (no widgets): the first settings, what Start and Resume offer, the texts."""

from __future__ import annotations

import json

from sra_seg_core import runs
from sra_seg_core.events import Event
from sra_seg_app.model import train as model
from sra_seg_app.model.train import RunMonitor, RunProgress


def test_the_demo_project_opens_on_the_demo_preset_with_the_untrained_encoder_allowed(session):
    config = model.initial_config(session.project, [])
    assert config.alignment.allow_untrained and config.data.root == str(session.project.path)


def test_start_and_resume_are_refused_on_a_read_only_project(session, monkeypatch, qapp):
    assert model.can_start(session.project)
    monkeypatch.setattr(type(session.project), "read_only", property(lambda self: True))
    assert not model.can_start(session.project) and not model.can_start(None)
    assert not model.can_resume(session.project, None, RunMonitor())


def test_a_stopped_run_says_which_checkpoint_resume_continues_from(qapp):
    monitor = RunMonitor()
    monitor.progress = RunProgress(totals={"pretrain": 4}, status="stopped", latest_checkpoint=("pretrain", 3))
    assert "pre-training, iteration 3" in model.stage_text(monitor) and model.title_state(monitor) == "stopped"
    monitor.progress.latest_checkpoint = None
    assert model.stage_text(monitor) == "Stopped before the first checkpoint: start a new run."


def test_the_latest_checkpoint_is_read_from_the_runs_events(tmp_path):
    from sra_seg_core.config import RunConfig

    lines = [Event("checkpoint", stage="pretrain", iteration=k, kind="latest", path="x").to_json() for k in (2, 4)]
    (tmp_path / runs.EVENTS_FILE).write_text("\n".join(lines) + "\n")
    assert model.latest_checkpoint(tmp_path, RunConfig()) == ("pretrain", 4)


def test_a_run_without_validation_shows_a_dash_for_best_dice_in_the_table(tmp_path, qapp):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / runs.META_FILE).write_text(json.dumps({"status": "finished", "best_dice": -1}))
    (run,) = runs.list_runs(tmp_path)
    assert model.run_row_status(run, RunMonitor()) == ("finished", "–")


def test_durations_read_as_hours_minutes_or_seconds():
    assert [model.duration_text(s) for s in (5, 125, 3725)] == ["5 s", "2 min 05 s", "1 h 02 min"]
