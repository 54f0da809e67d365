"""Editing a project's classes: rename, recolour, add, remove any class (the classes above it renumbered in every
label map, its voxels background, nothing changed if a write fails); hidden and locked classes saved in the
project's settings; edits never change a locked class."""

import nibabel as nib
import numpy as np
import pytest

from sra_seg_core.annotation import SliceEdit
from sra_seg_core.errors import InputError, ProjectError
from sra_seg_core.project import Project
from sra_seg_core.project.class_table import (
    added, class_view, recoloured, removed, renamed, renumbering, view_without, with_class_view, without_locked,
)
from sra_seg_core.project.classes import DEFAULT_CLASSES


def test_rename_recolour_and_add_keep_values_in_order():
    classes = added(recoloured(renamed(DEFAULT_CLASSES, 2, "Myocardium"), 1, "#123456"), "Aorta")
    assert [(c.value, c.name, c.color) for c in classes][:2] == [(1, "RV", "#123456"), (2, "Myocardium",
                                                                                       DEFAULT_CLASSES[1].color)]
    assert classes[-1].value == 4 and classes[-1].name == "Aorta"


def test_a_duplicate_name_or_a_bad_colour_is_refused():
    with pytest.raises(InputError, match="unique"):
        renamed(DEFAULT_CLASSES, 1, "LV")
    with pytest.raises(InputError, match="#RRGGBB"):
        recoloured(DEFAULT_CLASSES, 1, "red")


def test_the_project_saves_new_classes(tmp_path):
    project = Project.create(tmp_path / "p", classes=DEFAULT_CLASSES)
    project.set_classes(added(DEFAULT_CLASSES, "Aorta"))
    project.close()
    with Project.open(tmp_path / "p") as reopened:
        assert [c.name for c in reopened.classes] == ["RV", "Myo", "LV", "Aorta"]


def test_removing_a_middle_class_moves_the_ones_above_down_keeping_names_and_colours():
    classes = removed(DEFAULT_CLASSES, 2)
    assert [(c.value, c.name, c.color) for c in classes] == [(1, "RV", DEFAULT_CLASSES[0].color),
                                                             (2, "LV", DEFAULT_CLASSES[2].color)]
    assert renumbering(3, 2).tolist() == [0, 1, 0, 2]
    with pytest.raises(InputError, match="no class 4"):
        removed(DEFAULT_CLASSES, 4)


def test_the_hidden_and_locked_view_follows_the_renumbering():
    settings = view_without(with_class_view({}, {2, 3}, {1}), 2)
    assert class_view(settings) == ({2}, {1})


SHAPE = (2, 4, 5)


def painted_project(tmp_path, *, prediction=True):
    """A project with two cases: a's label holds classes 1..3 (and a journaled stroke of class 3), b's only class 1;
    a also has a reference and a prediction."""
    project = Project.create(tmp_path / "p", classes=DEFAULT_CLASSES)
    rng = np.random.default_rng(0)
    for case_id in ("a", "b"):
        image = tmp_path / f"{case_id}.nii.gz"
        nib.Nifti1Image(rng.random(SHAPE[::-1]).astype(np.float32), np.eye(4)).to_filename(image)
        project.import_image(image, case_id=case_id)
    a = np.tile(np.arange(4, dtype=np.uint8), 10).reshape(SHAPE)
    project.save_label("a", a)
    project.append_stroke("a", 0, np.array([0]), np.array([0], np.uint8), np.array([3], np.uint8))
    project.save_label("b", (a == 1).astype(np.uint8))
    if prediction:
        project.save_prediction("a", a)
    return project, a


def test_removing_a_class_renumbers_every_label_map_and_makes_its_voxels_background(tmp_path):
    project, a = painted_project(tmp_path)
    assert project.class_voxels(2) == {"a": int((a == 2).sum())}
    lost = project.remove_class(2)
    assert lost == {"a": int((a == 2).sum())}
    expected = renumbering(3, 2)[a]
    expected[0].reshape(-1)[0] = 2  # the journaled stroke of class 3, now 2
    assert np.array_equal(project.read_label("a").array, expected)
    assert np.array_equal(project.read_label("b").array, (a == 1).astype(np.uint8))
    assert np.array_equal(project.read_prediction("a").array, renumbering(3, 2)[a])
    project.close()
    with Project.open(tmp_path / "p") as reopened:
        assert [(c.value, c.name) for c in reopened.classes] == [(1, "RV"), (2, "LV")]
        assert reopened.pending_strokes("a") == 0


def test_a_failed_rewrite_leaves_every_map_and_the_classes_as_they_were(tmp_path, monkeypatch):
    project, a = painted_project(tmp_path)
    before = {case: project.read_label(case).array.copy() for case in ("a", "b")}
    real = Project._write_label_map

    def full_disk(self, case, array, target):
        if "predictions" in str(target):
            raise OSError(28, "No space left on device", str(target))
        real(self, case, array, target)

    monkeypatch.setattr(Project, "_write_label_map", full_disk)
    with pytest.raises(ProjectError, match="class 2 was not removed .*No space left"):
        project.remove_class(2)
    assert len(project.classes) == 3
    for case, array in before.items():
        assert np.array_equal(project.read_label(case).array, array)
    assert np.array_equal(project.read_prediction("a").array, a)


def test_hidden_and_locked_classes_round_trip_through_the_settings():
    settings = with_class_view({"export": {}}, {2}, {1, 3})
    assert class_view(settings) == ({2}, {1, 3}) and settings["export"] == {}


def test_an_edit_leaves_locked_pixels_as_they_are():
    edit = SliceEdit(0, np.array([0, 1, 2]), np.array([0, 3, 1], np.uint8), np.array([2, 2, 2], np.uint8))
    kept = without_locked(edit, {3})
    assert kept.indices.tolist() == [0, 2]
    assert without_locked(edit, {0, 1, 3}) is None
