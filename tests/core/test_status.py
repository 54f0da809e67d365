"""One rule for slice, case and patient status (sra_seg_core.project.status), and everyone who asks it agrees."""

from __future__ import annotations

import numpy as np
import pytest

from sra_seg_core import datasets as ds
from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.project import Project
from sra_seg_core.project.status import CaseStatus, case_status, is_labelled, labelled_slices
from sra_seg_core.selection import labelling_progress


@pytest.fixture
def project(tmp_path):
    """Two real patients: 'a' with two cases of 4 slices, 'b' with one; 8 x 8 pixels each."""
    project = Project.create(tmp_path / "project")
    for case_id, group in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        image = Image.from_spacing(np.random.default_rng(0).random((4, 8, 8)).astype(np.float32), (1.0, 1.0, 1.0))
        project.import_image(write_image(image, tmp_path / "data" / f"{case_id}.nii.gz"), role="real",
                             group=group, case_id=case_id)
    yield project
    project.close()


def stroke(project, case_id, z=0):
    project.append_stroke(case_id, z, np.array([0, 1]), np.array([0, 0], np.uint8), np.array([1, 1], np.uint8))


def label(project, case_id):
    project.save_label(case_id, np.ones(project.case(case_id).shape, np.uint8))


def done(project, case_id, slices=range(4)):
    for z in slices:
        project.set_slice_status(case_id, z, "d")


def test_nothing_started_is_unlabelled(project):
    assert case_status(project, project.case("a1")) == CaseStatus.UNLABELLED


def test_one_stroke_makes_a_case_in_progress_not_labelled(project):
    stroke(project, "a1")
    assert case_status(project, project.case("a1")) == CaseStatus.IN_PROGRESS
    assert project.counts()["real_labelled"] == 0


def test_done_slices_without_label_data_are_not_labelled(project):
    done(project, "a1", [0, 1])
    case = project.case("a1")
    assert case_status(project, case) == CaseStatus.IN_PROGRESS and not is_labelled(project, case)
    assert labelled_slices(project, case) == ()


def test_a_done_slice_with_label_data_is_labelled_and_all_done_is_approved(project):
    label(project, "a1")
    done(project, "a1", [2])
    assert case_status(project, project.case("a1")) == CaseStatus.LABELLED
    assert labelled_slices(project, project.case("a1")) == (2,)
    done(project, "a1")
    assert case_status(project, project.case("a1")) == CaseStatus.APPROVED


def test_journaled_strokes_are_label_data(project):
    stroke(project, "a1", z=1)
    done(project, "a1", [1])
    assert is_labelled(project, project.case("a1"))


def test_counts_follow_the_rule(project):
    done(project, "a1", [0])          # no label data: not labelled
    label(project, "b1")
    done(project, "b1", [0, 1])
    counts = project.counts()
    assert (counts["real_labelled"], counts["real_unlabelled"], counts["labelled_slices"]) == (1, 2, 2)


def test_which_ten_percent_counts_a_patient_only_when_labelled_whole(project):
    label(project, "b1")
    done(project, "b1", [0])           # 1 of 4 slices: partly labelled
    progress = labelling_progress(project, 0.5)
    assert (progress.labelled, progress.partly) == (0, 1)
    assert "1 more partly labelled" in progress.summary()
    done(project, "b1")
    assert labelling_progress(project, 0.5).labelled == 1


def test_a_patient_is_labelled_only_when_each_of_its_cases_is(project):
    for case_id in ("a1",):
        label(project, case_id)
        done(project, case_id)
    assert labelling_progress(project, 0.5).labelled == 0    # a2 is not started
    label(project, "a2")
    done(project, "a2")
    assert labelling_progress(project, 0.5).labelled == 1


def test_slice_progress_counts_done_slices_of_labelled_cases_only(project):
    done(project, "a1", [0, 1])        # no label data
    label(project, "b1")
    done(project, "b1", [3])
    assert labelling_progress(project, 0.5, "slices").labelled == 1


def test_training_takes_the_done_slices_of_labelled_cases(project):
    label(project, "b1")
    done(project, "b1", [1, 2])
    done(project, "a1", [0])           # no label data: not training data
    dataset = ds.discover(project.path)
    assert [(c.case_id, c.slices) for c in dataset.predefined["train"]] == [("b1", (1, 2))]


def test_training_refuses_strokes_that_are_only_in_the_journal(project):
    label(project, "b1")
    done(project, "b1", [0])
    stroke(project, "b1", z=0)         # drawn after the save, not saved yet
    with pytest.raises(InputError, match="not saved to its label file"):
        ds.discover(project.path)
