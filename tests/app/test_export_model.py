"""The Export workspace's model: remembered choices, the folder rule, the engine command, the summary (no widgets)."""

from __future__ import annotations

from pathlib import Path

from sra_seg_app.model import export as model
from sra_seg_app.model.export import ExportChoices, FolderState


def test_choices_default_to_a_folder_beside_the_project_and_the_usual_formats(session):
    choices = ExportChoices.from_settings(session.project)
    path = session.project.path
    assert choices.folder == str(path.parent / f"{path.name}-export")
    assert choices.source == "approved" and choices.formats == model.DEFAULT_FORMATS
    assert not choices.formats["dicom_seg"]


def test_remembered_choices_round_trip_and_malformed_ones_fall_back(session):
    chosen = ExportChoices(folder="/x", source="both", formats={**model.DEFAULT_FORMATS, "dicom_seg": True},
                           opacity=0.7)
    session.project.settings[model.SETTINGS_KEY] = chosen.to_settings()
    assert ExportChoices.from_settings(session.project) == chosen
    session.project.settings[model.SETTINGS_KEY] = {"source": "everything", "opacity": "high", "nifti": 0}
    fallback = ExportChoices.from_settings(session.project)
    assert fallback.source == "approved" and fallback.opacity == model.DEFAULT_OPACITY
    assert not fallback.formats["nifti"]


def test_choices_become_the_engines_typed_options():
    options = ExportChoices(source="prediction", formats={**model.DEFAULT_FORMATS, "dicom_seg": True},
                            opacity=0.3).options()
    assert options.source == "prediction" and options.dicom_seg and options.overlay_opacity == 0.3


def test_a_folder_with_other_files_needs_consent_but_an_earlier_export_does_not(tmp_path):
    assert model.folder_state(tmp_path / "new") == FolderState.USABLE
    (tmp_path / "file").write_text("x")
    assert model.folder_state(tmp_path / "file") == FolderState.NOT_A_FOLDER
    assert model.folder_state(tmp_path) == FolderState.HOLDS_OTHER_FILES
    (tmp_path / model.MARKER).write_text("{}")
    assert model.folder_state(tmp_path) == FolderState.USABLE


def test_overwrite_is_passed_to_the_engine_only_when_agreed():
    options = ExportChoices().options()
    assert "--overwrite" not in model.export_args(Path("p"), Path("o"), options)
    assert model.export_args(Path("p"), Path("o"), options, overwrite=True)[-1] == "--overwrite"


def test_quick_selection_and_the_skip_count_use_one_labelled_rule(session):
    project = session.project
    labelled = model.quick_selection(project, "labelled")
    everything = model.quick_selection(project, "all")
    assert labelled and set(labelled) < set(everything) and model.quick_selection(project, "none") == []
    text = model.count_text(project, everything, len(everything), "approved")
    assert f"{len(everything) - len(labelled)} of them" in text and "will be skipped" in text
    assert "skipped" not in model.count_text(project, labelled, len(everything), "approved")


def test_the_preview_falls_back_to_the_first_ticked_case_with_something_to_show(session):
    project = session.project
    labelled = model.quick_selection(project, "labelled")
    unlabelled = [c for c in model.quick_selection(project, "all") if c not in labelled]
    assert model.preview_target(project, "", unlabelled + labelled, "approved") == labelled[0]
    assert model.preview_kind(project, project.case(unlabelled[0]), "approved") is None
    assert model.preview_kind(project, project.case(labelled[0]), "prediction") == "approved"


def test_the_summary_says_what_was_written_and_what_was_stopped():
    result = {"exported": ["a"], "total": 3, "files": 4, "cancelled": True, "failed": [("b", "bad")], "skipped": []}
    assert model.result_headline(result).startswith("Stopped after 1 of 3 cases")
    assert model.failed_text(result).startswith("1 case could not")
    assert model.metrics_lines({"metrics": {"prediction": {"dice": 0.5, "cases": 2}}}) == [("prediction", 50.0, 2)]
