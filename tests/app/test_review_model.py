"""The Review workspace's model: scopes, the engine command, a run's summary, the metrics table (no widgets)."""

from __future__ import annotations

from pathlib import Path

from sra_seg_core.review import PredictOptions
from sra_seg_app.model import review as model
from sra_seg_app.model.review import PredictionRun


def class_entry(name, dice, hd95_mm, *, missing=False):
    return {"label": 1, "name": name, "dice": dice, "jaccard": dice / 2, "hd95": hd95_mm, "asd": hd95_mm / 2,
            "hd95_mm": hd95_mm, "asd_mm": hd95_mm / 2, "missing_prediction": missing}


def test_a_class_not_predicted_shows_no_prediction_and_is_left_out_of_the_mean_distance():
    report = {"mean_dice": 0.4, "metrics": [class_entry("RV", 0.0, 0.0, missing=True), class_entry("LV", 0.8, 4.0),
                                            class_entry("Myo", 0.6, 2.0)]}
    rows = model.metric_rows(report)
    assert [row.name for row in rows] == ["RV", "LV", "Myo", "Mean"]
    assert rows[0].text("hd95_mm") == model.NO_PREDICTION and rows[0].text("dice") == "0.0"
    assert rows[-1].text("hd95_mm") == "3.0" and rows[-1].text("dice") == "40.0"


def test_a_distance_that_is_undefined_for_a_predicted_class_shows_a_dash():
    rows = model.metric_rows({"mean_dice": 0.0, "metrics": [class_entry("RV", 0.0, float("nan"))]})
    assert rows[0].text("hd95_mm") == model.NO_VALUE and rows[-1].text("hd95_mm") == model.NO_VALUE


def test_a_report_written_before_the_flag_reads_as_predicted():
    entry = class_entry("RV", 0.0, 0.0)
    del entry["missing_prediction"]
    assert model.metric_rows({"mean_dice": 0.0, "metrics": [entry]})[0].text("hd95_mm") == "0.0"


def test_the_unlabelled_scope_offers_real_cases_without_labels(session):
    project = session.project
    unlabelled = model.scope_cases(project, "unlabelled", [])
    real = model.scope_cases(project, "real", [])
    assert unlabelled and set(unlabelled) < set(real)
    assert model.scope_cases(project, "selected", ["x"]) == ["x"] and model.scope_cases(None, "real", []) == []


def test_a_scope_by_role_is_passed_by_role_and_others_by_case():
    options = PredictOptions(checkpoint="best.pt")
    assert ["--role", "real"] == model.predict_args(Path("p"), Path("o"), "real", ["a"], options)[7:9]
    assert ["--cases", "a", "b"] == model.predict_args(Path("p"), Path("o"), "selected", ["a", "b"], options)[7:10]


def test_a_run_sums_up_what_it_kept_and_why_it_failed():
    run = PredictionRun(total=3, imported=["a"])
    assert run.status_text(0).startswith("Predicted 1 case")
    assert run.error_text(2, "", ["boom"]) == "The model could not run: boom"
    run.cancelled = True
    assert run.status_text(-1) == "Cancelled: 1 of 3 case(s) predicted and kept." and run.error_text(-1, "", []) == ""
    run.problems = [f"p{k}" for k in range(10)]
    assert run.error_text(0, "", []).endswith("… and 2 more")


def test_accepting_replaces_only_labelled_slices_that_differ_from_the_prediction():
    import numpy as np

    labels = np.zeros((3, 2, 2), np.uint8)
    prediction = np.ones((3, 2, 2), np.uint8)
    labels[1] = 1            # already the prediction
    labels[2, 0, 0] = 2      # differs
    assert model.replaced_slices(labels, prediction, range(3)) == [2]
    assert model.accepted_message("c", [0]).startswith("Accepted the prediction of c, slice 1")
    assert "every slice" in model.accepted_message("c", None)


def test_no_model_is_offered_before_a_run_saved_a_best_checkpoint(session):
    assert model.model_choices(session.project) == [] and model.model_choices(None) == []
