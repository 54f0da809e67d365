"""The Train workspace: the settings form, following a run through its files, Start / Stop / Resume, failures, and a
run that outlives its window.

Tests marked "real" start ``sra-seg train`` on the small demo project with the tiny preset and an untrained encoder;
the others drive the workspace with prepared run folders or a stand-in process, and take well under a second each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialogButtonBox, QWidget

from sra_seg_core.config import RunConfig, preset
from sra_seg_core.events import Event
from sra_seg_core import runs
from sra_seg_app.model import run_folder as rf
from sra_seg_app.widgets.config_form import FORM_KEYS, AdvancedDialog, ConfigForm, apply_preset, encoder_status
from sra_seg_app.model.train import FileTail, RunProgress, parse_event_lines
from sra_seg_app.workspaces.train import ResumeDialog, TrainWorkspace

RUN_TIMEOUT_MS = 180_000


# --- fixtures ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def workspace(session, qtbot):
    ws = TrainWorkspace(session)
    qtbot.addWidget(ws)
    ws.resize(1200, 800)
    yield ws
    _end_run(ws)


def _end_run(ws: TrainWorkspace) -> None:
    """Leave no training process behind a test."""
    process, pid = ws.monitor.process, ws.monitor.pid
    ws.monitor.detach()
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(30)
    elif runs.engine_alive(pid):
        rf.kill(pid)


def quick_config(pretrain: int = 2, selftrain: int = 2) -> RunConfig:
    config = preset("tiny")
    config.train.pretrain_iters, config.train.selftrain_iters = pretrain, selftrain
    config.alignment.allow_untrained, config.alignment.download = True, False
    return config


def stand_in(*, ignore_sigterm: bool = False) -> subprocess.Popen:
    """A process that looks like the engine to the monitor (its command line names sra_seg_core) and just waits."""
    code = "import signal, time\n"
    if ignore_sigterm:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(120)\n"
    process = subprocess.Popen([sys.executable, "-c", code, "sra_seg_core"], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"   # its signal handling is in place
    return process


def fake_run(runs_dir: Path, name: str, events: list[Event], meta: dict, log: str = "") -> Path:
    run = runs_dir / name
    (run / "checkpoints").mkdir(parents=True)
    (run / runs.EVENTS_FILE).write_text("".join(e.to_json() + "\n" for e in events))
    (run / runs.META_FILE).write_text(json.dumps(meta))
    (run / runs.LOG_FILE).write_text(log)
    return run


def progress(stage: str, iteration: int, of: int, **losses) -> Event:
    return Event("progress", stage=stage, iteration=iteration, total=of, losses=losses, throughput=2.0,
                 eta_s=10.0, memory_mb=900.0)


UNTRAINED = Event("warning", encoder_pretrained=False,
                  message="DINOv2 encoder vit_small_patch14_dinov2 is UNTRAINED (random weights)")


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --- the form ---------------------------------------------------------------------------------------------------------
def test_form_round_trips_a_run_config(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    config = preset("fives")
    config.train.method, config.train.device, config.train.validate_every = "bcp", "cuda:1", 77
    config.alignment.encoder, config.alignment.weights_file = "vit_base_patch14_dinov2", "/weights/dinov2.pth"
    config.blend.hard, config.blend.sigma, config.data.labeled_count = True, 2.5, 3
    config.model.channels = (8, 16, 32, 64, 128)
    form.set_config(config)
    assert form.config().to_dict() == config.to_dict()


def test_form_widgets_write_their_config_fields(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.set_config(RunConfig())
    form.batch.setValue(12)
    form.method.setCurrentIndex(form.method.findData("mean-teacher"))
    form.encoder.setCurrentIndex(form.encoder.findData("large"))
    form.weights.setText("/w/vit.safetensors")
    config = form.config()
    assert (config.train.batch_size, config.train.method) == (12, "mean-teacher")
    assert (config.alignment.encoder, config.alignment.weights_file) == ("large", "/w/vit.safetensors")


def test_device_choice_lists_the_reported_gpus(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.set_device_info({"gpus": [{"index": 0, "name": "RTX 4090", "memory_gb": 24.0}], "cpu_threads": 16,
                          "default": "cuda"})
    items = [form.device.itemText(k) for k in range(form.device.count())]
    assert items == ["Automatic (GPU if available)", "GPU 0: RTX 4090 (24.0 GB)", "CPU (16 threads)"]
    form.device.setCurrentIndex(1)
    assert form.config().train.device == "cuda:0"


def test_choosing_a_preset_sets_the_schedule_and_keeps_method_and_encoder(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    config = RunConfig()
    config.train.method, config.alignment.weights_file = "bcp", "/w/dinov2.pth"
    form.set_config(config)
    form.preset.setCurrentIndex(form.preset.findData("demo"))
    form.preset.activated.emit(form.preset.currentIndex())
    chosen = form.config()
    assert chosen.to_dict() == apply_preset("demo", config).to_dict()
    assert (chosen.train.pretrain_iters, chosen.train.method, chosen.alignment.weights_file) == \
        (preset("demo").train.pretrain_iters, "bcp", "/w/dinov2.pth")


def test_preset_shows_custom_once_a_setting_differs(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.set_config(preset("demo"))
    assert form.preset.currentData() == "demo"
    form.batch.setValue(10)
    assert form.preset.currentData() == "custom"


def test_advanced_dialog_lists_every_field_the_form_does_not(qtbot):
    config = RunConfig()
    dialog = AdvancedDialog(config)
    qtbot.addWidget(dialog)
    every = {f"{section}.{key}" for section, values in config.to_dict().items() for key in values}
    assert set(dialog.editors) == every - set(FORM_KEYS)
    assert dialog.collect().to_dict() == config.to_dict()


def test_advanced_dialog_applies_edits_and_refuses_wrong_values(qtbot):
    dialog = AdvancedDialog(RunConfig())
    qtbot.addWidget(dialog)
    dialog.editors["blend.sigma"].setText("2.5")
    dialog.editors["data.labeled_count"].setText("4")
    dialog.editors["augment.enabled"].setChecked(False)
    dialog.accept()
    assert (dialog.result_config.blend.sigma, dialog.result_config.data.labeled_count) == (2.5, 4)
    assert dialog.result_config.augment.enabled is False
    dialog.editors["blend.kernel_size"].setText("4")
    dialog.show()
    dialog.accept()
    assert dialog.isVisible() and "kernel_size must be odd" in dialog.error.text()


def test_arrow_keys_edit_a_focused_number_despite_window_shortcuts(qtbot):
    window = QWidget()
    qtbot.addWidget(window)
    stepped = []
    QShortcut(QKeySequence("Up"), window, lambda: stepped.append(1))
    form = ConfigForm(window)
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)
    form.batch.setValue(8)
    form.batch.setFocus()
    qtbot.keyClick(form.batch, Qt.Key.Key_Up)
    assert form.batch.value() == 10 and not stepped


@pytest.mark.parametrize("weights_file, download, allow, style, text", [
    (__file__, False, False, "muted", "pretrained weights: test_train_workspace.py"),
    (None, True, False, "muted", "will try timm's download"),
    (None, False, True, "banner", "UNTRAINED encoder (allowed): results are not the method's"),
    (None, False, False, "error", "choose a weights file"),
])
def test_encoder_status_says_which_weights_a_run_would_use(weights_file, download, allow, style, text):
    config = RunConfig()
    config.alignment.weights_file, config.alignment.download, config.alignment.allow_untrained = \
        weights_file, download, allow
    got_style, got_text = encoder_status(config)
    assert got_style == style and text in got_text


# --- following a run through its files --------------------------------------------------------------------------------
def test_tail_holds_back_a_torn_line_until_its_end_arrives(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = FileTail(path)
    assert tail.read_lines() == []
    line = Event("progress", stage="pretrain", iteration=1, total=2, losses={"sup": 1.0}).to_json()
    path.write_text(line[:25])
    assert tail.read_lines() == []
    with open(path, "a") as fh:
        fh.write(line[25:] + "\n")
    assert [e.iteration for e in parse_event_lines(tail.read_lines())] == [1]


def test_torn_line_glued_to_the_next_event_still_yields_that_event():
    second = Event("stage", stage="pretrain", total=4, message="resumed").to_json()
    torn = Event("progress", stage="pretrain", iteration=3, total=4).to_json()[:30]
    events = parse_event_lines([torn + second, "not json", ""])
    assert [(e.event, e.message) for e in events] == [("stage", "resumed")]


def test_stage_two_points_continue_after_stage_one():
    p = RunProgress.for_config(quick_config(pretrain=4, selftrain=6))
    p.add(progress("pretrain", 4, 4, sup=1.0, total=1.0))
    p.add(progress("selftrain", 2, 6, sup=0.5, sa=0.2, total=0.7))
    assert p.losses.x == [4, 6] and p.total_iterations == 10 and p.global_iteration == 6
    assert p.losses.values["sa"][0] != p.losses.values["sa"][0]  # NaN before the term exists


def test_an_end_from_an_earlier_session_is_ignored():
    p = RunProgress(since=time.time())
    p.add(Event("done", status="stopped", time=time.time() - 60))
    assert p.status is None


# --- the workspace on prepared runs -----------------------------------------------------------------------------------
def test_untrained_encoder_warning_shows_the_banner_for_that_run(workspace, session):
    runs = session.project.runs_dir
    plain = fake_run(runs, "run-a", [progress("pretrain", 1, 2, sup=1.0, total=1.0)], {"status": "finished"})
    flagged = fake_run(runs, "run-b", [UNTRAINED, progress("pretrain", 1, 2, sup=1.0, total=1.0)],
                       {"status": "finished"})
    workspace.show_run(flagged)
    assert workspace.encoder_banner.isVisibleTo(workspace)
    workspace.show_run(plain)
    assert not workspace.encoder_banner.isVisibleTo(workspace)


def test_an_untrained_encoder_is_known_from_the_typed_field_or_run_json_not_the_text(workspace, session):
    runs_dir = session.project.runs_dir
    worded = fake_run(runs_dir, "worded", [Event("warning", message="encoder is UNTRAINED"),
                                           progress("pretrain", 1, 2, sup=1.0, total=1.0)], {"status": "finished"})
    old = fake_run(runs_dir, "old", [progress("pretrain", 1, 2, sup=1.0, total=1.0)],
                   {"status": "finished", "encoder": {"name": "small", "pretrained": False}})
    workspace.show_run(worded)
    assert not workspace.encoder_banner.isVisibleTo(workspace)
    workspace.show_run(old)
    assert workspace.encoder_banner.isVisibleTo(workspace)


def test_history_of_a_finished_run_fills_curves_progress_and_runs_list(workspace, session):
    run = fake_run(session.project.runs_dir, "sra-seg-1", [
        Event("stage", stage="pretrain", total=2, message="stage 1"),
        progress("pretrain", 2, 2, sup=1.0, total=1.0),
        Event("validation", stage="pretrain", iteration=2, total=2, dice={"RV": 0.5, "Myo": 0.4, "LV": 0.6},
              mean_dice=0.5, best_dice=0.5),
        progress("selftrain", 2, 2, sup=0.8, unsup=0.7, sa=0.3, total=1.53),
        Event("validation", stage="selftrain", iteration=2, total=2, dice={"RV": 0.7, "Myo": 0.6, "LV": 0.8},
              mean_dice=0.7, best_dice=0.7),
        Event("done", status="finished", best_dice=0.7)],
        {"status": "finished", "method": "sra-seg", "best_dice": 0.7, "created": time.time()})
    workspace._refresh_runs()
    workspace.show_run(run)
    assert set(workspace.curves.loss_curves) == {"sup", "unsup", "sa", "total"}
    assert set(workspace.curves.dice_curves) == {"mean", "RV", "Myo", "LV"}
    assert workspace.progress_bar.value() == 4 == workspace.progress_bar.maximum()
    row = [workspace.runs_table.item(0, col).text() for col in range(4)]
    assert row == ["sra-seg-1", "sra-seg", "finished", "0.700"]
    assert "Finished" in workspace.stage_label.text()


def test_a_run_whose_process_vanished_is_reported_with_its_log(workspace, session):
    run = fake_run(session.project.runs_dir, "crashed", [progress("pretrain", 1, 2, sup=1.0, total=1.0)],
                   {"status": "running", "pid": dead_pid()},
                   log="Traceback (most recent call last):\ntorch.OutOfMemoryError: CUDA out of memory.\n")
    workspace.show_run(run)
    assert workspace.monitor.progress.status == runs.DIED
    assert runs.describe(run).status == runs.DIED
    text = workspace.error_label.text()
    assert "CUDA out of memory" in text and "lower the batch size or the image size" in text


def test_a_run_refused_before_training_shows_the_cli_error(workspace, session):
    run = session.project.runs_dir / "early"
    run.mkdir()
    (run / runs.LOG_FILE).write_text("error: config.yaml: unknown section 'trian'\n")
    workspace.show_run(run)
    assert runs.describe(run).status == "failed" == workspace.monitor.progress.status
    assert "Training failed: config.yaml: unknown section 'trian'" in workspace.error_label.text()


# --- stop, close, resume with a stand-in process ----------------------------------------------------------------------
def test_can_close_cancel_keeps_the_window_and_the_run(workspace, session, monkeypatch):
    workspace.show_run(fake_run(session.project.runs_dir, "live", [], {}), process=stand_in())
    monkeypatch.setattr(workspace, "_ask_close", lambda: "cancel")
    assert workspace.can_close() is False
    assert workspace.monitor.live


def test_can_close_leave_running_keeps_the_process(workspace, session, monkeypatch):
    process = stand_in()
    workspace.show_run(fake_run(session.project.runs_dir, "live", [], {}), process=process)
    monkeypatch.setattr(workspace, "_ask_close", lambda: "leave")
    assert workspace.can_close() is True
    assert not workspace.monitor.live and process.poll() is None
    process.kill()
    process.wait()


def test_can_close_stop_training_signals_the_run(workspace, session, monkeypatch):
    process = stand_in()
    workspace.show_run(fake_run(session.project.runs_dir, "live", [], {}), process=process)
    monkeypatch.setattr(workspace, "_ask_close", lambda: "stop")
    assert workspace.can_close() is True
    assert process.wait(10) == -15


def test_the_followed_run_passes_through_the_job_states(workspace, session, qtbot):
    from sra_seg_app.model.jobs import JobState

    states = []
    workspace.monitor.stateChanged.connect(states.append)
    workspace.show_run(fake_run(session.project.runs_dir, "live", [], {}), process=stand_in())
    assert workspace.monitor.state == JobState.RUNNING
    workspace.monitor.request_stop()
    qtbot.waitUntil(lambda: not workspace.monitor.live, timeout=10_000)
    assert states == ["running", "cancelling", "finished"] and workspace.monitor.progress.status == "stopped"


def test_a_run_whose_process_died_ends_as_a_failed_job(workspace, session, qtbot):
    from sra_seg_app.model.jobs import JobState

    process = stand_in()
    workspace.show_run(fake_run(session.project.runs_dir, "dies", [], {}), process=process)
    process.kill()
    qtbot.waitUntil(lambda: not workspace.monitor.live, timeout=10_000)
    assert workspace.monitor.state == JobState.FAILED and workspace.monitor.progress.status == runs.DIED


def test_a_run_that_ignores_stop_is_offered_a_kill(workspace, session, qtbot):
    process = stand_in(ignore_sigterm=True)
    workspace.show_run(fake_run(session.project.runs_dir, "stubborn", [], {}), process=process)
    workspace._kill_timer.setInterval(50)
    workspace.stop()
    qtbot.waitUntil(lambda: workspace.kill_box is not None and workspace.kill_box.isVisible(), timeout=5000)
    assert process.poll() is None
    kill = next(b for b in workspace.kill_box.buttons() if b.text() == "Kill it")
    kill.click()
    qtbot.waitUntil(lambda: not workspace.monitor.live, timeout=10_000)
    assert workspace.monitor.progress.status == "stopped" and process.poll() == -9


def test_resume_dialog_lets_a_finished_run_grow_only(qtbot, tmp_path):
    run = runs.Run(tmp_path, "sra-seg", "finished", 0.5, None, None)
    dialog = ResumeDialog(run, quick_config(4, 6), ("selftrain", 6))
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled() and dialog.pretrain.minimum() == 4 and dialog.selftrain.minimum() == 6
    dialog.selftrain.setValue(10)
    assert ok.isEnabled() and dialog.iterations() == (4, 10)


# --- real training runs -----------------------------------------------------------------------------------------------
def _start(ws: TrainWorkspace, config: RunConfig) -> Path:
    ws.form.set_config(config)
    ws.start()
    assert ws.monitor.live, ws.error_label.text()
    return ws.monitor.run_dir


@pytest.mark.slow
def test_start_trains_plots_and_finishes(workspace, qtbot):
    run = _start(workspace, quick_config())
    assert (run / runs.CONFIG_FILE).is_file() and runs.read_config(run).train.pretrain_iters == 2
    qtbot.waitUntil(lambda: not workspace.monitor.live, timeout=RUN_TIMEOUT_MS)
    assert workspace.monitor.progress.status == "finished", workspace.error_label.text()
    assert workspace.curves.point_count() == 4 and set(workspace.curves.loss_curves) >= {"sup", "unsup", "sa"}
    assert "mean" in workspace.curves.dice_curves
    assert workspace.progress_bar.value() == workspace.progress_bar.maximum() == 4
    assert runs.read_meta(run).status == "finished" and (run / "checkpoints" / "best.pt").is_file()
    assert workspace.encoder_banner.isVisibleTo(workspace)


def test_stop_ends_a_long_run_as_stopped_with_its_latest_checkpoint(workspace, qtbot):
    run = _start(workspace, quick_config(pretrain=10_000, selftrain=10_000))
    qtbot.waitUntil(lambda: workspace.monitor.progress.stage == "pretrain", timeout=RUN_TIMEOUT_MS)
    workspace.stop()
    assert workspace.stop_button.text().strip() == "Stopping…"
    qtbot.waitUntil(lambda: not workspace.monitor.live, timeout=RUN_TIMEOUT_MS)
    assert workspace.monitor.progress.status == "stopped"
    assert runs.read_meta(run).status == "stopped" and (run / Path(runs.CHECKPOINT_DIR, runs.LATEST)).is_file()
    assert "Resume continues" in workspace.stage_label.text()


def test_missing_encoder_weights_fail_with_the_weights_hint(workspace, qtbot):
    config = quick_config()
    config.alignment.allow_untrained = False
    _start(workspace, config)
    qtbot.waitUntil(lambda: not workspace.monitor.live, timeout=RUN_TIMEOUT_MS)
    assert workspace.monitor.progress.status == "failed"
    assert workspace.error_label.isVisibleTo(workspace)
    assert "--dinov2-weights" in workspace.error_label.text()
    assert "Allow an untrained encoder" in workspace.error_label.text()


def test_a_new_workspace_reattaches_to_a_run_still_training(workspace, session, qtbot, monkeypatch):
    run = _start(workspace, quick_config(pretrain=10_000, selftrain=10_000))
    qtbot.waitUntil(lambda: runs.read_meta(run).status == "running", timeout=RUN_TIMEOUT_MS)
    monkeypatch.setattr(workspace, "_ask_close", lambda: "leave")
    assert workspace.can_close()
    reopened = TrainWorkspace(session)
    qtbot.addWidget(reopened)
    try:
        assert reopened.monitor.live and reopened.monitor.run_dir == run
        assert reopened.monitor.pid == workspace.monitor.pid
        reopened.stop()
        qtbot.waitUntil(lambda: not reopened.monitor.live, timeout=RUN_TIMEOUT_MS)
        assert reopened.monitor.progress.status == "stopped"
    finally:
        _end_run(reopened)


@pytest.mark.slow
def test_resume_trains_a_finished_run_further(workspace, qtbot, monkeypatch):
    run = _start(workspace, quick_config(pretrain=2, selftrain=2))
    qtbot.waitUntil(lambda: not workspace.monitor.live, timeout=RUN_TIMEOUT_MS)
    assert workspace.monitor.progress.status == "finished", workspace.error_label.text()
    workspace._select_row(run)
    monkeypatch.setattr(ResumeDialog, "exec", lambda dialog: dialog.selftrain.setValue(4) or 1)
    workspace.resume_selected()
    assert workspace.monitor.live
    qtbot.waitUntil(lambda: not workspace.monitor.live, timeout=RUN_TIMEOUT_MS)
    p = workspace.monitor.progress
    assert p.status == "finished", workspace.error_label.text()
    assert p.totals == {"pretrain": 2, "selftrain": 4} and p.losses.x[-1] == 6
    assert runs.read_config(run).train.selftrain_iters == 4


def test_training_does_not_start_when_the_labels_cannot_be_saved(workspace, monkeypatch):
    import errno

    import numpy as np

    from sra_seg_core.annotation import SliceEdit

    s = workspace.session
    s.select_case(next(c.id for c in s.project.cases if c.role == "real"))
    indices = np.arange(4)
    s.commit([SliceEdit(s.z, indices, s.labels()[s.z].ravel()[indices].copy(), np.full(4, 2, np.uint8))], "paint")

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "labels/case.nii.gz")

    monkeypatch.setattr(s.project, "save_label", full_disk)
    monkeypatch.setattr(rf, "launch", lambda *a, **k: pytest.fail("training started on stale label files"))
    workspace.start()
    assert not workspace.error_label.isHidden() and "No space left on device" in workspace.error_label.text()
    s.close_project(force=True)


def test_best_dice_reads_the_same_in_the_header_and_the_runs_table(workspace, session):
    run = fake_run(session.project.runs_dir, "killed", [
        Event("validation", stage="pretrain", iteration=2, total=4, dice={"RV": 0.5}, mean_dice=0.5, best_dice=0.5)],
        {"status": "stopped", "method": "supervised", "created": time.time()})   # ended before writing best_dice
    workspace.show_run(run)
    assert workspace.best_label.text().startswith("best Dice 0.500")
    assert workspace.runs_table.item(0, 3).text() == "0.500"


def test_no_validation_yet_is_a_dash_everywhere(workspace, session):
    run = fake_run(session.project.runs_dir, "early", [
        Event("done", status="stopped", best_dice=-1.0, message="training stopped; best validation mean Dice -1.0000")],
        {"status": "stopped", "method": "supervised", "best_dice": -1.0, "created": time.time()})
    workspace.show_run(run)
    assert workspace.best_label.text() == "best Dice –" and workspace.runs_table.item(0, 3).text() == "–"
    assert "-1.0000" not in workspace.log.toPlainText()


def test_resume_is_offered_where_the_main_button_is(workspace, session):
    run = fake_run(session.project.runs_dir, "stopped", [progress("pretrain", 1, 4, sup=1.0, total=1.0)],
                   {"status": "stopped", "method": "supervised", "created": time.time()})
    (run / runs.CHECKPOINT_DIR / runs.LATEST).write_bytes(b"x")
    workspace._refresh_runs()
    workspace._select_row(run)
    assert not workspace.resume_main.isHidden() and workspace.resume_main.isEnabled()
    assert workspace.resume_main.parentWidget() is workspace.start_button.parentWidget()


def test_after_resume_the_curves_and_the_log_follow_the_run(workspace, session):
    run = fake_run(session.project.runs_dir, "resumed", [
        progress("pretrain", 2, 2, sup=1.0, total=1.0), progress("selftrain", 2, 2, sup=0.9, total=0.9),
        Event("checkpoint", stage="selftrain", iteration=2, kind="latest", path="x"),
        Event("done", status="finished", best_dice=0.5)],
        {"status": "finished", "method": "sra-seg", "created": time.time()})
    process = stand_in()   # the resumed trainer
    try:
        workspace.show_run(run, process=process, config=quick_config(2, 4))
        points = workspace.curves.point_count()
        with open(run / runs.EVENTS_FILE, "a") as fh:
            fh.writelines(progress("selftrain", it, 4, sup=0.8, total=0.8).to_json() + "\n" for it in (3, 4))
        with open(run / runs.LOG_FILE, "a") as fh:
            fh.write("a line the resumed run wrote\n")
        workspace.monitor.poll()
        assert workspace.monitor.live and workspace.curves.point_count() == points + 2
        assert "a line the resumed run wrote" in workspace.log.toPlainText()
        assert workspace.curves.loss_plot.getViewBox().autoRangeEnabled()[0]
    finally:
        process.kill()
        process.wait()
