"""Review: uncertainty definitions, `sra-seg project predict` on a project the app holds open, and storing what it
writes in the project."""

from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest

from sra_seg_core import cli, io
from sra_seg_core.commands._project_predict import chosen_cases
from sra_seg_core.config import preset
from sra_seg_core.demo import create_demo_project
from sra_seg_core.events import read_events
from sra_seg_core.project import Project, named_classes
from sra_seg_core.review import (
    ENTROPY,
    TTA_VARIANCE,
    import_prediction,
    pixel_uncertainty,
    predict_case,
    review_reports,
    slice_totals,
    uncertainty,
)
from sra_seg_core.trainer import Trainer


# --- uncertainty on synthetic softmax outputs ----------------------------------------------------------------------
def softmax(logits, axis=-3):
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def one_pass(*pixels):
    """(1, 1, K, 1, N): one pass, one slice, N pixels given as K-vectors of probabilities."""
    return np.array(pixels, dtype=np.float64).T[None, None, :, None, :]


def test_entropy_is_one_for_a_uniform_softmax_and_zero_for_a_certain_one():
    score, foreground = pixel_uncertainty(one_pass([0.25, 0.25, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0]))
    assert score[0, 0] == pytest.approx([1.0, 0.0], abs=1e-9)
    assert foreground[0, 0].tolist() == [False, True]   # a tie goes to the first class, background


def test_entropy_is_normalised_by_the_number_of_classes():
    p = [0.1, 0.9]
    expected = -(0.1 * math.log(0.1) + 0.9 * math.log(0.9)) / math.log(2)
    assert uncertainty(one_pass(p)).score == pytest.approx(expected)


def test_uncertainty_averages_over_predicted_foreground_only():
    doubtful_background, sure_foreground, doubtful_foreground = [0.5, 0.5, 0, 0], [0, 1, 0, 0], [0.3, 0.4, 0.3, 0]
    u = uncertainty(one_pass(doubtful_background, sure_foreground, doubtful_foreground))
    h = -(0.3 * math.log(0.3) * 2 + 0.4 * math.log(0.4)) / math.log(4)
    assert u.method == ENTROPY and u.foreground_pixels == 2
    assert u.score == pytest.approx(h / 2)


def test_tta_variance_is_zero_when_every_pass_agrees():
    p = softmax(np.random.default_rng(0).normal(size=(1, 2, 4, 8, 8)) * 3)
    u = uncertainty(np.concatenate([p, p, p]))
    assert u.method == TTA_VARIANCE and u.foreground_pixels > 0
    assert u.score == pytest.approx(0.0, abs=1e-12)


def test_tta_variance_is_the_class_mean_of_the_variance_across_passes():
    passes = np.concatenate([one_pass([0.2, 0.8]), one_pass([0.4, 0.6])])
    # mean (0.3, 0.7): foreground; each class varies by +-0.1 around its mean -> variance 0.01 for both classes
    assert uncertainty(passes).score == pytest.approx(0.01)


def test_tta_variance_weighs_disagreeing_passes_above_agreeing_ones():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(1, 1, 3, 16, 16)) * 2
    agree = softmax(np.concatenate([base, base + 0.01, base - 0.01]))
    disagree = softmax(np.concatenate([base, base + rng.normal(size=base.shape), base - rng.normal(size=base.shape)]))
    assert uncertainty(disagree).score > uncertainty(agree).score


def test_a_case_without_foreground_scores_zero_and_says_so():
    u = uncertainty(one_pass([0.6, 0.4], [0.9, 0.1]))
    assert (u.score, u.foreground_pixels, u.per_slice) == (0.0, 0, [0.0])


def test_per_slice_scores_and_chunked_totals_match_the_whole_case():
    p = softmax(np.random.default_rng(2).normal(size=(3, 5, 4, 6, 6)) * 2)
    whole = uncertainty(p)
    sums, counts = zip(*(slice_totals(p[:, z:z + 2]) for z in (0, 2, 4)))
    assert np.concatenate(sums) == pytest.approx(slice_totals(p)[0])
    score, foreground = pixel_uncertainty(p)
    assert whole.per_slice == pytest.approx([score[z][foreground[z]].mean() for z in range(5)])
    assert whole.score == pytest.approx(score[foreground].mean())
    assert whole.most_uncertain_slice == int(np.argmax(whole.per_slice))


# --- a project, a tiny trained model, and the command -----------------------------------------------------------
@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A demo project (patient001 approved, 002 and 003 reference, one synthetic patient) with a tiny model trained
    on it (2 + 2 iterations; SA off, as it only costs time here) in runs/tiny/."""
    root = create_demo_project(tmp_path_factory.mktemp("review") / "demo", real=3, labelled=1, synthetic=1)
    root.close()
    c = preset("tiny")
    c.data.root = str(root.path)
    c.alignment.enabled = False
    c.train.pretrain_iters = c.train.selftrain_iters = 2
    c.train.num_threads = 2
    result = Trainer(c, root.path / "runs" / "tiny", emit=lambda e: None).run()
    assert result.best_path is not None
    return root.path, result.best_path


@pytest.fixture
def project_path(trained, tmp_path):
    target = tmp_path / "demo"
    shutil.copytree(trained[0], target)
    return target


@pytest.fixture
def checkpoint(trained):
    return trained[1]


def predict(project, checkpoint, output, *extra):
    return cli.main(["project", "predict", str(project), "--checkpoint", str(checkpoint), "--output", str(output),
                     "--events", "-", *extra])


CASES = ("patient001_frame01", "patient002_frame01")   # approved labels; a reference label


@pytest.fixture(scope="session")
def predicted(trained, tmp_path_factory):
    """`sra-seg project predict` on two real cases while a writer holds the project's lock.
    Returns (output folder, events, exit code)."""
    import contextlib
    import io as stdio

    project_path, checkpoint = trained
    out = tmp_path_factory.mktemp("predicted")
    buffer = stdio.StringIO()
    with Project.open(project_path) as holder, contextlib.redirect_stdout(buffer):
        code = predict(project_path, checkpoint, out, "--cases", *reversed(CASES))
        assert not holder.read_only
    return out, read_events(buffer.getvalue().splitlines()), code


def real_cases(path):
    return [c for c in Project.open(path, read_only=True).cases if c.role == "real"]


def test_predict_writes_a_label_map_and_report_per_case(predicted):
    out, _, code = predicted
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{c}{ext}" for c in CASES for ext in (".json", ".nii.gz"))


def test_cases_default_to_every_real_case_or_follow_role_or_ids(trained):
    project = Project.open(trained[0], read_only=True)
    assert chosen_cases(project, None, None) == [c.id for c in real_cases(trained[0])]
    assert chosen_cases(project, None, "all") == [c.id for c in project.cases]
    assert chosen_cases(project, None, "synthetic") == ["synthetic001_frame01", "synthetic001_frame13"]
    assert chosen_cases(project, list(reversed(CASES)), None) == list(CASES)


def test_predicted_label_maps_keep_the_image_geometry(trained, predicted):
    project = Project.open(trained[0], read_only=True)
    for case in CASES:
        image = project.read_image(case)
        label = io.read_label(predicted[0] / f"{case}.nii.gz", reference=image, num_classes=4)
        assert label.array.dtype == np.uint8 and label.shape == image.shape
        assert np.allclose(label.affine, image.affine)


def test_predict_reports_progress_per_case_then_done(trained, predicted):
    events, cases = predicted[1], CASES
    progress = [e for e in events if e.event == "progress"]
    assert [e.message for e in progress] == list(cases)
    assert [(e.stage, e.iteration, e.total) for e in progress] == [("predict", k, len(cases))
                                                                   for k in range(1, len(cases) + 1)]
    assert events[0].event == "stage" and events[-1].event == "done" and events[-1].status == "finished"


def test_reports_hold_uncertainty_and_metrics_only_where_a_reference_exists(trained, predicted):
    project = Project.open(trained[0], read_only=True)
    for case in map(project.case, CASES):
        report = json.loads((predicted[0] / f"{case.id}.json").read_text())
        assert report["case"] == case.id and report["uncertainty_method"] == ENTROPY
        assert 0 <= report["uncertainty"] <= 1 and len(report["slice_uncertainty"]) == case.shape[0]
        if case.reference is None:
            assert report["metrics"] is None and report["mean_dice"] is None
        else:
            assert [m["name"] for m in report["metrics"]] == ["RV", "Myo", "LV"]
            assert {"dice", "jaccard", "hd95", "asd", "hd95_mm", "asd_mm"} <= set(report["metrics"][0])
            assert report["mean_dice"] == pytest.approx(np.mean([m["dice"] for m in report["metrics"]]))


def test_predict_leaves_the_project_unchanged(trained, predicted):
    project = Project.open(trained[0], read_only=True)
    assert all(c.prediction is None for c in project.cases)
    assert not (trained[0] / "predictions").exists() or not any((trained[0] / "predictions").iterdir())


def test_tta_scores_the_variance_across_flips(project_path, checkpoint, tmp_path, capsys):
    case = CASES[0]
    assert predict(project_path, checkpoint, tmp_path / "out", "--cases", case, "--tta") == 0
    report = json.loads((tmp_path / "out" / f"{case}.json").read_text())
    assert report["uncertainty_method"] == TTA_VARIANCE and 0 <= report["uncertainty"] <= 0.25


def test_an_unknown_case_is_a_one_line_error(project_path, checkpoint, tmp_path, capsys):
    assert predict(project_path, checkpoint, tmp_path / "out", "--cases", "patient999") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'patient999'" in err and "project info" in err


def test_a_model_for_other_classes_is_refused(checkpoint, tmp_path, capsys):
    with Project.create(tmp_path / "vessels", classes=named_classes(["vessel"])) as project:
        image = io.write_image(io.read_image(next((checkpoint.parents[3] / "images").glob("patient001*"))),
                               tmp_path / "one.nii.gz")
        project.import_image(image)
    assert predict(tmp_path / "vessels", checkpoint, tmp_path / "out") == 2
    assert "segments 3 class(es) but the project has 1 (vessel)" in capsys.readouterr().err


def test_a_missing_image_skips_its_case_and_exits_1(project_path, checkpoint, tmp_path, capsys):
    project = Project.open(project_path, read_only=True)
    case = CASES[1]
    os.remove(project.image_path(case))
    assert predict(project_path, checkpoint, tmp_path / "out", "--cases", *CASES) == 1
    events = read_events(capsys.readouterr().out.splitlines())
    assert any(e.event == "warning" and case in e.message for e in events)
    assert events[-1].result["skipped"] == [case] and events[-1].message == "1 case(s) predicted, 1 skipped"


def test_a_run_that_predicts_nothing_fails(project_path, checkpoint, tmp_path, capsys):
    os.remove(Project.open(project_path, read_only=True).image_path(CASES[0]))
    assert predict(project_path, checkpoint, tmp_path / "out", "--cases", CASES[0]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"skipped {CASES[0]}: ")
    assert err[-1] == "error: none of the 1 case(s) could be predicted (reasons above)"


# --- storing predictions -----------------------------------------------------------------------------------------
def test_import_prediction_stores_the_label_map_and_its_report(project_path, predicted):
    case = CASES[1]
    with Project.open(project_path) as project:
        report = import_prediction(project, case, predicted[0])
        stored = project.read_prediction(case).array
    expected = io.read_label(predicted[0] / f"{case}.nii.gz").array
    assert np.array_equal(stored, expected)
    reopened = Project.open(project_path, read_only=True)
    assert review_reports(reopened) == {case: report} and report["mean_dice"] is not None


def test_import_prediction_of_the_wrong_shape_is_an_input_error(project_path, predicted, tmp_path):
    from sra_seg_core.errors import InputError

    source, target = CASES   # 11 and 9 slices
    for suffix in (".nii.gz", ".json"):
        shutil.copy(predicted[0] / f"{source}{suffix}", tmp_path / f"{target}{suffix}")
    with Project.open(project_path) as project, pytest.raises(InputError, match="shape"):
        import_prediction(project, target, tmp_path)
    assert Project.open(project_path, read_only=True).case(target).prediction is None


def test_reports_of_cases_without_a_prediction_are_not_listed(project_path, predicted):
    case = CASES[1]
    with Project.open(project_path) as project:
        import_prediction(project, case, predicted[0])
        project.clear_prediction(case)
        assert review_reports(project) == {}


def test_predict_case_gives_the_image_grid_and_one_score_per_slice(project_path, checkpoint):
    from sra_seg_core.inference import load_checkpoint

    image = Project.open(project_path, read_only=True).read_image(CASES[0])
    result = predict_case(load_checkpoint(checkpoint, "cpu"), image, tta=True, batch_size=4)
    assert result.labels.shape == image.shape and result.labels.dtype == np.uint8
    assert result.uncertainty.method == TTA_VARIANCE and len(result.uncertainty.per_slice) == image.shape[0]


@pytest.mark.parametrize("tta", [False, True])
def test_predict_case_labels_match_sra_seg_predict(project_path, checkpoint, tta):
    from sra_seg_core.inference import load_checkpoint, predict_image

    loaded = load_checkpoint(checkpoint, "cpu")
    image = Project.open(project_path, read_only=True).read_image(CASES[1])
    ours, theirs = predict_case(loaded, image, tta=tta).labels, predict_image(loaded, image, tta=tta)
    # flipping before or after the resize to the input size differs only by float rounding
    assert np.mean(ours == theirs) >= (1.0 if not tta else 0.999)


def test_predict_options_round_trip_through_the_command_line():
    import argparse

    from sra_seg_core.commands import _project_predict
    from sra_seg_core.review import PredictOptions

    parser = argparse.ArgumentParser()
    _project_predict.register(parser.add_subparsers())
    options = PredictOptions(checkpoint="runs/a/checkpoints/best.pt", tta=True, device="cpu", batch_size=4)
    args = parser.parse_args(["predict", "P", "--output", "OUT", *options.cli_args()])
    assert PredictOptions.from_cli(args) == options
