"""A class the model did not predict: zeros in the CSV (the published convention), flagged, and "no prediction" for
a viewer, whose means leave those distances out."""

import csv
import math

import numpy as np
import pytest

from sra_seg_core.metrics import case_metrics, summarise, write_metrics_csv


def _maps():
    gt = np.zeros((3, 8, 8), np.uint8)
    gt[1, 1:4, 1:4] = 1
    gt[1, 5:7, 5:7] = 2
    pred = gt.copy()
    pred[pred == 2] = 0  # class 2 not predicted
    pred[1, 1, 1:4] = 0  # class 1 predicted, imperfectly
    return pred, gt


def test_class_not_predicted_is_flagged_and_scores_zero():
    rv, myo = case_metrics(*_maps(), [1, 2])
    assert not rv.missing_prediction and rv.hd95 > 0
    assert myo.missing_prediction and (myo.dice, myo.hd95, myo.asd, myo.hd95_mm) == (0.0, 0.0, 0.0, 0.0)


def test_viewer_shows_no_prediction_for_its_distances_but_keeps_dice():
    _, myo = case_metrics(*_maps(), [1, 2])
    assert myo.shown("hd95_mm") is None and myo.shown("asd") is None
    assert myo.shown("dice") == 0.0


def test_csv_keeps_the_zeros_and_says_the_class_was_missing(tmp_path):
    rows = [("c", m) for m in case_metrics(*_maps(), [1, 2])]
    with open(write_metrics_csv(tmp_path / "m.csv", rows), newline="") as fh:
        read = list(csv.DictReader(fh))
    assert [r["missing_prediction"] for r in read] == ["0", "1"]
    assert float(read[1]["hd95"]) == 0.0 and float(read[1]["asd_mm"]) == 0.0


def test_viewer_mean_leaves_out_missing_distances_published_mean_counts_them_as_zero():
    rows = [("c", m) for m in case_metrics(*_maps(), [1, 2])]
    rv_hd95 = rows[0][1].hd95
    published = summarise(rows)["overall"]["hd95"]["mean"]
    viewer = summarise(rows, missing="none")["overall"]["hd95"]["mean"]
    assert published == pytest.approx(rv_hd95 / 2) and viewer == pytest.approx(rv_hd95)
    assert summarise(rows, missing="none")["labels"][2]["hd95"]["n"] == 0
    assert math.isnan(summarise(rows, missing="none")["labels"][2]["asd"]["mean"])
    assert summarise(rows, missing="none")["overall"]["dice"]["mean"] == summarise(rows)["overall"]["dice"]["mean"]


def test_summary_counts_and_the_table_names_classes_not_predicted():
    from sra_seg_core.metrics import format_summary

    summary = summarise([("c", m) for m in case_metrics(*_maps(), [1, 2])])
    assert (summary["labels"][1]["missing"], summary["labels"][2]["missing"]) == (0, 1)
    assert "1 class(es) were not predicted" in format_summary(summary)
