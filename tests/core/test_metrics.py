"""Segmentation metrics: medpy conventions, summaries, CSV, file pairing and `sra-seg evaluate`."""

import csv
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from sra_seg_core import cli
from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.metrics import (
    dice_score,
    CSV_COLUMNS,
    ClassMetrics,
    binary_metrics,
    case_metrics,
    case_name,
    format_summary,
    match_pairs,
    summarise,
    write_metrics_csv,
)


def _box(shape, start, size):
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(s, s + n) for s, n in zip(start, size))] = True
    return mask


def _medpy_reference(pred, gt, spacing):
    """medpy.metric.binary as written (whole array, no cropping), for masks that are both non-empty."""
    if pred.shape[0] == 1:
        pred, gt, spacing = pred[0], gt[0], spacing[1:]

    def surface_distances(result, reference, sampling):
        cross = ndimage.generate_binary_structure(result.ndim, 1)
        result_border = result ^ ndimage.binary_erosion(result, structure=cross, iterations=1)
        reference_border = reference ^ ndimage.binary_erosion(reference, structure=cross, iterations=1)
        return ndimage.distance_transform_edt(~reference_border, sampling=sampling)[result_border]

    out = {}
    for suffix, sampling in (("", None), ("_mm", spacing)):
        forward, backward = surface_distances(pred, gt, sampling), surface_distances(gt, pred, sampling)
        out[f"hd95{suffix}"] = np.percentile(np.hstack((forward, backward)), 95)
        out[f"asd{suffix}"] = forward.mean()
        out[f"assd{suffix}"] = np.hstack((forward, backward)).mean()
    return out


# --- closed forms ---------------------------------------------------------------------------------------------------
def test_dice_and_jaccard_of_cubes_offset_by_one_voxel_match_the_closed_form():
    # Side 4, shifted 1 along x: overlap 4*4*3 = 48 of 64 each, union 80.
    pred, gt = _box((8, 8, 8), (2, 2, 1), (4, 4, 4)), _box((8, 8, 8), (2, 2, 2), (4, 4, 4))
    scores = binary_metrics(pred, gt)
    assert scores["dice"] == pytest.approx(3 / 4)
    assert scores["jaccard"] == pytest.approx(3 / 5)


def test_cubes_offset_by_one_voxel_have_hd95_one_and_asd_five_fourteenths():
    # 56 surface voxels per cube; 20 of them (the trailing face, 16, and the 4 inner voxels of the leading face) are
    # 1 voxel from the other surface, the rest lie on it.
    pred, gt = _box((8, 8, 8), (2, 2, 1), (4, 4, 4)), _box((8, 8, 8), (2, 2, 2), (4, 4, 4))
    scores = binary_metrics(pred, gt)
    assert scores["hd95"] == 1.0
    assert scores["asd"] == pytest.approx(20 / 56)


def test_disjoint_cubes_ten_voxels_apart_have_hd95_ten_and_asd_nine_and_a_half():
    # Side 2: half of each cube's voxels are 9 from the other cube, half 10; the pooled 95th percentile is 10.
    pred, gt = _box((4, 4, 16), (1, 1, 0), (2, 2, 2)), _box((4, 4, 16), (1, 1, 10), (2, 2, 2))
    scores = binary_metrics(pred, gt)
    assert (scores["hd95"], scores["asd"], scores["dice"], scores["jaccard"]) == (10.0, 9.5, 0.0, 0.0)


def test_anisotropic_spacing_scales_mm_distances_and_leaves_voxel_distances_alone():
    pred, gt = _box((4, 4, 16), (1, 1, 0), (2, 2, 2)), _box((4, 4, 16), (1, 1, 10), (2, 2, 2))
    scores = binary_metrics(pred, gt, spacing_zyx=(3.0, 2.0, 0.5))
    assert (scores["hd95"], scores["asd"]) == (10.0, 9.5)
    assert (scores["hd95_mm"], scores["asd_mm"]) == (pytest.approx(5.0), pytest.approx(4.75))


def test_mm_distance_combines_offsets_along_every_axis_with_their_spacing():
    pred, gt = _box((4, 6, 6), (0, 0, 0), (1, 1, 1)), _box((4, 6, 6), (1, 2, 2), (1, 1, 1))
    scores = binary_metrics(pred, gt, spacing_zyx=(2.0, 0.5, 3.0))
    assert scores["asd"] == 3.0
    assert scores["asd_mm"] == pytest.approx(math.sqrt(2.0**2 + 1.0**2 + 6.0**2))


def test_hd95_pools_both_directions_and_asd_goes_from_prediction_to_ground_truth():
    # gt: voxels at x = 0 and x = 10; pred: the one at x = 0. Distances pred->gt [0], gt->pred [0, 10].
    gt = _box((1, 1, 11), (0, 0, 0), (1, 1, 1)) | _box((1, 1, 11), (0, 0, 10), (1, 1, 1))
    pred = _box((1, 1, 11), (0, 0, 0), (1, 1, 1))
    forward, backward = binary_metrics(pred, gt), binary_metrics(gt, pred)
    assert forward["hd95"] == backward["hd95"] == pytest.approx(9.0)  # percentile 95 of [0, 0, 10]
    assert (forward["asd"], backward["asd"]) == (0.0, 5.0)
    assert forward["assd"] == backward["assd"] == pytest.approx(10 / 3)


def test_single_slice_is_scored_as_a_2d_image():
    # In 2-D the centre of a 5x5 square is interior, 2 pixels from its outline; a 3-D cross would call it surface.
    gt = _box((1, 7, 7), (0, 1, 1), (1, 5, 5))
    pred = _box((1, 7, 7), (0, 3, 3), (1, 1, 1))
    assert binary_metrics(pred, gt)["asd"] == 2.0
    assert binary_metrics(pred[0], gt[0])["asd"] == 2.0


# --- conventions for empty masks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("gt_empty", [False, True], ids=["gt-present", "gt-empty"])
def test_class_absent_from_prediction_scores_zero_for_every_metric(gt_empty):
    gt = np.zeros((3, 6, 6), bool) if gt_empty else _box((3, 6, 6), (1, 1, 1), (1, 3, 3))
    scores = binary_metrics(np.zeros_like(gt), gt, spacing_zyx=(5.0, 1.5, 1.5))
    assert set(scores.values()) == {0.0}


def test_class_predicted_but_absent_from_ground_truth_has_zero_overlap_and_undefined_distances():
    pred = _box((3, 6, 6), (1, 1, 1), (1, 3, 3))
    scores = binary_metrics(pred, np.zeros_like(pred))
    assert (scores["dice"], scores["jaccard"]) == (0.0, 0.0)
    assert all(math.isnan(scores[k]) for k in ("hd95", "asd", "assd", "hd95_mm", "asd_mm", "assd_mm"))


def test_empty_prediction_in_a_label_map_scores_zero_rather_than_medpys_perfect_dice():
    gt = np.zeros((2, 4, 4), np.uint8)
    [metrics] = case_metrics(np.zeros_like(gt), gt, [1])
    assert metrics == ClassMetrics.absent(1) == ClassMetrics(1, *[0.0] * 6, missing_prediction=True)


# --- exactness of the bounding-box shortcut -------------------------------------------------------------------------
_shapes = st.tuples(st.integers(1, 5), st.integers(1, 12), st.integers(1, 12))
_spacings = st.tuples(*[st.floats(0.2, 5.0, allow_nan=False)] * 3)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), shape=_shapes, spacing=_spacings)
def test_cropped_computation_equals_medpy_on_the_whole_array(data, shape, spacing):
    # Random masks: sparse specks, dense noise, shapes touching every face of the array.
    pred = data.draw(arrays(bool, shape), label="pred")
    gt = data.draw(arrays(bool, shape), label="gt")
    assume(pred.any() and gt.any())
    scores = binary_metrics(pred, gt, spacing)
    reference = _medpy_reference(pred, gt, spacing)
    assert {k: scores[k] for k in reference} == reference


def test_cropped_computation_equals_medpy_on_blobs_far_from_the_array_border():
    rng = np.random.default_rng(7)
    field = ndimage.gaussian_filter(rng.random((12, 64, 64)), 3)
    pred, gt = field > np.quantile(field, 0.9), np.roll(field, 3, axis=2) > np.quantile(field, 0.88)
    pred[:2] = gt[:2] = pred[-2:] = gt[-2:] = False
    spacing = (10.0, 1.25, 1.25)
    scores = binary_metrics(pred, gt, spacing)
    reference = _medpy_reference(pred, gt, spacing)
    assert {k: scores[k] for k in reference} == reference


# --- label maps -----------------------------------------------------------------------------------------------------
def test_case_metrics_scores_each_requested_label_as_its_own_mask():
    gt = np.zeros((4, 10, 10), np.uint8)
    gt[1:3, 1:5, 1:5], gt[1:3, 6:9, 6:9] = 1, 2
    pred = gt.copy()
    pred[1:3, 1:5, 1] = 0  # shrink label 1
    rows = case_metrics(pred, gt, [2, 1], spacing_zyx=(5.0, 1.0, 1.0))
    assert [m.label for m in rows] == [2, 1]
    assert rows[0].dice == 1.0 and rows[0].hd95 == 0.0
    expected = binary_metrics(pred == 1, gt == 1, (5.0, 1.0, 1.0))
    assert rows[1] == ClassMetrics(1, *(expected[k] for k in ("dice", "jaccard", "hd95", "asd", "hd95_mm", "asd_mm")))


def test_mismatched_shapes_raise_an_input_error_naming_both_shapes():
    with pytest.raises(InputError, match=r"\(2, 4, 4\).*\(2, 4, 5\)"):
        case_metrics(np.zeros((2, 4, 4), int), np.zeros((2, 4, 5), int), [1])


# --- summary and CSV ------------------------------------------------------------------------------------------------
def _row(case, label, dice, hd95=1.0):
    return case, ClassMetrics(label, dice, dice / 2, hd95, hd95 / 2, 2 * hd95, hd95)


def test_summary_gives_mean_and_sd_per_class_and_over_the_case_means_of_classes():
    rows = [_row("a", 1, 0.8), _row("a", 2, 0.6), _row("b", 1, 0.9), _row("b", 2, 1.0)]
    summary = summarise(rows)
    assert summary["cases"] == 2
    assert summary["labels"][1]["dice"] == {"mean": pytest.approx(0.85), "sd": pytest.approx(0.05), "n": 2, "nan": 0}
    assert summary["labels"][2]["dice"]["mean"] == pytest.approx(0.8)
    # Case means 0.7 and 0.95, population sd over cases.
    assert summary["overall"]["dice"] == {"mean": pytest.approx(0.825), "sd": pytest.approx(0.125), "n": 2, "nan": 0}


def test_summary_leaves_undefined_distances_out_of_the_means_and_counts_them():
    rows = [_row("a", 1, 0.8, hd95=2.0), _row("a", 2, 0.0, hd95=math.nan), _row("b", 1, 0.9, hd95=4.0),
            _row("b", 2, 0.5, hd95=6.0)]
    summary = summarise(rows)
    assert summary["labels"][2]["hd95"] == {"mean": 6.0, "sd": 0.0, "n": 1, "nan": 1}
    assert summary["overall"]["hd95"]["mean"] == pytest.approx((2.0 + 5.0) / 2)
    assert summary["labels"][2]["dice"]["mean"] == pytest.approx(0.25)


def test_formatted_summary_shows_percent_dice_mean_and_sd_under_class_names():
    rows = [_row("a", 1, 0.8), _row("a", 2, 0.6), _row("b", 1, 0.9), _row("b", 2, 1.0)]
    text = format_summary(summarise(rows), {1: "RV", 2: "Myo"})
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["class", "cases", "Dice"]
    rv = next(line for line in lines if line.startswith("RV"))
    assert "85.00 ± 5.00" in rv
    assert lines[-1].startswith("mean") and "82.50 ± 12.50" in lines[-1]


def test_formatted_summary_says_how_many_distances_were_undefined():
    text = format_summary(summarise([_row("a", 1, 0.0, hd95=math.nan), _row("b", 1, 0.5)]))
    assert "1 predicted class(es) have no ground truth" in text


def test_csv_has_the_published_columns_and_round_trips_every_value(tmp_path):
    rows = [_row("patient001_frame01", 1, 0.1 + 0.2), _row("patient001_frame01", 2, 0.0, hd95=math.nan)]
    path = write_metrics_csv(tmp_path / "out" / "metrics.csv", rows)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == CSV_COLUMNS == (
            "case", "label", "dice", "jaccard", "hd95", "asd", "hd95_mm", "asd_mm", "missing_prediction")
        read = list(reader)
    assert [r["case"] for r in read] == ["patient001_frame01"] * 2
    assert float(read[0]["dice"]) == 0.1 + 0.2  # full precision
    assert read[1]["hd95"] == "nan" and read[1]["label"] == "2"
    assert [p.name for p in path.parent.iterdir()] == ["metrics.csv"]


# --- pairing files --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "case"),
    [("patient001_frame01_gt.nii.gz", "patient001_frame01"), ("001_A_pred.png", "001_A"), ("x_seg.nrrd", "x"),
     ("case_label.nii", "case"), ("plain.mha", "plain"), ("_gt.nii.gz", "_gt")],
)
def test_case_name_drops_extension_and_one_label_suffix(name, case):
    assert case_name(name) == case


def _touch(folder, *names):
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")


def test_folders_pair_files_by_case_name_across_suffixes_and_subfolders(tmp_path):
    _touch(tmp_path / "pred", "patient001_frame01.nii.gz", "patient002_frame12_pred.nii.gz")
    _touch(tmp_path / "gt", "patient001/patient001_frame01_gt.nii.gz", "patient002/patient002_frame12_gt.nii.gz")
    pairs = match_pairs(tmp_path / "pred", tmp_path / "gt")
    assert [(c, p.name, g.name) for c, p, g in pairs] == [
        ("patient001_frame01", "patient001_frame01.nii.gz", "patient001_frame01_gt.nii.gz"),
        ("patient002_frame12", "patient002_frame12_pred.nii.gz", "patient002_frame12_gt.nii.gz"),
    ]


def test_label_file_is_chosen_over_the_image_of_the_same_case(tmp_path):
    # ACDC keeps the image and its label side by side; Info.cfg is not a label file.
    _touch(tmp_path / "gt", "patient001_frame01.nii.gz", "patient001_frame01_gt.nii.gz", "Info.cfg")
    _touch(tmp_path / "pred", "patient001_frame01.nii.gz")
    [(_, _, gt_file)] = match_pairs(tmp_path / "pred", tmp_path / "gt")
    assert gt_file.name == "patient001_frame01_gt.nii.gz"


def test_files_without_a_partner_are_reported_and_skipped(tmp_path):
    _touch(tmp_path / "pred", "a.png", "b.png")
    _touch(tmp_path / "gt", "a.png", "c.png")
    reported = []
    pairs = match_pairs(tmp_path / "pred", tmp_path / "gt", on_unmatched=reported.append)
    assert [c for c, _, _ in pairs] == ["a"]
    assert [sorted(p.name for p in files) for files in reported] == [["b.png", "c.png"]]


def test_two_label_files_for_one_case_are_an_error(tmp_path):
    _touch(tmp_path / "gt", "a_gt.png", "a_seg.png")
    _touch(tmp_path / "pred", "a.png")
    with pytest.raises(InputError, match="several label files"):
        match_pairs(tmp_path / "pred", tmp_path / "gt")


@pytest.mark.parametrize(
    ("pred", "gt", "message"),
    [("pred", "gt", "no prediction shares a case name"), ("pred/x.png", "gt", "cannot pair a file with a folder"),
     ("missing", "gt", "does not exist")],
)
def test_unusable_prediction_and_ground_truth_paths_are_input_errors(tmp_path, pred, gt, message):
    _touch(tmp_path / "pred", "x.png")
    _touch(tmp_path / "gt", "y.png")
    with pytest.raises(InputError, match=message):
        match_pairs(tmp_path / pred, tmp_path / gt)


# --- sra-seg evaluate -----------------------------------------------------------------------------------------------
def _write_labels(path, array_zyx, spacing_zyx=(10.0, 1.5, 1.5)):
    label = Image.from_spacing(array_zyx.astype(np.uint8), spacing_zyx[::-1], meta={"label": True})
    return write_image(label, path)


def _cardiac_pair():
    gt = np.zeros((3, 16, 16), np.uint8)
    gt[:, 3:11, 3:11] = 2
    gt[:, 5:9, 5:9] = 3
    gt[:, 4:10, 11:14] = 1
    pred = np.roll(gt, 1, axis=2)
    return pred, gt


def test_evaluate_two_files_prints_the_summary_and_writes_the_csv(tmp_path, capsys):
    pred, gt = _cardiac_pair()
    code = cli.main([
        "evaluate", "--pred", str(_write_labels(tmp_path / "p.nii.gz", pred)),
        "--gt", str(_write_labels(tmp_path / "case_gt.nii.gz", gt)),
        "--label-names", "RV,Myo,LV", "--csv", str(tmp_path / "m.csv"),
    ])
    out = capsys.readouterr().out
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[2:5]] == ["RV", "Myo", "LV"]
    with open(tmp_path / "m.csv", newline="") as fh:
        read = list(csv.DictReader(fh))
    expected = case_metrics(pred, gt, [1, 2, 3], (10.0, 1.5, 1.5))
    assert [(r["case"], int(r["label"])) for r in read] == [("case", 1), ("case", 2), ("case", 3)]
    assert [float(r["hd95_mm"]) for r in read] == pytest.approx([m.hd95_mm for m in expected])


def test_evaluate_folders_scores_every_ground_truth_label_and_warns_about_unmatched_files(tmp_path, capsys):
    pred, gt = _cardiac_pair()
    gt_without_rv = np.where(gt == 1, 0, gt).astype(np.uint8)
    _write_labels(tmp_path / "gt" / "p1" / "p1_gt.nii.gz", gt)
    _write_labels(tmp_path / "gt" / "p2" / "p2_gt.nii.gz", gt_without_rv)
    _write_labels(tmp_path / "gt" / "p3" / "p3_gt.nii.gz", gt)
    _write_labels(tmp_path / "pred" / "p1.nii.gz", pred)
    _write_labels(tmp_path / "pred" / "p2.nii.gz", np.where(pred == 1, 0, pred))
    code = cli.main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                     "--csv", str(tmp_path / "m.csv")])
    captured = capsys.readouterr()
    assert code == 0
    assert "p3_gt.nii.gz" in captured.err and captured.err.startswith("warning:")
    with open(tmp_path / "m.csv", newline="") as fh:
        read = list(csv.DictReader(fh))
    assert [(r["case"], r["label"]) for r in read] == [(c, l) for c in ("p1", "p2") for l in ("1", "2", "3")]
    # p2 has no RV in either map: absent from the prediction, so 0 by the convention.
    assert {k: float(v) for k, v in read[3].items() if k in ("dice", "hd95", "asd_mm")} == {
        "dice": 0.0, "hd95": 0.0, "asd_mm": 0.0}


def test_evaluate_with_mismatched_shapes_exits_2_with_one_error_line(tmp_path, capsys):
    _write_labels(tmp_path / "p.nii.gz", np.ones((3, 16, 16), np.uint8))
    _write_labels(tmp_path / "g.nii.gz", np.ones((3, 16, 17), np.uint8))
    code = cli.main(["evaluate", "--pred", str(tmp_path / "p.nii.gz"), "--gt", str(tmp_path / "g.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert "p.nii.gz" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--labels", "1,x"], "--labels"), (["--labels", "1,2", "--label-names", "RV"], "1 names for 2 labels")],
)
def test_evaluate_rejects_malformed_label_options(tmp_path, capsys, options, message):
    pred, gt = _cardiac_pair()
    code = cli.main(["evaluate", "--pred", str(_write_labels(tmp_path / "p.nii.gz", pred)),
                     "--gt", str(_write_labels(tmp_path / "g.nii.gz", gt)), *options])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_evaluate_binarize_scores_0_255_png_masks_as_one_2d_class(tmp_path, capsys):
    gt = np.zeros((1, 32, 32), np.uint8)
    gt[0, 8:24, 8:24] = 255
    pred = np.zeros_like(gt)
    pred[0, 8:24, 9:25] = 1
    _write_labels(tmp_path / "gt" / "001_A.png", gt, (1.0, 1.0, 1.0))
    _write_labels(tmp_path / "pred" / "001_A.png", pred, (1.0, 1.0, 1.0))
    code = cli.main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--binarize",
                     "--csv", str(tmp_path / "m.csv")])
    assert code == 0, capsys.readouterr().err
    with open(tmp_path / "m.csv", newline="") as fh:
        [row] = list(csv.DictReader(fh))
    expected = binary_metrics(pred[0] > 0, gt[0] > 0)
    assert (row["case"], row["label"]) == ("001_A", "1")
    assert (float(row["dice"]), float(row["asd"])) == (pytest.approx(15 / 16), pytest.approx(expected["asd"]))


def test_dice_score_agrees_with_binary_metrics_and_the_empty_prediction_rule():
    rng = np.random.default_rng(5)
    pred, gt = rng.random((3, 20, 20)) > 0.6, rng.random((3, 20, 20)) > 0.5
    assert dice_score(pred, gt) == pytest.approx(binary_metrics(pred, gt)["dice"])
    assert dice_score(np.zeros_like(gt), gt) == 0.0
