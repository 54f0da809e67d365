"""Editing a project's classes: rename, recolour, add, remove the last (refused while still painted); hidden and
locked classes saved in the project's settings; edits never change a locked class."""

import numpy as np
import pytest

from sra_seg_core.annotation import SliceEdit
from sra_seg_core.errors import InputError, ProjectError
from sra_seg_core.project import Project
from sra_seg_core.project.class_table import (
    added, class_view, recoloured, removed_last, renamed, with_class_view, without_locked,
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


def test_the_project_saves_new_classes_and_refuses_to_drop_one_still_painted(tmp_path):
    project = Project.create(tmp_path / "p", classes=DEFAULT_CLASSES)
    project.set_classes(added(DEFAULT_CLASSES, "Aorta"))
    with pytest.raises(ProjectError, match="class 4 is still painted in case a"):
        project.set_classes(removed_last(project.classes), in_memory={"a": np.full((1, 2, 2), 4, np.uint8)})
    project.close()
    with Project.open(tmp_path / "p") as reopened:
        assert [c.name for c in reopened.classes] == ["RV", "Myo", "LV", "Aorta"]
        reopened.set_classes(removed_last(reopened.classes))
        assert len(reopened.classes) == 3


def test_hidden_and_locked_classes_round_trip_through_the_settings():
    settings = with_class_view({"export": {}}, {2}, {1, 3})
    assert class_view(settings) == ({2}, {1, 3}) and settings["export"] == {}


def test_an_edit_leaves_locked_pixels_as_they_are():
    edit = SliceEdit(0, np.array([0, 1, 2]), np.array([0, 3, 1], np.uint8), np.array([2, 2, 2], np.uint8))
    kept = without_locked(edit, {3})
    assert kept.indices.tolist() == [0, 2]
    assert without_locked(edit, {0, 1, 3}) is None
