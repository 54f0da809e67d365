"""The Export workspace: choosing cases and options, exporting through the real child process, the summary."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog

from sra_seg_core.annotation import make_edit
from sra_seg_core.io import read_label
from sra_seg_app.workspaces.export import ExportWorkspace

LABELLED = ["patient001_frame01", "patient001_frame09"]  # the demo's cases with approved labels


@pytest.fixture
def workspace(qtbot, session):
    ws = ExportWorkspace(session)
    qtbot.addWidget(ws)
    ws.resize(1100, 800)
    ws.show()
    ws.activated()
    yield ws
    ws.shutdown()


def export(ws, qtbot, out, *, timeout=60000):
    ws.folder_edit.setText(str(out))
    with qtbot.waitSignal(ws.run.finished, timeout=timeout):
        assert ws.start_export()


def predict_references(session):
    """Give every case with a reference label a prediction: the reference without its first slice."""
    project = session.project
    for case in project.cases:
        if case.reference:
            prediction = project.read_reference(case.id).array.copy()
            prediction[0] = 0
            project.save_prediction(case.id, prediction)
            session.forget_prediction(case.id)
    return [c.id for c in project.cases if c.prediction]


def test_opens_with_the_labelled_cases_ticked_and_a_folder_beside_the_project(workspace, demo_path):
    assert workspace.selected_cases() == LABELLED
    assert workspace.selected_source() == "approved"
    assert workspace.folder_edit.text() == str(demo_path.parent / "demo-export")
    assert workspace.export_button.isEnabled()


def test_quick_selection_ticks_predicted_or_no_cases(workspace, session):
    predicted = predict_references(session)
    workspace.activated()
    workspace.quick["predicted"].click()
    assert workspace.selected_cases() == predicted
    workspace.quick["none"].click()
    assert workspace.selected_cases() == [] and not workspace.export_button.isEnabled()
    workspace.quick["all"].click()
    assert len(workspace.selected_cases()) == len(session.project.cases)


def test_export_runs_in_a_child_process_and_summarises_what_it_wrote(workspace, qtbot, tmp_path, monkeypatch):
    workspace.format_buttons["png_masks"].setChecked(True)
    export(workspace, qtbot, tmp_path / "out")
    out = tmp_path / "out"
    for case in LABELLED:
        assert read_label(out / "nifti" / f"{case}.nii.gz").array.any()
        assert any((out / "png" / case).glob("*.png")) and any((out / "overlays" / case).glob("*.png"))
    report = json.loads((out / "export.json").read_text())
    assert report["exported"] == LABELLED and report["formats"]["png_masks"]
    assert f"Exported 2 of 2 cases · {report['files']} files" in workspace.summary.text()
    assert not workspace.error_label.isVisible() and workspace.export_button.isVisible()
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    workspace.open_button.click()
    assert opened == [str(out)]


def test_unsaved_edits_are_saved_first_and_exported(workspace, session, qtbot, tmp_path):
    case = next(c.id for c in session.project.cases if c.role == "real" and not c.label)
    session.select_case(case)
    edit = make_edit(session.labels()[session.z], session.z, np.arange(5), 2)
    assert session.commit([edit], "paint") and session.dirty
    workspace.activated()
    workspace.set_selected_cases([case])
    export(workspace, qtbot, tmp_path / "out")
    assert not session.dirty
    exported = read_label(tmp_path / "out" / "nifti" / f"{case}.nii.gz").array
    assert np.all(exported[session.z].ravel()[:5] == 2)


def test_skipped_cases_and_metrics_appear_in_the_summary(workspace, session, qtbot, tmp_path):
    predict_references(session)
    workspace.activated()
    workspace.source_buttons["prediction"].click()
    workspace.quick["all"].click()
    export(workspace, qtbot, tmp_path / "out")
    problems = [workspace.problems.item(k).text() for k in range(workspace.problems.count())]
    assert f"{LABELLED[0]} — no prediction" in problems
    assert workspace.problems.isVisible()
    assert "Mean Dice of the predictions against the reference" in workspace.summary.text()
    assert (tmp_path / "out" / "metrics.csv").exists()


def test_the_chosen_folder_and_options_are_remembered_in_the_project(workspace, session, qtbot, tmp_path,
                                                                     demo_path, monkeypatch):
    workspace.source_buttons["both"].click()
    workspace.opacity.setValue(70)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(tmp_path / "chosen"))
    workspace.choose_folder()
    session.close_project()
    session.open_project(demo_path)
    again = ExportWorkspace(session)
    qtbot.addWidget(again)
    assert again.folder_edit.text() == str(tmp_path / "chosen")
    assert again.selected_source() == "both" and again.opacity.value() == 70


def test_a_failed_export_shows_the_engine_error(workspace, qtbot, tmp_path):
    (tmp_path / "file.txt").write_text("not a folder")
    export(workspace, qtbot, tmp_path / "file.txt" / "out")
    assert workspace.error_label.isVisible()
    assert "Export failed" in workspace.error_label.text() and "export folder" in workspace.error_label.text()
    assert workspace.result is None and not workspace.open_button.isEnabled()


def test_cancel_stops_the_child_and_keeps_what_was_written(workspace, session, qtbot, tmp_path):
    predict_references(session)
    workspace.activated()
    workspace.source_buttons["both"].click()
    workspace.quick["all"].click()
    workspace.format_buttons["png_masks"].setChecked(True)
    workspace.run.event.connect(lambda event: event.event == "progress" and workspace.cancel())
    export(workspace, qtbot, tmp_path / "out")
    assert workspace.result["cancelled"]
    assert "Stopped after" in workspace.summary.text()
    assert json.loads((tmp_path / "out" / "export.json").read_text())["cancelled"] is True
    assert not list((tmp_path / "out").rglob(".*.tmp*"))  # stopped between files, not killed mid-write


def test_a_folder_holding_other_files_is_used_only_after_the_user_agrees(workspace, qtbot, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    asked = []
    monkeypatch.setattr(workspace, "confirm_non_empty", lambda folder: asked.append(folder) or False)
    workspace.folder_edit.setText(str(out))
    assert not workspace.start_export() and not workspace.run.running
    monkeypatch.setattr(workspace, "confirm_non_empty", lambda folder: asked.append(folder) or True)
    export(workspace, qtbot, out)
    assert asked == [out, out] and "--overwrite" in workspace.run.args
    assert (out / "export.json").exists() and (out / "notes.txt").read_text() == "mine"
    assert not workspace.error_label.isVisible()


def test_the_dicom_seg_format_is_offered_and_skips_cases_not_from_dicom(workspace, qtbot, tmp_path):
    workspace.format_buttons["dicom_seg"].setChecked(True)
    assert workspace.export_options().dicom_seg and "--dicom-seg" in workspace.export_options().cli_args()
    export(workspace, qtbot, tmp_path / "out")
    problems = [workspace.problems.item(k).text() for k in range(workspace.problems.count())]
    assert any("DICOM" in text for text in problems)   # the demo's cases come from NIfTI files
    assert json.loads((tmp_path / "out" / "export.json").read_text())["formats"]["dicom_seg"] is True
