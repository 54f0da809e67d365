"""The Review workspace: run a model from the window (a real child process), review its predictions most uncertain
first, accept them as labels, and see metrics where a reference exists."""

from __future__ import annotations

import contextlib
import io as stdio
import os
import shutil
import time

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QMessageBox

from sra_seg_core import cli
from sra_seg_core.annotation import SliceEdit
from sra_seg_core.project import Project
from sra_seg_core.review import import_prediction
from sra_seg_app.workspaces.review import CASE, DICE, SORT_ROLE, STATUS, UNCERTAINTY, ReviewWorkspace
from sra_seg_app.model.session import Session

REFERENCE_CASE = "patient002_frame01"    # reference labels only: predicted, nothing approved yet
APPROVED_CASE = "patient001_frame01"     # approved labels on every slice, no reference
PREDICTED = (APPROVED_CASE, REFERENCE_CASE, "patient003_frame08")


def copy_project(source, target):
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".lock"))
    return target


@pytest.fixture(scope="session")
def trained_demo(demo_template, tmp_path_factory):
    """The small demo project with a tiny model trained on it (2 + 2 iterations, SA off) in runs/tiny."""
    from sra_seg_core.config import preset
    from sra_seg_core.trainer import Trainer

    path = copy_project(demo_template, tmp_path_factory.mktemp("review") / "demo")
    c = preset("tiny")
    c.data.root = str(path)
    c.alignment.enabled = False
    c.train.pretrain_iters = c.train.selftrain_iters = 2
    c.train.num_threads = 2
    assert Trainer(c, path / "runs" / "tiny", emit=lambda e: None).run().best_path is not None
    return path


@pytest.fixture(scope="session")
def predicted_demo(trained_demo, tmp_path_factory):
    """The trained demo with predictions of three real cases stored as the app stores them."""
    path = copy_project(trained_demo, tmp_path_factory.mktemp("predicted") / "demo")
    out = tmp_path_factory.mktemp("predictions")
    with contextlib.redirect_stdout(stdio.StringIO()):
        assert cli.main(["project", "predict", str(path), "--checkpoint",
                         str(path / "runs" / "tiny" / "checkpoints" / "best.pt"), "--output", str(out),
                         "--cases", *PREDICTED]) == 0
    with Project.open(path) as project:
        for case in PREDICTED:
            import_prediction(project, case, out)
    return path


def open_workspace(qtbot, path):
    session = Session()
    session.open_project(path)
    workspace = ReviewWorkspace(session)
    qtbot.addWidget(workspace)
    workspace.resize(1200, 800)
    workspace.show()
    qtbot.waitExposed(workspace)
    workspace.activated()
    return workspace


@pytest.fixture
def workspace(qtbot, predicted_demo, tmp_path):
    ws = open_workspace(qtbot, copy_project(predicted_demo, tmp_path / "demo"))
    yield ws
    ws.session.close_project()


@pytest.fixture
def fresh(qtbot, trained_demo, tmp_path):
    """A workspace on the trained demo before any prediction."""
    ws = open_workspace(qtbot, copy_project(trained_demo, tmp_path / "demo"))
    yield ws
    if ws.run.running:
        ws.run.kill()
        ws.run.wait(5000)
    ws.session.close_project()


def table_column(ws, column, role=Qt.ItemDataRole.DisplayRole):
    return [ws.table.item(row, column).data(role) for row in range(ws.table.rowCount())]


def wait_for_run(qtbot, ws, timeout=180_000):
    qtbot.waitUntil(lambda: not ws.run.running, timeout=timeout)


def new_run(runs, name, age_s):
    """A copy of the tiny run whose checkpoint was written ``age_s`` seconds from now (negative: in the past)."""
    shutil.copytree(runs / "tiny", runs / name)
    when = time.time() + age_s
    os.utime(runs / name / "checkpoints" / "best.pt", (when, when))


# --- choosing a model --------------------------------------------------------------------------------------------
def test_the_newest_run_is_the_default_model_and_shows_its_dice(fresh):
    runs = fresh.session.project.runs_dir
    new_run(runs, "older", -3600)
    fresh.activated()
    assert fresh.checkpoint.count() == 2
    assert fresh.checkpoint.currentData() == str(runs / "tiny" / "checkpoints" / "best.pt")
    assert fresh.checkpoint.currentText().startswith("tiny  ·  Dice 0.")


def test_a_newer_run_becomes_the_default_unless_another_model_was_chosen(fresh):
    runs = fresh.session.project.runs_dir
    new_run(runs, "newer", 10)
    fresh.activated()
    assert fresh.checkpoint.currentData() == str(runs / "newer" / "checkpoints" / "best.pt")
    fresh.checkpoint.setCurrentIndex(fresh.checkpoint.findData(str(runs / "tiny" / "checkpoints" / "best.pt")))
    new_run(runs, "newest", 20)
    fresh.activated()
    assert fresh.checkpoint.currentData() == str(runs / "tiny" / "checkpoints" / "best.pt")


def test_a_checkpoint_file_from_elsewhere_can_be_chosen(fresh, tmp_path):
    elsewhere = tmp_path / "model" / "best.pt"
    elsewhere.parent.mkdir()
    shutil.copy(fresh.session.project.runs_dir / "tiny" / "checkpoints" / "best.pt", elsewhere)
    fresh.add_checkpoint(elsewhere)
    fresh.activated()   # still offered after the list is refreshed
    assert fresh.checkpoint.currentData() == str(elsewhere)


def test_without_a_model_run_says_what_to_do(qtbot, demo_path):
    ws = open_workspace(qtbot, demo_path)
    assert not ws.run_button.isEnabled()
    assert not ws.run_model()
    assert ws.run_error.isVisibleTo(ws) and "Train workspace" in ws.run_error.text()
    ws.session.close_project()


# --- running the model -------------------------------------------------------------------------------------------
def test_running_the_model_stores_predictions_in_the_project(fresh, qtbot):
    cases = ["patient002_frame11", "patient003_frame01"]
    fresh.table.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for case in cases:
        fresh.table.selectionModel().select(fresh.table.model().index(fresh._rows[case], CASE), flags)
    assert fresh.scope.itemText(fresh.scope.findData("selected")).endswith("(2)")
    fresh.scope.setCurrentIndex(fresh.scope.findData("selected"))
    with qtbot.waitSignal(fresh.run.started, timeout=10_000):
        assert fresh.run_model()
    assert fresh.cancel_button.isVisibleTo(fresh) and not fresh.run_button.isVisibleTo(fresh)
    wait_for_run(qtbot, fresh)
    project = fresh.session.project
    assert [c.id for c in project.cases if c.prediction is not None] == cases
    assert all(fresh.session.prediction(case) is not None for case in cases)
    assert (fresh.progress.value(), fresh.progress.maximum()) == (2, 2)
    predicted_rows = [fresh._rows[case] for case in cases]
    assert sorted(predicted_rows) == [0, 1]   # predicted cases rise to the top, unpredicted ones sink
    assert not fresh.run_error.isVisibleTo(fresh)
    reopened = Project.open(project.path, read_only=True)   # what was stored survives the session
    assert all(reopened.case(case).prediction is not None for case in cases)


def test_cancel_stops_the_model_and_says_so(fresh, qtbot):
    fresh.scope.setCurrentIndex(fresh.scope.findData("real"))
    with qtbot.waitSignal(fresh.run.started, timeout=10_000):
        fresh.run_model()
    fresh.cancel()
    wait_for_run(qtbot, fresh, timeout=30_000)
    assert fresh.run_status.text().startswith("Cancelled")
    assert fresh.run_button.isVisibleTo(fresh) and fresh.run_button.isEnabled()


def test_closing_the_project_stops_the_model(fresh, qtbot):
    with qtbot.waitSignal(fresh.run.started, timeout=10_000):
        fresh.run_model()
    with qtbot.waitSignal(fresh.run.finished, timeout=30_000):
        fresh.session.close_project()
    assert not fresh.run.running and not fresh.run_error.isVisibleTo(fresh)
    assert fresh.table.rowCount() == 0 and not fresh.run_button.isEnabled()


def test_a_failing_model_run_shows_the_reason(fresh, qtbot, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    fresh.add_checkpoint(broken)
    fresh.run_model()
    wait_for_run(qtbot, fresh, timeout=60_000)
    assert fresh.run_error.isVisibleTo(fresh) and "not a readable SRA-Seg checkpoint" in fresh.run_error.text()


# --- the case table ------------------------------------------------------------------------------------------------
def test_cases_are_sorted_most_uncertain_first(workspace):
    scores = table_column(workspace, UNCERTAINTY, SORT_ROLE)
    predicted = [s for s in scores if s >= 0]
    assert len(predicted) == len(PREDICTED) and predicted == sorted(predicted, reverse=True)
    assert scores[:len(PREDICTED)] == predicted   # the unpredicted cases come last
    assert table_column(workspace, STATUS, Qt.ItemDataRole.ToolTipRole)[-1].startswith("Not predicted")


def test_the_table_shows_dice_only_where_a_reference_exists(workspace):
    dice = dict(zip(table_column(workspace, CASE), table_column(workspace, DICE)))
    assert dice[APPROVED_CASE] == "–"
    assert dice[REFERENCE_CASE].endswith(" %")


def test_selecting_a_case_shows_its_most_uncertain_slice(workspace):
    report = workspace.session.project.settings["review"][REFERENCE_CASE]
    workspace.table.setCurrentCell(workspace._rows[REFERENCE_CASE], CASE)
    assert workspace.session.case_id == REFERENCE_CASE
    assert workspace.session.z == int(np.argmax(report["slice_uncertainty"]))
    assert "uncertainty" in workspace.slice_label.text()


def test_next_case_follows_the_table_order(workspace):
    order = table_column(workspace, CASE)
    workspace.show_case(order[0])
    workspace.next_case()
    assert workspace.session.case_id == order[1]
    workspace.previous_case()
    assert workspace.session.case_id == order[0]


# --- accepting -----------------------------------------------------------------------------------------------------
def test_accept_slice_makes_the_prediction_an_approved_label_marked_done(workspace):
    s = workspace.session
    workspace.show_case(REFERENCE_CASE)
    s.set_slice(3)
    assert workspace.accept_slice()
    prediction = s.project.read_prediction(REFERENCE_CASE).array
    label = s.project.read_label(REFERENCE_CASE).array
    assert np.array_equal(label[3], prediction[3]) and not label[np.arange(len(label)) != 3].any()
    assert s.slice_status(REFERENCE_CASE) == "...d....."
    assert np.array_equal(s.labels(REFERENCE_CASE), label)   # the session shows what is on disk
    assert table_column(workspace, STATUS)[workspace._rows[REFERENCE_CASE]] == "1/9"


def test_accept_case_approves_every_slice(workspace):
    s = workspace.session
    workspace.show_case(REFERENCE_CASE)
    assert workspace.accept_case()
    assert np.array_equal(s.project.read_label(REFERENCE_CASE).array, s.project.read_prediction(REFERENCE_CASE).array)
    assert set(s.slice_status(REFERENCE_CASE)) == {"d"}
    assert table_column(workspace, STATUS)[workspace._rows[REFERENCE_CASE]] == "9/9"


def test_accepting_over_different_approved_labels_asks_first(workspace, monkeypatch):
    s = workspace.session
    workspace.show_case(APPROVED_CASE)
    before = s.project.read_label(APPROVED_CASE).array.copy()
    answers = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop())
    answers.append(QMessageBox.StandardButton.Cancel)
    assert not workspace.accept_case()
    assert np.array_equal(s.project.read_label(APPROVED_CASE).array, before)
    answers.append(QMessageBox.StandardButton.Yes)
    assert workspace.accept_case()
    assert np.array_equal(s.project.read_label(APPROVED_CASE).array, s.project.read_prediction(APPROVED_CASE).array)


def test_unsaved_strokes_are_saved_before_accepting(workspace):
    from sra_seg_core.annotation import paint

    s = workspace.session
    workspace.show_case(REFERENCE_CASE)
    s.set_slice(0)
    s.commit([paint(s.labels()[0], 0, np.arange(5), 2)], "Brush")
    assert s.dirty
    s.set_slice(4)
    assert workspace.accept_slice()
    label = s.project.read_label(REFERENCE_CASE).array
    assert (label[0].ravel()[:5] == 2).all() and not s.dirty


def test_correct_in_label_starts_from_the_prediction_and_asks_for_the_label_workspace(workspace, qtbot):
    s = workspace.session
    workspace.show_case(REFERENCE_CASE)
    s.set_slice(2)
    with qtbot.waitSignal(workspace.correctRequested) as signal:
        workspace.correct_in_label()
    assert signal.args == [REFERENCE_CASE, 2]
    assert np.array_equal(s.labels()[2], s.prediction()[2])
    assert s.slice_status()[2] == "p"   # being corrected, not done


def test_correct_in_label_keeps_approved_labels(workspace, qtbot):
    s = workspace.session
    workspace.show_case(APPROVED_CASE)
    before = s.labels().copy()
    with qtbot.waitSignal(workspace.correctRequested):
        workspace.correct_in_label()
    assert np.array_equal(s.labels(), before) and set(s.slice_status()) == {"d"}


def test_keys_accept_slices_and_cases(workspace, qtbot):
    s = workspace.session
    workspace.show_case(REFERENCE_CASE)
    workspace.activateWindow()
    qtbot.waitUntil(lambda: workspace.isActiveWindow())
    s.set_slice(1)
    qtbot.keyClick(workspace.table, Qt.Key.Key_A)
    assert s.slice_status()[1] == "d"
    qtbot.keyClick(workspace.table, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    assert set(s.slice_status()) == {"d"}


# --- metrics -------------------------------------------------------------------------------------------------------
def test_metrics_are_shown_for_a_case_with_a_reference(workspace):
    workspace.show_case(REFERENCE_CASE)
    table = workspace.metrics
    rows = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    assert [row[0] for row in rows] == ["RV", "Myo", "LV", "Mean"]
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == ["Class", "Dice %",
                                                                                         "HD95 mm"]
    report = workspace.session.project.settings["review"][REFERENCE_CASE]
    assert rows[0][1] == f"{100 * report['metrics'][0]['dice']:.1f}"
    assert rows[-1][1] == f"{100 * report['mean_dice']:.1f}"
    assert workspace.metrics.isVisibleTo(workspace) and not workspace.metrics_note.isVisibleTo(workspace)


def test_a_class_the_model_did_not_predict_shows_no_prediction_not_a_perfect_distance(workspace):
    report = workspace.session.project.settings["review"][REFERENCE_CASE]
    first = report["metrics"][0]
    first.update(dice=0.0, jaccard=0.0, hd95=0.0, asd=0.0, hd95_mm=0.0, asd_mm=0.0, missing_prediction=True)
    others = [m["hd95_mm"] for m in report["metrics"][1:] if not m["missing_prediction"] and m["hd95_mm"] is not None]
    workspace.show_case(REFERENCE_CASE)
    table = workspace.metrics
    assert table.item(0, 2).text() == "no prediction" and table.item(0, 1).text() == "0.0"
    assert table.item(table.rowCount() - 1, 2).text() == f"{sum(others) / len(others):.1f}"


def test_a_case_without_a_reference_explains_why_there_are_no_metrics(workspace):
    workspace.show_case(APPROVED_CASE)
    assert not workspace.metrics.isVisibleTo(workspace)
    assert "no reference labels" in workspace.metrics_note.text()


def test_the_right_view_can_show_the_reference(workspace):
    workspace.show_case(REFERENCE_CASE)
    workspace.compare.setCurrentIndex(workspace.compare.findData("reference"))
    reference = workspace.session.reference(REFERENCE_CASE)
    shown = workspace.ref_canvas.label_item.image
    assert workspace.ref_canvas.label_item.isVisible()
    assert np.array_equal(shown, reference[workspace.session.z])
    workspace.show_case(APPROVED_CASE)   # no reference there: back to the approved labels
    assert workspace.compare.currentData() == "approved"


def test_correct_in_label_keeps_the_undo_history_and_says_in_progress(workspace, qtbot):
    s = workspace.session
    workspace.show_case(REFERENCE_CASE)
    s.set_slice(1)
    indices = np.arange(3)
    s.commit([SliceEdit(1, indices, s.labels()[1].ravel()[indices].copy(), np.full(3, 1, np.uint8))], "earlier")
    s.set_slice(2)
    messages = []
    s.message.connect(messages.append)
    workspace.correct_in_label()
    assert s.history.count() == 2 and s.history.undo_text() == "Start from the prediction"
    assert s.slice_status()[2] == "p" and "in progress" in messages[-1] and "done" not in messages[-1].split(":")[0]
    s.history.undo()
    assert not s.labels()[2].any()
