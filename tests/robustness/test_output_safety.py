"""No command overwrites one of its inputs, an existing run, a project's files or another patient's data; replacing an
earlier output takes --overwrite (see ``sra_seg_core/outputs.py``). Every refusal is one ``error:`` line, exit 2,
with the files untouched."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sra_seg_core.cli import main
from sra_seg_core.errors import ConfigError
from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.outputs import check_not_a_run, check_outside_projects
from sra_seg_core.project import Project


def scan(path, seed=0):
    values = np.random.default_rng(seed).normal(100, 20, (2, 12, 10)).astype(np.float32)
    return write_image(Image(values), path)


def label(path, shift=0):
    values = np.zeros((2, 12, 10), np.uint8)
    values[:, 2:8, 2 + shift:6 + shift] = 1
    return write_image(Image(values), path)


def refused(capsys, argv, *words) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert all(word in err for word in words), err
    return err


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- predict ---------------------------------------------------------------------------------------------------------
def test_predict_output_equal_to_the_input_file_is_refused(capsys, tmp_path):
    source = scan(tmp_path / "scan.nii.gz")
    before = source.read_bytes()
    refused(capsys, ["predict", "--checkpoint", tmp_path / "m.pt", "--input", source, "--output", source,
                     "--overwrite"], "is the input")
    assert source.read_bytes() == before


def test_predict_output_equal_to_the_input_folder_is_refused(capsys, tmp_path):
    scans = tmp_path / "scans"
    scan(scans / "a.nii.gz"), scan(scans / "b.nii.gz", 1)
    before = snapshot(scans)
    refused(capsys, ["predict", "--checkpoint", tmp_path / "m.pt", "--input", scans, "--output", scans,
                     "--overwrite"], "is the input")
    assert snapshot(scans) == before


def test_predict_output_through_a_symlink_to_the_input_is_refused(capsys, tmp_path):
    source = scan(tmp_path / "scan.nii.gz")
    (tmp_path / "link.nii.gz").symlink_to(source)
    refused(capsys, ["predict", "--checkpoint", tmp_path / "m.pt", "--input", source, "--output",
                     tmp_path / "link.nii.gz", "--overwrite"], "is the input")


def test_predict_does_not_replace_an_existing_output_without_overwrite(capsys, tmp_path):
    source = scan(tmp_path / "scan.nii.gz")
    (tmp_path / "mask.nii.gz").write_bytes(b"earlier result")
    refused(capsys, ["predict", "--checkpoint", tmp_path / "m.pt", "--input", source, "--output",
                     tmp_path / "mask.nii.gz"], "already exists", "--overwrite")
    assert (tmp_path / "mask.nii.gz").read_bytes() == b"earlier result"


def test_predict_into_a_project_is_refused(capsys, tmp_path, project_path):
    source = scan(tmp_path / "scan.nii.gz")
    before = snapshot(project_path)
    refused(capsys, ["predict", "--checkpoint", tmp_path / "m.pt", "--input", source, "--output",
                     project_path / "labels" / "a.nii.gz"], "inside the project")
    assert snapshot(project_path) == before


# --- evaluate --------------------------------------------------------------------------------------------------------
def test_evaluate_csv_naming_the_ground_truth_is_refused_even_with_overwrite(capsys, tmp_path):
    gt, pred = label(tmp_path / "case_gt.nii.gz"), label(tmp_path / "case_pred.nii.gz", 1)
    before = gt.read_bytes()
    refused(capsys, ["evaluate", "--pred", pred, "--gt", gt, "--csv", gt, "--overwrite"], "is the input")
    assert gt.read_bytes() == before


def test_evaluate_csv_naming_a_file_of_the_ground_truth_folder_is_refused(capsys, tmp_path):
    label(tmp_path / "gt" / "case.nii.gz"), label(tmp_path / "pred" / "case.nii.gz", 1)
    before = snapshot(tmp_path / "gt")
    refused(capsys, ["evaluate", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt", "--csv",
                     tmp_path / "gt" / "case.nii.gz", "--overwrite"], "a file of the input folder")
    assert snapshot(tmp_path / "gt") == before


def test_evaluate_replaces_an_earlier_csv_only_with_overwrite(capsys, tmp_path):
    gt, pred = label(tmp_path / "case_gt.nii.gz"), label(tmp_path / "case_pred.nii.gz", 1)
    (tmp_path / "m.csv").write_text("earlier")
    refused(capsys, ["evaluate", "--pred", pred, "--gt", gt, "--csv", tmp_path / "m.csv"], "already exists")
    assert (tmp_path / "m.csv").read_text() == "earlier"
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--csv", str(tmp_path / "m.csv"),
                 "--overwrite"]) == 0
    assert (tmp_path / "m.csv").read_text().startswith("case,label,dice")


def test_evaluate_predictions_inside_the_data_set_are_refused(capsys, tmp_path, phantoms):
    before = snapshot(phantoms)
    refused(capsys, ["evaluate", "--checkpoint", tmp_path / "m.pt", "--data", phantoms, "--predictions",
                     phantoms / "patient001"], "inside the input folder")
    assert snapshot(phantoms) == before


# --- convert ---------------------------------------------------------------------------------------------------------
def test_convert_onto_its_input_is_refused_even_with_overwrite(capsys, tmp_path):
    source = scan(tmp_path / "scan.nii.gz")
    before = source.read_bytes()
    refused(capsys, ["convert", source, source, "--overwrite"], "is the input")
    assert source.read_bytes() == before


def test_convert_onto_a_hard_link_of_its_input_is_refused(capsys, tmp_path):
    source = scan(tmp_path / "scan.nii.gz")
    os.link(source, tmp_path / "same.nii.gz")
    refused(capsys, ["convert", source, tmp_path / "same.nii.gz", "--overwrite"], "is the input")


def test_convert_replaces_an_existing_output_only_with_overwrite(capsys, tmp_path):
    source = scan(tmp_path / "scan.nii.gz")
    (tmp_path / "out.nrrd").write_bytes(b"earlier")
    refused(capsys, ["convert", source, tmp_path / "out.nrrd"], "already exists", "--overwrite")
    assert (tmp_path / "out.nrrd").read_bytes() == b"earlier"
    assert main(["convert", str(source), str(tmp_path / "out.nrrd"), "--overwrite"]) == 0
    assert (tmp_path / "out.nrrd").read_bytes() != b"earlier"


# --- train -----------------------------------------------------------------------------------------------------------
def test_train_out_an_existing_run_is_refused(capsys, tmp_path, phantoms):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text('{"status": "finished"}')
    (run / "checkpoints" / "best.pt").write_bytes(b"weights")
    before = snapshot(run)
    refused(capsys, ["train", "--data", phantoms, "--method", "supervised", "--out", run], "existing run", "--resume")
    assert snapshot(run) == before


def test_train_out_inside_the_data_folder_is_refused(capsys, phantoms):
    refused(capsys, ["train", "--data", phantoms, "--method", "supervised", "--out", phantoms / "runs" / "x"],
            "inside the input folder")
    assert not (phantoms / "runs").exists()


def test_train_out_inside_a_project_but_not_in_its_runs_is_refused(capsys, project_path, phantoms):
    refused(capsys, ["train", "--data", phantoms, "--method", "supervised", "--out", project_path / "labels" / "x"],
            "inside the project")


def test_a_new_run_folder_in_a_projects_runs_holding_only_its_config_is_allowed(project_path):
    run = project_path / "runs" / "sra-seg-1"
    run.mkdir()
    (run / "config.yaml").write_text("train: {}\n")  # what the app writes before it starts the trainer
    check_not_a_run(run)
    check_outside_projects(run, option="--out", runs_allowed=True)
    with pytest.raises(ConfigError, match="inside the project"):
        check_outside_projects(run, option="--out")


# --- projects --------------------------------------------------------------------------------------------------------
def test_project_export_into_the_project_itself_is_refused(capsys, project_path):
    before = snapshot(project_path)
    refused(capsys, ["project", "export", project_path, project_path], "is the input")
    refused(capsys, ["project", "export", project_path, project_path / "labels"], "inside the project")
    assert snapshot(project_path) == before


def test_project_predict_output_inside_the_project_is_refused(capsys, project_path, tmp_path):
    before = snapshot(project_path)
    refused(capsys, ["project", "predict", project_path, "--checkpoint", tmp_path / "m.pt", "--output",
                     project_path / "labels"], "inside the project")
    refused(capsys, ["project", "predict", project_path, "--checkpoint", tmp_path / "m.pt", "--output",
                     project_path], "is the input")
    assert snapshot(project_path) == before


def test_project_export_into_a_folder_with_other_files_needs_overwrite(capsys, project_path, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused(capsys, ["project", "export", project_path, tmp_path / "mine"], "already holds files", "--overwrite")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_project_export_into_its_own_earlier_export_needs_no_overwrite(project_path, tmp_path):
    assert main(["project", "export", str(project_path), str(tmp_path / "out"), "--no-metrics"]) == 0
    assert (tmp_path / "out" / "export.json").exists()
    assert main(["project", "export", str(project_path), str(tmp_path / "out"), "--no-metrics"]) == 0


def _case(project, folder, case_id, approved=False, prediction=False):
    labels = np.zeros((2, 12, 10), np.uint8)
    labels[:, 3:7, 3:7] = 1
    project.import_image(scan(folder / f"{case_id}.nii.gz", len(case_id)), case_id=case_id)
    if approved:
        project.save_label(case_id, labels)
    if prediction:
        project.save_prediction(case_id, labels)


@pytest.mark.parametrize("other", ["a_pred", "A_PRED"])
def test_export_refuses_two_cases_whose_maps_would_share_a_file(capsys, tmp_path, other):
    with Project.create(tmp_path / "p") as project:
        _case(project, tmp_path, "a", prediction=True)
        _case(project, tmp_path, other, approved=True)
    refused(capsys, ["project", "export", tmp_path / "p", tmp_path / "out", "--source", "both"],
            "'a'", repr(other), "would both be exported")
    assert not (tmp_path / "out").exists()
    assert main(["project", "export", str(tmp_path / "p"), str(tmp_path / "approved"), "--source", "approved"]) == 0


# --- phantoms and demo -----------------------------------------------------------------------------------------------
def test_phantoms_into_a_folder_with_user_data_is_refused(capsys, tmp_path):
    user = tmp_path / "data"
    scan(user / "patient001" / "patient001_frame01.nii.gz")
    before = snapshot(user)
    refused(capsys, ["phantoms", "cardiac", user, "--cases", "1", "--size", "32"], "already holds files",
            "--overwrite")
    assert snapshot(user) == before


def test_phantoms_into_a_project_is_refused(capsys, project_path):
    refused(capsys, ["phantoms", "cardiac", project_path / "images", "--cases", "1", "--size", "32",
                     "--overwrite"], "inside the project")


def test_demo_into_a_project_is_refused(capsys, project_path):
    refused(capsys, ["demo", "--out", project_path / "demo"], "inside the project")


# --- event files -----------------------------------------------------------------------------------------------------
def test_an_events_file_is_never_a_projects_manifest(capsys, project_path, tmp_path):
    before = snapshot(project_path)
    refused(capsys, ["project", "export", project_path, tmp_path / "out", "--events", project_path / "project.json"],
            "a file of the input folder")
    refused(capsys, ["project", "predict", project_path, "--checkpoint", tmp_path / "m.pt", "--output",
                     tmp_path / "out", "--events", project_path / "labels" / "events.jsonl"], "inside the project")
    assert snapshot(project_path) == before
