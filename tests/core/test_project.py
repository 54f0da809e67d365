"""The project store keeps a clinician's work: imports are all-or-nothing, labels survive crashes, files stay apart."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sra_seg_core import io
from sra_seg_core.errors import ConfigError, InputError, ProjectError
from sra_seg_core.image import Image
from sra_seg_core.project import DEFAULT_CLASSES, LabelClass, Project, SliceStatus, generic_classes

SHAPE = (3, 8, 10)  # (Z, Y, X)
AFFINE = np.array([[1.5, 0, 0, -10], [0, 1.25, 0, 5], [0, 0, 4.0, 2], [0, 0, 0, 1]])


def nifti(path, array, affine=AFFINE):
    """Write a (Z, Y, X) array as NIfTI (nibabel stores [i, j, k])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), affine).to_filename(path)
    return path


def scan(seed=0):
    return np.random.default_rng(seed).random(SHAPE).astype(np.float32)


def label_map(seed=0):
    return np.random.default_rng(seed).integers(0, 4, SHAPE).astype(np.uint8)


def tree(folder):
    """Every file under ``folder`` with its bytes, to prove nothing changed."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "proj", name="Heart") as project:
        yield project


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    nifti(folder / "patient001_frame01.nii.gz", scan(1))
    nifti(folder / "patient001_frame01_gt.nii.gz", label_map(1))
    nifti(folder / "patient002_frame01.nii.gz", scan(2))
    return folder


# --- create / open ------------------------------------------------------------------------------------------------
def test_create_open_round_trip(tmp_path):
    classes = [LabelClass(1, "vessel", "#0072B2")]
    with Project.create(tmp_path / "p", name="Eyes", classes=classes) as created:
        created.settings["window"] = [0, 255]
        created.save()
    with Project.open(tmp_path / "p") as opened:
        assert (opened.name, opened.classes, opened.settings) == ("Eyes", classes, {"window": [0, 255]})
        assert opened.cases == [] and not opened.read_only


def test_create_makes_the_layout(project):
    assert {p.name for p in project.path.iterdir()} >= {"project.json", "images", "labels", "reference",
                                                       "predictions", "runs", ".lock"}
    assert project.classes == DEFAULT_CLASSES


def test_create_refuses_a_folder_that_holds_a_project(project):
    with pytest.raises(ProjectError, match="already holds a project"):
        Project.create(project.path)


def test_create_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "stuff.txt").write_text("mine")
    with pytest.raises(ProjectError, match="not an empty folder"):
        Project.create(tmp_path)


def test_open_refuses_a_folder_without_manifest(tmp_path):
    with pytest.raises(ProjectError, match="not an SRA-Seg project"):
        Project.open(tmp_path)


def test_save_stamps_modified(project):
    project._manifest.modified = "earlier"
    project.save()
    stamp = json.loads((project.path / "project.json").read_text())["modified"]
    assert datetime.fromisoformat(stamp).tzinfo is not None


def test_generic_classes_have_distinct_colours():
    classes = generic_classes(12)
    assert [c.value for c in classes] == list(range(1, 13))
    assert len({c.color for c in classes}) == 12


# --- import -------------------------------------------------------------------------------------------------------
def test_import_by_reference_leaves_the_file_where_it_is(project, data):
    source = data / "patient002_frame01.nii.gz"
    case = project.import_image(source)
    assert (case.id, case.copied, case.image, case.group) == ("patient002_frame01", False, str(source), "patient002")
    assert case.shape == SHAPE and case.spacing == pytest.approx((1.5, 1.25, 4.0))
    assert list((project.path / "images").iterdir()) == []
    np.testing.assert_allclose(project.read_image(case.id).array, scan(2))


def test_import_with_copy_keeps_a_byte_copy(project, data):
    source = data / "patient002_frame01.nii.gz"
    case = project.import_image(source, copy=True, role="synthetic")
    assert case.copied and case.image == "images/patient002_frame01.nii.gz" and case.role == "synthetic"
    assert (project.path / case.image).read_bytes() == source.read_bytes()
    source.unlink()
    np.testing.assert_allclose(project.read_image(case.id).array, scan(2))


def test_imported_case_is_in_the_saved_manifest(project, data):
    case = project.import_image(data / "patient002_frame01.nii.gz")
    with Project.open(project.path, read_only=True) as again:
        assert again.cases == [case]


def test_bad_image_leaves_the_project_unchanged(project, tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_text("not an image")
    before = tree(project.path)
    with pytest.raises(InputError, match="bad.nii.gz"):
        project.import_image(bad, copy=True)
    assert tree(project.path) == before
    assert project.cases == []


def test_label_with_other_geometry_is_rejected(project, data, tmp_path):
    moved = nifti(tmp_path / "moved_gt.nii.gz", label_map(1), affine=AFFINE @ np.diag([1, 1, 2, 1]))
    before = tree(project.path)
    with pytest.raises(InputError):
        project.import_image(data / "patient001_frame01.nii.gz", label=moved, copy=True)
    assert tree(project.path) == before


def test_label_with_other_shape_is_rejected(project, data, tmp_path):
    small = nifti(tmp_path / "small_gt.nii.gz", label_map(1)[:, :4])
    with pytest.raises(InputError):
        project.import_image(data / "patient001_frame01.nii.gz", label=small)
    assert project.cases == []


def test_label_with_unknown_class_values_is_rejected(tmp_path, data):
    with Project.create(tmp_path / "p", classes=generic_classes(2)) as project:
        with pytest.raises(InputError):
            project.import_image(data / "patient001_frame01.nii.gz", label=data / "patient001_frame01_gt.nii.gz")


def test_approved_label_is_stored_on_the_image_grid_and_marks_slices_done(project, data):
    case = project.import_image(data / "patient001_frame01.nii.gz", label=data / "patient001_frame01_gt.nii.gz")
    label = project.read_label(case.id)
    assert label.array.dtype == np.uint8
    np.testing.assert_array_equal(label.array, label_map(1))
    np.testing.assert_allclose(nib.load(project.path / case.label).affine, AFFINE)
    assert case.slice_status == "ddd"


def test_reference_label_is_kept_apart(project, data):
    case = project.import_image(
        data / "patient001_frame01.nii.gz", label=data / "patient001_frame01_gt.nii.gz", label_as="reference"
    )
    np.testing.assert_array_equal(project.read_reference(case.id).array, label_map(1))
    assert case.label is None and not project.read_label(case.id).array.any()
    assert case.slice_status == "..."


def test_case_ids_are_made_unique(project, data, tmp_path):
    other = nifti(tmp_path / "elsewhere" / "patient002_frame01.nii.gz", scan(5))
    first = project.import_image(data / "patient002_frame01.nii.gz")
    second = project.import_image(other)
    assert (first.id, second.id) == ("patient002_frame01", "patient002_frame01-2")


def test_explicit_case_id_and_group(project, data):
    case = project.import_image(data / "patient002_frame01.nii.gz", case_id="p2-ed", group="p2")
    assert (case.id, case.group) == ("p2-ed", "p2")
    with pytest.raises(ConfigError, match="already used"):
        project.import_image(data / "patient001_frame01.nii.gz", case_id="P2-ED")


def test_importing_the_same_file_twice_is_refused(project, data):
    project.import_image(data / "patient002_frame01.nii.gz")
    with pytest.raises(InputError, match="already in the project"):
        project.import_image(data / "patient002_frame01.nii.gz", copy=True)


def test_import_folder_pairs_labels_and_reports_skipped_files(project, data):
    (data / "notes.txt").write_text("hello")
    (data / "broken.nii.gz").write_bytes(b"\x1f\x8b broken")
    seen = []
    report = project.import_folder(data, on_progress=lambda done, total, path: seen.append((done, total)))
    assert [c.id for c in report.imported] == ["patient001_frame01", "patient002_frame01"]
    assert report.imported[0].label is not None and report.imported[1].label is None
    assert [(p.name, bool(reason)) for p, reason in report.skipped] == [("broken.nii.gz", True)]
    assert [p.name for p in report.ignored] == ["notes.txt"]
    assert seen[-1] == (3, 3)


def test_import_folder_finds_labels_in_a_label_folder(project, tmp_path):
    nifti(tmp_path / "Original" / "1_A.nii.gz", scan(3))
    nifti(tmp_path / "Ground truth" / "1_A.nii.gz", label_map(3))
    report = project.import_folder(tmp_path / "Original", label_folder=tmp_path / "Ground truth")
    np.testing.assert_array_equal(project.read_label(report.imported[0].id).array, label_map(3))


def test_import_folder_skips_a_case_whose_label_is_bad_and_names_the_label(project, data):
    nifti(data / "patient002_frame01_gt.nii.gz", label_map(2)[:, :4])
    report = project.import_folder(data)
    assert [c.id for c in report.imported] == ["patient001_frame01"]
    assert "patient002_frame01_gt.nii.gz" in report.skipped[0][1]


def test_import_folder_walks_patient_subfolders(project, tmp_path):
    for n in (1, 2):
        nifti(tmp_path / "acdc" / f"patient00{n}" / f"patient00{n}_frame01.nii.gz", scan(n))
        (tmp_path / "acdc" / f"patient00{n}" / "Info.cfg").write_text("ED: 1")
    report = project.import_folder(tmp_path / "acdc")
    assert [c.group for c in report.imported] == ["patient001", "patient002"]
    assert [p.name for p in report.ignored] == ["Info.cfg", "Info.cfg"] and report.skipped == []


def test_import_options_are_checked_before_any_file(project, data):
    with pytest.raises(ConfigError, match="role"):
        project.import_folder(data, role="fake")


def test_a_frame_of_a_4d_file_is_one_case(project):
    source = Path(nib.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    with pytest.raises(InputError, match="frame"):
        project.import_image(source)
    case = project.import_image(source, frame=1, copy=True)
    assert (case.id, case.frame) == ("example4d_frame01", 1)
    np.testing.assert_array_equal(
        project.read_image(case.id).array, np.asarray(nib.load(source).dataobj)[..., 1].transpose(2, 1, 0)
    )


def test_dicom_series_copied_into_the_project_becomes_nifti(project, tmp_path):
    series = io.write_image(Image(np.arange(2 * 6 * 5, dtype=np.int16).reshape(2, 6, 5), AFFINE), tmp_path / "ct")
    case = project.import_image(series, copy=True)
    assert case.image == "images/ct.nii.gz"
    np.testing.assert_array_equal(project.read_image(case.id).array, np.arange(60).reshape(2, 6, 5))


def test_binary_png_masks_import_into_a_one_class_project(tmp_path):
    picture = np.random.default_rng(0).integers(0, 255, (1, 12, 9)).astype(np.uint8)
    mask = np.zeros((1, 12, 9), np.uint8)
    mask[0, 3:7, 2:5] = 255
    io.write_image(Image(picture), tmp_path / "Original" / "1_A.png")
    io.write_image(Image(mask, meta={"label": True}), tmp_path / "Ground truth" / "1_A.png")
    with Project.create(tmp_path / "p", classes=generic_classes(1)) as project:
        case = project.import_folder(tmp_path / "Original", label_folder=tmp_path / "Ground truth").imported[0]
        np.testing.assert_array_equal(project.read_label(case.id).array, mask // 255)


# --- remove -------------------------------------------------------------------------------------------------------
def test_remove_case_deletes_its_project_files(project, data):
    source, label = data / "patient001_frame01.nii.gz", data / "patient001_frame01_gt.nii.gz"
    case = project.import_image(source, copy=True, label=label)
    project.save_prediction(case.id, label_map(7))
    project.remove_case(case.id)
    assert project.cases == []
    assert [p for p in project.path.rglob("*") if p.is_file() and p.name not in ("project.json", ".lock")] == []


def test_remove_case_never_deletes_a_referenced_source(project, data):
    case = project.import_image(data / "patient002_frame01.nii.gz")
    project.remove_case(case.id)
    assert (data / "patient002_frame01.nii.gz").exists()


# --- labels, journal ----------------------------------------------------------------------------------------------
@pytest.fixture
def case(project, data):
    return project.import_image(data / "patient002_frame01.nii.gz")


def stroke(z, value, seed):
    indices = np.random.default_rng(seed).choice(SHAPE[1] * SHAPE[2], 12, replace=False)
    return z, indices, np.zeros(12, np.uint8), np.full(12, value, np.uint8)


def painted(base, strokes):
    label = base.copy()
    for z, indices, _, new in strokes:
        label[z].reshape(-1)[indices] = new
    return label


def test_unlabelled_case_reads_as_zeros_on_the_image_grid(project, case):
    label = project.read_label(case.id)
    assert label.array.shape == SHAPE and label.array.dtype == np.uint8 and not label.array.any()
    np.testing.assert_allclose(label.affine, AFFINE)


def test_save_label_round_trip(project, case):
    project.save_label(case.id, label_map(4))
    with Project.open(project.path, read_only=True) as again:
        np.testing.assert_array_equal(again.read_label(case.id).array, label_map(4))
        assert again.case(case.id).label == f"labels/{case.id}.nii.gz"


def test_save_label_rejects_values_outside_the_classes(project, case):
    with pytest.raises(ValueError, match="0..3"):
        project.save_label(case.id, np.full(SHAPE, 4, np.uint8))


def test_strokes_replay_on_top_of_the_saved_label(project, case):
    project.save_label(case.id, label_map(4))
    strokes = [stroke(0, 1, 1), stroke(2, 3, 2), stroke(0, 2, 3)]
    for s in strokes:
        project.append_stroke(case.id, *s)
    with Project.open(project.path, read_only=True) as again:
        np.testing.assert_array_equal(again.read_label(case.id).array, painted(label_map(4), strokes))


def test_a_stroke_torn_by_a_crash_is_dropped_and_the_others_kept(project, case):
    strokes = [stroke(0, 1, 1), stroke(1, 2, 2), stroke(2, 3, 3)]
    for s in strokes:
        project.append_stroke(case.id, *s)
    journal = project.path / "labels" / f"{case.id}.journal"
    journal.write_bytes(journal.read_bytes()[:-5])
    with Project.open(project.path, read_only=True) as again:
        np.testing.assert_array_equal(again.read_label(case.id).array, painted(np.zeros(SHAPE, np.uint8), strokes[:2]))


def test_save_label_clears_the_journal(project, case):
    project.append_stroke(case.id, *stroke(1, 2, 0))
    journal = project.path / "labels" / f"{case.id}.journal"
    assert journal.exists()
    project.save_label(case.id, project.read_label(case.id).array)
    assert not journal.exists()


def test_first_stroke_marks_the_slice_in_progress(project, case):
    project.set_slice_status(case.id, 2, SliceStatus.DONE)
    project.append_stroke(case.id, *stroke(0, 1, 0))
    project.append_stroke(case.id, *stroke(2, 1, 0))
    assert project.slice_status(case.id) == "p.d"


def test_stroke_outside_the_slice_is_refused(project, case):
    with pytest.raises(ValueError, match="indices"):
        project.append_stroke(case.id, 0, np.array([SHAPE[1] * SHAPE[2]]), np.zeros(1, np.uint8), np.ones(1, np.uint8))
    with pytest.raises(ValueError, match="slice 3"):
        project.append_stroke(case.id, 3, *stroke(0, 1, 0)[1:])


def test_strokes_survive_a_crash_while_the_first_label_is_saved(project, case, monkeypatch):
    strokes = [stroke(0, 1, 1), stroke(1, 2, 2)]
    for s in strokes:
        project.append_stroke(case.id, *s)
    monkeypatch.setattr(Project, "save", lambda self: (_ for _ in ()).throw(OSError("power cut")))
    with pytest.raises(OSError):  # the label file is written, the manifest is not
        project.save_label(case.id, project.read_label(case.id).array)
    monkeypatch.undo()
    with Project.open(project.path, read_only=True) as again:
        np.testing.assert_array_equal(again.read_label(case.id).array, painted(np.zeros(SHAPE, np.uint8), strokes))


def test_a_journal_left_by_a_crash_after_saving_is_not_replayed(project, case, monkeypatch):
    project.append_stroke(case.id, *stroke(0, 1, 1))
    saved = np.full(SHAPE, 2, np.uint8)  # differs from what the stroke painted
    from sra_seg_core.project.journal import Journal

    monkeypatch.setattr(Journal, "clear", lambda self: (_ for _ in ()).throw(OSError("power cut")))
    with pytest.raises(OSError):  # label and manifest are written, the journal is not deleted
        project.save_label(case.id, saved)
    monkeypatch.undo()
    with Project.open(project.path, read_only=True) as again:
        np.testing.assert_array_equal(again.read_label(case.id).array, saved)


STROKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from sra_seg_core.project import Project
    project = Project.open(sys.argv[1])
    rng = np.random.default_rng(0)
    for n in range(1, 100000):
        z, value = int(rng.integers(3)), int(rng.integers(1, 4))
        indices = rng.choice(80, 10, replace=False)
        project.append_stroke(sys.argv[2], z, indices, np.zeros(10, np.uint8), np.full(10, value, np.uint8))
        print(n, flush=True)
    """
)


def test_every_completed_stroke_survives_kill_9(project, case):
    project.close()
    child = subprocess.Popen(
        [sys.executable, "-c", STROKER, str(project.path), case.id], stdout=subprocess.PIPE, text=True
    )
    completed = 0
    while completed < 40:
        completed = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    rng = np.random.default_rng(0)
    expected = [np.zeros(SHAPE, np.uint8)]
    for _ in range(completed + 50):  # the child may have finished a few more strokes before it died
        z, value = int(rng.integers(3)), int(rng.integers(1, 4))
        indices = rng.choice(80, 10, replace=False)
        expected.append(painted(expected[-1], [(z, indices, None, np.full(10, value, np.uint8))]))
    with Project.open(project.path) as again:
        recovered = again.read_label(case.id).array
    assert any(np.array_equal(recovered, e) for e in expected[completed:])


# --- predictions --------------------------------------------------------------------------------------------------
def test_prediction_is_kept_apart_from_the_label(project, case):
    project.save_label(case.id, label_map(4))
    project.save_prediction(case.id, label_map(5))
    np.testing.assert_array_equal(project.read_prediction(case.id).array, label_map(5))
    np.testing.assert_array_equal(project.read_label(case.id).array, label_map(4))
    project.clear_prediction(case.id)
    assert project.read_prediction(case.id) is None
    assert not (project.path / "predictions" / f"{case.id}.nii.gz").exists()


def test_accept_prediction_on_some_slices(project, case):
    project.save_label(case.id, label_map(4))
    project.save_prediction(case.id, label_map(5))
    project.accept_prediction(case.id, slices=[1])
    expected = label_map(4)
    expected[1] = label_map(5)[1]
    np.testing.assert_array_equal(project.read_label(case.id).array, expected)
    assert project.slice_status(case.id) == ".d."


def test_accept_prediction_keeps_unsaved_strokes_elsewhere(project, case):
    project.save_prediction(case.id, label_map(5))
    s = stroke(0, 3, 1)
    project.append_stroke(case.id, *s)
    project.accept_prediction(case.id, slices=[2])
    label = project.read_label(case.id).array
    np.testing.assert_array_equal(label[0], painted(np.zeros(SHAPE, np.uint8), [s])[0])
    np.testing.assert_array_equal(label[2], label_map(5)[2])


def test_accept_all_of_a_prediction(project, case):
    project.save_prediction(case.id, label_map(5))
    project.accept_prediction(case.id)
    np.testing.assert_array_equal(project.read_label(case.id).array, label_map(5))
    assert project.slice_status(case.id) == "ddd"


def test_accepting_a_missing_prediction_is_an_error(project, case):
    with pytest.raises(ProjectError, match="no prediction"):
        project.accept_prediction(case.id)


# --- status, counts, runs -----------------------------------------------------------------------------------------
def test_slice_status_is_saved(project, case):
    project.set_slice_status(case.id, 1, "f")
    with Project.open(project.path, read_only=True) as again:
        assert again.slice_status(case.id) == ".f."
    with pytest.raises(ValueError):
        project.set_slice_status(case.id, 0, "x")


def test_counts(project, data, tmp_path):
    project.import_folder(data)
    project.import_image(nifti(tmp_path / "syn" / "s1.nii.gz", scan(8)), role="synthetic")
    project.save_prediction("patient002_frame01", label_map(2))
    assert project.counts() == {
        "real_labelled": 1, "real_unlabelled": 1, "synthetic": 1, "predicted": 1, "labelled_slices": 3,
    }


def test_new_run_dirs_are_unique(project):
    first, second = project.new_run_dir(), project.new_run_dir("run")
    assert first != second and first.is_dir() and second.is_dir()
    assert first.parent == project.runs_dir and first.name.startswith("run-")


def test_a_moved_image_gives_a_clear_error(project, data):
    case = project.import_image(data / "patient002_frame01.nii.gz")
    (data / "patient002_frame01.nii.gz").rename(data / "gone.nii.gz")
    with pytest.raises(ProjectError, match="missing"):
        project.read_image(case.id)


def test_read_only_project_refuses_strokes(project, case):
    with Project.open(project.path, read_only=True) as viewer:
        with pytest.raises(ProjectError, match="read-only"):
            viewer.append_stroke(case.id, *stroke(0, 1, 0))
