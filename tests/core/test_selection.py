"""Which 10 % to label: random patients, the core-set greedy, teacher-student disagreement, and `project suggest`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sra_seg_core import runs
from sra_seg_core.cli import main
from sra_seg_core.errors import ConfigError, EncoderWeightsError, InputError
from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.model import UNet
from sra_seg_core.project import Project
from sra_seg_core.selection import (
    disagreement,
    intensity_features,
    k_center_greedy,
    labelling_progress,
    random_by_patient,
    suggest,
    target_count,
)

PATIENTS = 6


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks run fastest on one thread; on a busy 2-core machine two threads are ten times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def project(tmp_path):
    """Six real patients of two 4 x 32 x 32 cases each (patient p1 fully labelled) and one synthetic case."""
    rng = np.random.default_rng(0)
    project = Project.create(tmp_path / "project")
    for p in range(1, PATIENTS + 1):
        for frame in (1, 2):
            # each patient its own brightness and blob position, so their slices differ
            array = rng.random((4, 32, 32)).astype(np.float32) * 0.2
            array[:, 4 * p:4 * p + 8, 4:12 + 3 * p] += p / PATIENTS
            path = write_image(Image.from_spacing(array, (1.0, 1.0, 2.0)), tmp_path / "data" / f"p{p}_f{frame}.nii.gz")
            project.import_image(path, role="real", group=f"p{p}", case_id=f"p{p}_f{frame}")
    synthetic = write_image(Image.from_spacing(rng.random((3, 32, 32)).astype(np.float32), (1.0, 1.0, 2.0)),
                            tmp_path / "data" / "s1.nii.gz")
    project.import_image(synthetic, role="synthetic")
    for case_id in ("p1_f1", "p1_f2"):
        project.save_label(case_id, np.zeros((4, 32, 32), np.uint8))   # labelled: done slices and label data
        for z in range(4):
            project.set_slice_status(case_id, z, "d")
    yield project
    project.close()


def fake_run(folder, *, teacher_seed: int | None, seed: int = 0):
    """A run folder whose latest.pt holds a tiny U-Net student and (unless teacher_seed is None) a teacher."""
    def net(s):
        torch.manual_seed(s)
        return UNet(1, 4, (4, 8, 16, 32, 64))

    state = {"format": "sra-seg-checkpoint", "version": 1, "model": net(seed).state_dict(),
             "model_config": {"in_channels": 1, "channels": [4, 8, 16, 32, 64], "dropout": [0.05, 0.1, 0.2, 0.3, 0.5]},
             "num_classes": 4, "class_names": ["background", "RV", "Myo", "LV"], "image_size": 32,
             "grey": "luminance", "meta": {"method": "sra-seg", "stage": "selftrain"}, "config": {}}
    if teacher_seed is not None:
        state["teacher"] = net(teacher_seed).state_dict()
    (folder / "checkpoints").mkdir(parents=True)
    torch.save(state, folder / "checkpoints" / "latest.pt")
    runs.update_meta(folder, status="stopped", latest_stage="selftrain", latest_has_teacher=teacher_seed is not None)
    return folder


# --- targets and progress ---------------------------------------------------------------------------------------------
def test_target_is_the_rounded_fraction_and_at_least_one():
    assert target_count(70, 0.1) == 7 and target_count(100, 0.05) == 5
    assert target_count(3, 0.1) == 1 and target_count(0, 0.1) == 0


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5])
def test_a_fraction_outside_zero_to_one_is_a_config_error(fraction):
    with pytest.raises(ConfigError, match="fraction"):
        target_count(10, fraction)


def test_a_patient_with_one_done_slice_is_partly_labelled_not_labelled(project):
    project.save_label("p2_f2", np.zeros((4, 32, 32), np.uint8))
    project.set_slice_status("p2_f2", 3, "d")
    progress = labelling_progress(project, 0.5)
    assert (progress.labelled, progress.total, progress.target, progress.remaining) == (1, 6, 3, 2)
    assert progress.summary() == ("labelled 1 of 6 patients (17 %) against a target of 50 %; 1 more partly "
                                  "labelled")
    slices = labelling_progress(project, 0.5, "slices")
    assert (slices.labelled, slices.total) == (9, 48)


# --- random -----------------------------------------------------------------------------------------------------------
def test_random_draws_the_fraction_of_distinct_patients():
    groups = [f"patient{i:03d}" for i in range(1, 31) for _frame in (1, 2)]
    chosen = random_by_patient(groups, 0.1, seed=1)
    assert len(chosen) == 3 and len(set(chosen)) == 3 and set(chosen) <= set(groups)


def test_random_depends_on_the_seed_not_on_the_order_of_patients():
    groups = [f"p{i}" for i in range(40)]
    assert random_by_patient(groups, 0.2, seed=5) == random_by_patient(groups[::-1], 0.2, seed=5)
    assert random_by_patient(groups, 0.2, seed=5) != random_by_patient(groups, 0.2, seed=6)


def test_random_counts_labelled_patients_towards_the_target_and_never_redraws_them():
    groups = [f"p{i}" for i in range(20)]
    chosen = random_by_patient(groups, 0.25, seed=0, already=["p0", "p1"])
    assert len(chosen) == 3 and not {"p0", "p1"} & set(chosen)
    assert random_by_patient(groups, 0.1, seed=0, already=["p0", "p1"]) == []


def test_labelling_a_drawn_patient_keeps_the_rest_of_the_draw():
    groups = [f"p{i}" for i in range(30)]
    first = random_by_patient(groups, 0.2, seed=3)
    assert random_by_patient(groups, 0.2, seed=3, already=first[:1]) == first[1:]
    assert random_by_patient(groups, 0.3, seed=3)[:6] == first


# --- core-set greedy --------------------------------------------------------------------------------------------------
def clusters(per: int = 5, dims: int = 3, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """``per`` points around each of ``dims`` orthogonal directions: rows [c*per, (c+1)*per) form cluster c."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dims)
    return np.concatenate([c + noise * rng.standard_normal((per, dims)) for c in centres])


def test_k_center_takes_the_point_farthest_from_what_is_chosen():
    x = clusters()
    picks = k_center_greedy(x, 2, already=[0])
    assert sorted(p // 5 for p in picks) == [1, 2]   # one from each cluster not covered yet


def test_k_center_distance_is_cosine_so_scale_does_not_matter():
    x = clusters()
    scaled = x * np.random.default_rng(1).uniform(0.1, 10, (len(x), 1))
    assert k_center_greedy(x, 4, already=[0]) == k_center_greedy(scaled, 4, already=[0])


def test_k_center_starts_at_a_seeded_random_point_when_nothing_is_chosen():
    x = clusters(per=10)
    assert k_center_greedy(x, 3, seed=3) == k_center_greedy(x, 3, seed=3)
    assert {k_center_greedy(x, 1, seed=s)[0] for s in range(8)} != {k_center_greedy(x, 1, seed=0)[0]}
    assert sorted(p // 10 for p in k_center_greedy(x, 3, seed=3)) == [0, 1, 2]


def test_k_center_with_groups_chooses_each_group_once():
    x = clusters(per=4, dims=4)
    groups = [f"patient{i // 2}" for i in range(len(x))]   # two rows per patient
    picks = k_center_greedy(x, 8, already=[], seed=0, groups=groups)
    assert len(picks) == 8 and len({groups[p] for p in picks}) == 8


def test_k_center_returns_fewer_when_the_points_run_out():
    assert len(k_center_greedy(clusters(per=2), 10, already=[0, 1])) == 4


# --- disagreement -----------------------------------------------------------------------------------------------------
def one_hot_logits(labels: np.ndarray, k: int = 4) -> torch.Tensor:
    """(B, H, W) class maps -> (B, K, H, W) logits whose argmax is that map."""
    return torch.nn.functional.one_hot(torch.as_tensor(labels, dtype=torch.long), k).permute(0, 3, 1, 2).float()


def test_disagreement_is_one_minus_the_mean_foreground_dice_of_the_argmax_maps():
    a, b = np.zeros((3, 8, 8), int), np.zeros((3, 8, 8), int)
    a[0, :2, :2] = b[0, :2, :2] = 1                       # identical
    a[1, :2, :2], b[1, 4:6, 4:6] = 2, 2                   # disjoint
    a[2, 0, :4], b[2, 0, :2] = 3, 3                       # Dice 2*2/(4+2)
    scores = disagreement(one_hot_logits(a), one_hot_logits(b))
    assert scores.dtype == torch.float32 and scores.shape == (3,)
    assert scores.tolist() == pytest.approx([0.0, 1.0, 1 - 4 / 6])


def test_slices_where_both_models_see_only_background_score_zero():
    empty = np.zeros((2, 8, 8), int)
    assert disagreement(one_hot_logits(empty), one_hot_logits(empty)).tolist() == [0.0, 0.0]


def test_disagreement_ranks_unlabelled_patients_from_a_runs_latest_checkpoint(project, tmp_path):
    run = fake_run(tmp_path / "run", teacher_seed=1)
    result = suggest(project, "disagreement", fraction=1.0, run_dir=run, device="cpu")
    assert result.run == str(run) and [s.patient for s in result.suggestions] != []
    assert "p1" not in {s.patient for s in result.suggestions} and len(result.suggestions) == PATIENTS - 1
    scores = [s.score for s in result.suggestions]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert all("teacher and student disagree" in s.reason for s in result.suggestions)


def test_a_teacher_equal_to_the_student_disagrees_nowhere(project, tmp_path):
    run = fake_run(tmp_path / "run", teacher_seed=0, seed=0)
    result = suggest(project, "disagreement", fraction=1.0, unit="slices", run_dir=run, device="cpu")
    assert len(result.suggestions) == 48 - 8 and {s.score for s in result.suggestions} == {0.0}


def test_a_checkpoint_without_a_teacher_is_a_clear_error(project, tmp_path):
    run = fake_run(tmp_path / "run", teacher_seed=None)
    with pytest.raises(InputError, match="no teacher"):
        suggest(project, "disagreement", fraction=1.0, run_dir=run, device="cpu")


def test_disagreement_uses_the_projects_newest_run_by_default(project):
    with pytest.raises(InputError, match="no training run"):
        suggest(project, "disagreement", fraction=1.0)
    run = fake_run(project.runs_dir / "run-1", teacher_seed=1)
    assert suggest(project, "disagreement", fraction=1.0, device="cpu").run == str(run)


# --- features and diverse suggestions ---------------------------------------------------------------------------------
def test_intensity_features_are_centred_histogram_and_layout():
    slices = np.random.default_rng(0).random((5, 20, 24)).astype(np.float32)
    features = intensity_features(slices, bins=16, grid=4)
    assert features.shape == (5, 16 + 16) and features.dtype == np.float32
    assert np.allclose(features.mean(axis=0), 0, atol=1e-6)


def test_diverse_patients_skip_the_labelled_and_cover_the_rest(project):
    result = suggest(project, "diverse", fraction=0.5, features="intensity")
    assert result.features.startswith("intensity") and result.warnings == []
    assert len(result.suggestions) == 2 and "p1" not in {s.patient for s in result.suggestions}
    first = result.suggestions[0]
    assert first.cases == [f"{first.patient}_f1", f"{first.patient}_f2"] and first.case in first.cases
    assert first.score > result.suggestions[1].score > 0 and "farthest" in first.reason


def test_diverse_slices_exclude_done_slices(project):
    result = suggest(project, "diverse", fraction=0.25, unit="slices", features="intensity")
    assert len(result.suggestions) == 12 - 8
    picked = {(s.case, s.slice) for s in result.suggestions}
    assert len(picked) == 4 and not any(case.startswith("p1_") for case, _ in picked)


def test_without_dinov2_weights_auto_falls_back_to_intensity_and_says_so(project):
    result = suggest(project, "diverse", fraction=0.5, download=False)
    assert result.features.startswith("intensity") and len(result.suggestions) == 2
    assert any(w.startswith("Diversity is measured on intensity") and "dinov2_weights" in w for w in result.warnings)


def test_dinov2_features_without_weights_stop_unless_untrained_is_allowed(project):
    with pytest.raises(EncoderWeightsError):
        suggest(project, "diverse", fraction=0.5, features="dinov2", encoder_depth=1)


def test_an_untrained_encoder_is_flagged_in_the_result(project):
    result = suggest(project, "diverse", fraction=0.5, features="dinov2", allow_untrained=True, encoder_depth=1,
                     device="cpu")
    assert "untrained" in result.features and len(result.suggestions) == 2
    assert any(w.startswith("UNTRAINED") for w in result.warnings)


def test_a_reached_target_suggests_nothing(project):
    result = suggest(project, "diverse", fraction=0.1, features="intensity")
    assert result.suggestions == [] and "target reached" in result.summary()


def test_random_suggestions_name_every_case_of_the_patient(project):
    result = suggest(project, "random", fraction=0.5, seed=2)
    assert len(result.suggestions) == 2 and all(s.score is None for s in result.suggestions)
    assert all(s.cases == [f"{s.patient}_f1", f"{s.patient}_f2"] for s in result.suggestions)


def test_random_slices_is_refused_with_what_to_do(project):
    with pytest.raises(ConfigError, match="whole patients"):
        suggest(project, "random", unit="slices")


# --- the command ------------------------------------------------------------------------------------------------------
def test_suggest_command_prints_json_with_reasons_scores_and_summary(project, capsys):
    project.close()
    assert main(["project", "suggest", str(project.path), "--strategy", "diverse", "--fraction", "0.5",
                 "--features", "intensity", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == "labelled 1 of 6 patients (17 %) against a target of 50 %"
    assert data["progress"] | {} == {"labelled": 1, "total": 6, "fraction": 0.5, "unit": "patients", "target": 3,
                                     "percent": 16.67, "partly": 0}
    assert len(data["suggestions"]) == 2 and {"patient", "cases", "case", "slice", "score", "reason",
                                              "note"} == set(data["suggestions"][0])


def test_suggest_command_reads_a_project_another_process_has_open(project, capsys):
    assert main(["project", "suggest", str(project.path), "--strategy", "random", "--fraction", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "drawn at random (seed 0)" in out
    assert out.rstrip().endswith("labelled 1 of 6 patients (17 %) against a target of 50 %")


def test_suggest_command_turns_user_errors_into_one_line(project, capsys):
    assert main(["project", "suggest", str(project.path), "--strategy", "disagreement", "--fraction", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no training run" in err and err.count("\n") == 1


def test_suggest_options_round_trip_through_the_command_line():
    import argparse

    from sra_seg_core.commands import _project_suggest
    from sra_seg_core.selection import SuggestOptions

    parser = argparse.ArgumentParser()
    _project_suggest.register(parser.add_subparsers())
    options = SuggestOptions(strategy="disagreement", fraction=0.25, unit="slices", seed=3, run_dir="runs/a",
                             features="intensity", weights_file="w.pth", allow_untrained=True, encoder_depth=2,
                             download=False, device="cpu")
    args = parser.parse_args(["suggest", "P", *options.cli_args()])
    assert SuggestOptions.from_cli(args) == options
