"""The Plan panel's model: the options a choice makes, remembered weights, progress and suggestion texts."""

from __future__ import annotations

from pathlib import Path

from sra_seg_app.model import plan as model


def test_each_strategy_passes_only_the_choices_it_uses():
    diverse = model.suggest_options("diverse", 0.1, "slices", "intensity", "/runs/a")
    assert (diverse.unit, diverse.features, diverse.run_dir) == ("slices", "intensity", None)
    disagreement = model.suggest_options("disagreement", 0.1, "slices", "intensity", "/runs/a")
    assert (disagreement.features, disagreement.run_dir) == ("auto", "/runs/a")
    assert model.suggest_options("random", 0.1, "slices", "dinov2", None).unit == "patients"


def test_the_weights_file_is_remembered_as_an_absolute_path_and_forgotten(session, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model.set_weights_file(session.project, "w.pth")
    assert model.weights_file(session.project) == str(tmp_path / "w.pth")
    model.set_weights_file(session.project, None)
    assert model.weights_file(session.project) is None


def test_progress_counts_patients_against_the_target(session):
    view = model.progress_view(session.project, 0.5)
    assert view.caption.startswith("labelled ") and "target 50 %" in view.caption
    assert "real slices are labelled and done" in view.note and view.maximum >= 1
    assert model.progress_view(None, 0.1).caption == "no project open"


def test_suggestions_read_as_numbered_rows_with_their_reason():
    result = {"unit": "slices", "strategy": "disagreement", "summary": "two slices", "suggestions": [
        {"case": "c1", "slice": 0, "patient": "p1", "score": 0.25, "reason": "they disagree", "note": "",
         "cases": ["c1"]}]}
    ((title, score, tip, suggestion),) = model.suggestion_rows(result)
    assert (title, score, tip) == ("1. c1 · slice 1", "0.250", "they disagree")
    assert model.summary_text(result).startswith("Two slices. Score: 1 − Dice")
    assert model.details_text(suggestion) == "They disagree.\nCases: c1.\nDouble-click to open it."


def test_a_failure_names_the_engines_error_or_its_last_lines():
    assert model.failure_text(2, "bad run", []) == "Could not suggest: bad run"
    assert model.failure_text(3, "", ["a", "b"]) == "Could not suggest: a\nb"
    assert model.suggest_args(Path("p"), model.suggest_options("random", 0.1, "patients", "auto", None))[:3] == \
        ["project", "suggest", "p"]
