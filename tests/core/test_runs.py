"""The run folder: one listing, one status vocabulary, what a run offers, typed metadata, resuming longer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sra_seg_core import runs
from sra_seg_core.config import preset, save_config_file
from sra_seg_core.errors import ConfigError


def make_run(runs_dir, name, meta=None, *, checkpoints=(), log="", created=None, config=None):
    run = runs_dir / name
    (run / runs.CHECKPOINT_DIR).mkdir(parents=True)
    if meta is not None:
        meta = dict(meta)
        if created is not None:
            meta["created"] = created
        (run / runs.META_FILE).write_text(json.dumps(meta))
    for file in checkpoints:
        (run / runs.CHECKPOINT_DIR / file).write_bytes(b"x")
    if log:
        (run / runs.LOG_FILE).write_text(log)
    if config is not None:
        save_config_file(config, run / runs.CONFIG_FILE)
    return run


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_running_run_whose_process_is_gone_is_died(tmp_path):
    run = make_run(tmp_path, "a", {"status": "running", "pid": dead_pid()})
    assert runs.describe(run).status == runs.DIED


def test_a_running_run_whose_process_lives_is_running(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)  # sra_seg_core"])
    try:
        run = make_run(tmp_path, "a", {"status": "running", "pid": child.pid})
        assert runs.describe(run).status == runs.RUNNING
    finally:
        child.kill()
        child.wait()


def test_a_folder_without_metadata_is_failed_with_an_error_line_else_died(tmp_path):
    failed = make_run(tmp_path, "a", log="Traceback\nerror: bad config\n")
    died = make_run(tmp_path, "b")
    assert (runs.describe(failed).status, runs.describe(failed).error) == (runs.FAILED, "bad config")
    assert runs.describe(died).status == runs.DIED


def test_every_status_is_one_of_the_vocabulary(tmp_path):
    for i, status in enumerate(("finished", "stopped", "failed", "running", "something-else")):
        make_run(tmp_path, f"r{i}", {"status": status, "pid": dead_pid()})
    assert {r.status for r in runs.list_runs(tmp_path)} <= set(runs.STATUSES)


def test_listing_is_newest_first(tmp_path):
    make_run(tmp_path, "old", {"status": "finished"}, created=100.0)
    make_run(tmp_path, "new", {"status": "finished"}, created=200.0)
    assert [r.name for r in runs.list_runs(tmp_path)] == ["new", "old"]


def test_a_run_offers_its_best_and_latest_checkpoints_and_a_teacher_only_when_latest_holds_one(tmp_path):
    supervised = make_run(tmp_path, "sup", {"status": "finished", "latest_has_teacher": False},
                          checkpoints=(runs.BEST, runs.LATEST))
    teacher = make_run(tmp_path, "mt", {"status": "stopped", "latest_has_teacher": True},
                       checkpoints=(runs.LATEST,))
    assert set(runs.describe(supervised).offers) == {"best", "latest"}
    assert set(runs.describe(teacher).offers) == {"latest", "teacher"}
    assert [r.name for r in runs.list_runs(tmp_path, offering="teacher")] == ["mt"]
    assert [r.name for r in runs.list_runs(tmp_path, offering="best")] == ["sup"]


def test_no_validation_yet_reads_as_no_best_dice_even_from_an_old_minus_one(tmp_path):
    run = make_run(tmp_path, "a", {"status": "finished", "best_dice": -1.0})
    assert runs.describe(run).best_dice is None


def test_an_unreadable_run_json_still_lists_the_run(tmp_path):
    run = make_run(tmp_path, "a", checkpoints=(runs.BEST,))
    (run / runs.META_FILE).write_text("{ torn")
    [listed] = runs.list_runs(tmp_path)
    assert (listed.name, listed.best_dice, listed.method) == ("a", None, "?")


def test_metadata_keeps_keys_it_does_not_know(tmp_path):
    run = make_run(tmp_path, "a", {"status": "running", "future_field": [1, 2]})
    runs.update_meta(run, status="finished", best_dice=0.5)
    data = json.loads((run / runs.META_FILE).read_text())
    assert data == {"status": "finished", "best_dice": 0.5, "future_field": [1, 2]}


def test_metadata_refuses_a_field_it_does_not_define(tmp_path):
    run = make_run(tmp_path, "a", {})
    with pytest.raises(TypeError):
        runs.update_meta(run, bets_dice=0.5)


def test_resuming_lengthens_the_schedule_without_writing_the_run(tmp_path):
    config = preset("demo")
    run = make_run(tmp_path, "a", {"status": "stopped"}, checkpoints=(runs.LATEST,), config=config)
    before = (run / runs.CONFIG_FILE).read_bytes()
    longer = runs.resume_config(run, pretrain_iters=config.train.pretrain_iters + 10)
    assert longer.train.pretrain_iters == config.train.pretrain_iters + 10
    assert "--pretrain-iters" in runs.resume_args(run, longer)
    assert str(config.train.pretrain_iters + 10) in runs.resume_args(run, longer)
    assert (run / runs.CONFIG_FILE).read_bytes() == before


def test_resuming_with_a_shorter_schedule_is_refused(tmp_path):
    config = preset("demo")
    run = make_run(tmp_path, "a", {"status": "stopped"}, checkpoints=(runs.LATEST,), config=config)
    with pytest.raises(ConfigError, match="fewer pretrain iterations"):
        runs.resume_config(run, pretrain_iters=config.train.pretrain_iters - 1)


def test_resuming_a_run_without_latest_is_refused(tmp_path):
    run = make_run(tmp_path, "a", {"status": "stopped"}, config=preset("demo"))
    with pytest.raises(ConfigError, match="latest.pt"):
        runs.resume_config(run)


def test_listing_a_missing_folder_is_empty(tmp_path):
    assert runs.list_runs(tmp_path / "nope") == []
    assert not os.path.exists(tmp_path / "nope")


def test_a_run_with_a_newer_checkpoint_lists_first(tmp_path):
    old = make_run(tmp_path, "old", {"status": "finished"}, checkpoints=(runs.BEST,), created=100.0)
    make_run(tmp_path, "new", {"status": "finished"}, checkpoints=(runs.BEST,), created=200.0)
    os.utime(old / runs.CHECKPOINT_DIR / runs.BEST, (300.0, 300.0))   # resumed later: a newer best model
    os.utime(tmp_path / "new" / runs.CHECKPOINT_DIR / runs.BEST, (200.0, 200.0))
    assert [r.name for r in runs.list_runs(tmp_path)] == ["old", "new"]
