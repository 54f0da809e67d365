"""Exporting a project: NIfTI on the scan's grid, PNG masks, overlays, metrics, failures reported, cancel."""

from __future__ import annotations

import csv
import json
import os
import signal

import numpy as np
import pytest
import SimpleITK as sitk

from sra_seg_core.cli import main
from sra_seg_core.errors import ConfigError
from sra_seg_core.events import read_events
from sra_seg_core.export import (
    METRICS_COLUMNS,
    class_edges,
    display_window,
    export_project,
    hex_rgb,
    overlay_rgb,
)
from sra_seg_core.image import Image
from sra_seg_core.io import read_label, write_image
from sra_seg_core.metrics import CSV_COLUMNS, case_metrics
from sra_seg_core.project import Project

SHAPE = (4, 12, 10)  # slices, rows, columns


def oblique_affine() -> np.ndarray:
    """Spacing (0.7, 0.8, 3.0) mm, rotated 30° about z and 10° about x, shifted: nothing about it is the identity."""
    a, b = np.radians(30), np.radians(10)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ rx @ np.diag([0.7, 0.8, 3.0])
    affine[:3, 3] = (-40.5, 12.25, 80.0)
    return affine


def boxes(shift: int = 0) -> np.ndarray:
    """(Z, Y, X) uint8: class 1, 2 and 3 as boxes on every slice, moved ``shift`` columns."""
    labels = np.zeros(SHAPE, np.uint8)
    labels[:, 1:5, 1 + shift:4 + shift] = 1
    labels[:, 6:10, 1 + shift:5 + shift] = 2
    labels[:, 2:9, 6:9] = 3
    return labels


def add_case(project, folder, case_id, *, affine=None, suffix=".nii.gz", approved=None, reference=None,
             prediction=None):
    rng = np.random.default_rng(len(case_id))
    image = Image(rng.normal(100, 20, SHAPE).astype(np.float32), oblique_affine() if affine is None else affine)
    source = write_image(image, folder / f"{case_id}{suffix}")
    ref_file = None if reference is None else write_image(image.with_array(reference, label=True),
                                                          folder / f"{case_id}_ref.nii.gz")
    project.import_image(source, copy=True, case_id=case_id, label=ref_file, label_as="reference")
    if approved is not None:
        project.save_label(case_id, approved)
    if prediction is not None:
        project.save_prediction(case_id, prediction)
    return source


@pytest.fixture
def project(tmp_path):
    """Case a: approved + reference + prediction; b: approved only (NRRD source); c: prediction only; d: nothing."""
    folder = tmp_path / "sources"
    folder.mkdir()
    with Project.create(tmp_path / "project") as project:
        add_case(project, folder, "a", approved=boxes(), reference=boxes(shift=1), prediction=boxes(shift=2))
        add_case(project, folder, "b", suffix=".nrrd", approved=boxes())
        add_case(project, folder, "c", prediction=boxes(shift=1))
        add_case(project, folder, "d")
        yield project


def exported_files(out):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


# --- NIfTI ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case_id", ["a", "b"], ids=["nifti-source", "nrrd-source"])
def test_nifti_keeps_the_oblique_affine_of_the_source_image(project, tmp_path, case_id):
    export_project(project, tmp_path / "out", cases=[case_id], metrics_csv=False)
    exported = read_label(tmp_path / "out" / "nifti" / f"{case_id}.nii.gz")
    source = project.read_image(case_id)
    assert not np.allclose(source.affine, np.diag(np.diag(source.affine)))  # really oblique
    np.testing.assert_allclose(exported.affine, source.affine, atol=1e-5)
    np.testing.assert_allclose(exported.affine, oblique_affine(), atol=1e-4)


def test_nifti_holds_the_approved_label_voxel_for_voxel(project, tmp_path):
    export_project(project, tmp_path / "out", cases=["a"], metrics_csv=False)
    exported = read_label(tmp_path / "out" / "nifti" / "a.nii.gz")
    assert exported.array.dtype == np.uint8
    np.testing.assert_array_equal(exported.array, boxes())


def test_a_prediction_is_named_pred_beside_the_approved_label(project, tmp_path):
    export_project(project, tmp_path / "out", cases=["a"], source="both", metrics_csv=False)
    assert exported_files(tmp_path / "out") == ["export.json", "nifti/a.nii.gz", "nifti/a_pred.nii.gz"]
    np.testing.assert_array_equal(read_label(tmp_path / "out" / "nifti" / "a_pred.nii.gz").array, boxes(shift=2))


def test_unsaved_strokes_in_the_journal_are_exported(project, tmp_path):
    project.append_stroke("b", 0, np.array([0]), np.array([0], np.uint8), np.array([3], np.uint8))
    export_project(project, tmp_path / "out", cases=["b"], metrics_csv=False)
    assert read_label(tmp_path / "out" / "nifti" / "b.nii.gz").array[0, 0, 0] == 3


# --- PNG masks and overlays -------------------------------------------------------------------------------------------
def test_png_masks_hold_the_class_index_of_every_pixel(project, tmp_path):
    export_project(project, tmp_path / "out", cases=["a"], nifti=False, png_masks=True, metrics_csv=False)
    folder = tmp_path / "out" / "png" / "a"
    assert sorted(p.name for p in folder.iterdir()) == [f"a_z{z:03d}.png" for z in range(SHAPE[0])]
    for z in range(SHAPE[0]):
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"a_z{z:03d}.png")))
        assert mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, boxes()[z])


def test_overlays_are_rgb_pngs_with_class_colours_where_labelled(project, tmp_path):
    export_project(project, tmp_path / "out", cases=["a"], nifti=False, png_overlays=True, metrics_csv=False,
                   overlay_opacity=0.5)
    rgb = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "overlays" / "a" / "a_z002.png")))
    assert rgb.shape == (*SHAPE[1:], 3) and rgb.dtype == np.uint8
    labels = boxes()[2]
    edges = class_edges(labels)
    for cls in project.classes:
        assert np.all(rgb[(labels == cls.value) & edges] == hex_rgb(cls.color))
    grey = rgb[labels == 0]
    assert np.all(grey[:, 0] == grey[:, 1]) and np.all(grey[:, 1] == grey[:, 2])


def test_an_overlay_fills_a_region_with_its_colour_at_the_opacity_over_the_windowed_grey():
    image = np.full((5, 5), 50.0)
    labels = np.zeros((5, 5), np.uint8)
    labels[1:4, 1:4] = 2
    rgb = overlay_rgb(image, labels, {2: (200, 100, 0)}, window=(0.0, 100.0), opacity=0.25)
    grey = 127.5
    assert tuple(rgb[2, 2]) == tuple(round(0.75 * grey + 0.25 * c) for c in (200, 100, 0))  # inside
    assert tuple(rgb[1, 1]) == (200, 100, 0)  # outline
    assert tuple(rgb[0, 0]) == (128, 128, 128)  # unlabelled


def test_the_overlay_window_spans_the_volume_percentiles_and_is_never_empty():
    volume = np.arange(1000, dtype=np.float32)
    low, high = display_window(volume)
    assert low == pytest.approx(9.99) and high == pytest.approx(989.01)
    assert display_window(np.full((3, 3), 7.0)) == (7.0, 8.0)


# --- metrics ----------------------------------------------------------------------------------------------------------
def test_metrics_csv_has_the_standard_columns_first_and_scores_against_the_reference(project, tmp_path):
    report = export_project(project, tmp_path / "out", cases=["a", "b"], source="both", nifti=False)
    with open(tmp_path / "out" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == METRICS_COLUMNS and METRICS_COLUMNS[: len(CSV_COLUMNS)] == CSV_COLUMNS
    # b has no reference, so only case a is scored, once per source and class
    assert [(r["case"], r["source"], r["label"], r["class"]) for r in rows] == [
        ("a", source, str(c.value), c.name) for source in ("approved", "prediction") for c in project.classes
    ]
    spacing = project.read_image("a").spacing_zyx
    for source, labels in (("approved", boxes()), ("prediction", boxes(shift=2))):
        expected = case_metrics(labels, boxes(shift=1), [1, 2, 3], spacing)
        got = [r for r in rows if r["source"] == source]
        for row, metrics in zip(got, expected):
            for column in CSV_COLUMNS[2:]:
                assert float(row[column]) == pytest.approx(float(getattr(metrics, column)), nan_ok=True)
    assert report.metrics["approved"]["cases"] == 1
    assert report.metrics["approved"]["dice"] == pytest.approx(np.mean([m.dice for m in case_metrics(
        boxes(), boxes(shift=1), [1, 2, 3], spacing)]))


def test_no_metrics_file_when_no_exported_case_has_a_reference(project, tmp_path):
    report = export_project(project, tmp_path / "out", cases=["b"])
    assert not (tmp_path / "out" / "metrics.csv").exists() and report.metrics == {}


# --- which cases, failures, cancelling -------------------------------------------------------------------------------
def test_by_default_every_case_with_the_chosen_labels_is_exported(project, tmp_path):
    assert export_project(project, tmp_path / "o1").exported == ["a", "b"]
    assert export_project(project, tmp_path / "o2", source="prediction").exported == ["a", "c"]
    assert export_project(project, tmp_path / "o3", source="both").exported == ["a", "b", "c"]


def test_a_listed_case_without_the_chosen_labels_is_skipped_with_the_reason(project, tmp_path):
    report = export_project(project, tmp_path / "out", cases=["d", "b"], source="both", metrics_csv=False)
    assert report.exported == ["b"]
    assert report.skipped == [("d", "no approved label and no prediction"),
                              ("b", "no prediction; only its approved label was exported")]


def test_a_damaged_case_is_reported_and_the_export_goes_on(project, tmp_path):
    (project.path / project.case("a").image).write_bytes(b"not a nifti file")
    report = export_project(project, tmp_path / "out", cases=["a", "b"], metrics_csv=False)
    assert report.exported == ["b"]
    [(case_id, reason)] = report.failed
    assert case_id == "a" and "a.nii.gz" in reason
    assert exported_files(tmp_path / "out") == ["export.json", "nifti/b.nii.gz"]
    saved = json.loads((tmp_path / "out" / "export.json").read_text())
    assert saved["failed"] == [["a", reason]] and saved["exported"] == ["b"]


def test_an_unknown_case_is_an_error_before_anything_is_written(project, tmp_path):
    with pytest.raises(Exception, match="no case 'zz'"):
        export_project(project, tmp_path / "out", cases=["a", "zz"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("options, message", [
    ({"source": "reference"}, "source must be one of"),
    ({"overlay_opacity": 1.5}, "opacity"),
    ({"overlay_opacity": float("nan")}, "opacity"),
    ({"nifti": False, "metrics_csv": False}, "nothing to export"),
])
def test_bad_options_are_config_errors(project, tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        export_project(project, tmp_path / "out", **options)


def test_cancel_stops_between_slices_and_still_records_what_was_done(project, tmp_path):
    written = []
    report = export_project(project, tmp_path / "out", cases=["a", "b"], png_masks=True, metrics_csv=False,
                            on_progress=lambda done, total, case: written.append(case),
                            cancel=lambda: len(list((tmp_path / "out").rglob("*.png"))) >= 2)
    assert report.cancelled and report.exported == [] and written == ["a"]
    assert exported_files(tmp_path / "out") == ["export.json", "nifti/a.nii.gz", "png/a/a_z000.png",
                                                "png/a/a_z001.png"]
    assert json.loads((tmp_path / "out" / "export.json").read_text())["cancelled"] is True


def test_export_json_says_what_when_and_from_where(project, tmp_path):
    report = export_project(project, tmp_path / "out", source="prediction", png_overlays=True)
    saved = json.loads((tmp_path / "out" / "export.json").read_text())
    assert saved["format"] == "sra-seg-export" and saved["project"]["path"] == str(project.path)
    assert saved["source"] == "prediction" and saved["exported_at"]
    assert saved["formats"] == {"nifti": True, "png_masks": False, "png_overlays": True, "metrics_csv": True,
                               "dicom_seg": False}
    assert saved["files"] == len(report.files) == len(exported_files(tmp_path / "out"))
    assert sorted(saved["file_list"]) == exported_files(tmp_path / "out")


# --- command line -----------------------------------------------------------------------------------------------------
def test_cli_exports_read_only_while_the_project_is_open_and_streams_events(project, tmp_path, capsys):
    code = main(["project", "export", str(project.path), str(tmp_path / "out"), "--cases", "a", "c",
                 "--source", "prediction", "--png", "--events", "-"])
    out, err = capsys.readouterr()
    events = read_events(out.splitlines())
    assert code == 0
    assert [e.event for e in events][0] == "stage" and events[-1].event == "done"
    assert [e.message for e in events if e.event == "progress"] == ["a", "c", ""]
    assert events[-1].status == "finished" and events[-1].result["exported"] == ["a", "c"]
    assert "exported 2 of 2 cases" in err
    assert (tmp_path / "out" / "png" / "c_pred" / "c_pred_z003.png").exists()


def test_cli_reads_case_ids_from_a_file_and_exits_1_when_a_case_failed(project, tmp_path, capsys):
    (project.path / project.case("b").image).write_bytes(b"broken")
    (tmp_path / "ids.txt").write_text("a\n\nb\n")
    code = main(["project", "export", str(project.path), str(tmp_path / "out"), "--cases-file",
                 str(tmp_path / "ids.txt"), "--no-metrics"])
    out = capsys.readouterr().out
    assert code == 1 and "failed  b: " in out and "exported 1 of 2 cases" in out


def test_cli_stops_cleanly_on_sigterm(project, tmp_path, capsys, monkeypatch):
    original = Project.read_image

    def terminated(self, case_id):  # the app's Cancel sends SIGTERM while a case is being exported
        os.kill(os.getpid(), signal.SIGTERM)
        return original(self, case_id)

    monkeypatch.setattr(Project, "read_image", terminated)
    code = main(["project", "export", str(project.path), str(tmp_path / "out"), "--png", "--events", "-"])
    done = read_events(capsys.readouterr().out.splitlines())[-1]
    assert code == 0 and done.event == "done" and done.status == "stopped"
    assert done.result["exported"] == [] and not (tmp_path / "out" / "png").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_cli_user_errors_are_one_line(project, tmp_path, capsys):
    assert main(["project", "export", str(project.path), str(tmp_path / "out"), "--cases", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no case 'nope'" in err and err.count("\n") == 1


def test_export_options_round_trip_through_the_command_line():
    import argparse

    from sra_seg_core.commands import _project_export
    from sra_seg_core.export import ExportOptions

    parser = argparse.ArgumentParser()
    _project_export.register(parser.add_subparsers())
    options = ExportOptions(source="both", nifti=False, png_masks=True, png_overlays=True, metrics_csv=False,
                            overlay_opacity=0.3)
    args = parser.parse_args(["export", "P", "OUT", *options.cli_args()])
    assert ExportOptions.from_cli(args) == options
