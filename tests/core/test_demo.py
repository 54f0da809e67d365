"""The demo project in two steps: its first patient at once, the rest added whole, an interrupted making resumed."""

from __future__ import annotations

import pytest

from sra_seg_core import demo
from sra_seg_core.errors import ConfigError
from sra_seg_core.project import Project

SMALL = {"real": 2, "labelled": 1, "synthetic": 1}


def ids(project) -> set[str]:
    return {c.id for c in project.cases}


def test_a_begun_demo_project_holds_its_plan_and_only_the_first_case(tmp_path):
    project = demo.begin_demo_project(tmp_path / "demo", **SMALL)
    assert ids(project) == set(demo.case_ids(demo.Patient(1, "real"))[:1])
    assert [p.name for p in demo.missing_patients(project)] == ["patient001", "patient002", "synthetic001"]
    assert project.settings["demo"]["real"] == 2
    project.close()


def test_finishing_adds_every_missing_patient_and_leaves_nothing_missing(tmp_path):
    project = demo.begin_demo_project(tmp_path / "demo", **SMALL)
    seen = []
    demo.finish_demo_project(project, on_progress=lambda done, total, name: seen.append((done, total, name)))
    assert seen == [(0, 3, "patient001"), (1, 3, "patient002"), (2, 3, "synthetic001"), (3, 3, "done")]
    assert demo.missing_patients(project) == [] and len(project.cases) == 6
    assert [c.role for c in project.cases].count("synthetic") == 2
    project.close()


def test_the_labelled_patients_have_approved_labels_and_the_others_references(tmp_path):
    project = demo.create_demo_project(tmp_path / "demo", **SMALL)
    real = [c for c in project.cases if c.role == "real"]
    assert {c.group for c in real if c.label} == {"patient001"}
    assert {c.group for c in real if c.reference} == {"patient002"}
    project.close()


def test_a_patient_cut_short_gets_only_its_missing_frame(tmp_path):
    project = demo.begin_demo_project(tmp_path / "demo", **SMALL)
    first, second = demo.render_patient(demo.Patient(2, "real"), labelled=1)
    demo.add_patient(project, [first], tmp_path)
    assert demo.add_patient(project, [first, second], tmp_path) == [second.case_id]
    project.close()


def test_files_of_an_import_interrupted_before_the_manifest_are_replaced_on_resume(tmp_path):
    project = demo.begin_demo_project(tmp_path / "demo", **SMALL)
    (frame, _) = demo.case_ids(demo.Patient(2, "real"))
    project.close()
    # killed after the image file was written, before the manifest named it
    (tmp_path / "demo" / "images" / f"{frame}.nii").write_bytes(b"torn")
    project = Project.open(tmp_path / "demo")
    demo.finish_demo_project(project)
    assert frame in ids(project) and project.read_image(frame).shape[0] > 1
    assert demo.missing_patients(project) == []
    project.close()


def test_leftovers_of_a_case_in_the_project_are_not_discarded(tmp_path):
    project = demo.begin_demo_project(tmp_path / "demo", **SMALL)
    case = project.cases[0]
    with pytest.raises(ConfigError, match="is in the project"):
        project.discard_leftovers(case.id)
    assert project.image_path(case.id).is_file()
    project.close()


def test_a_project_that_is_not_a_demo_lacks_no_patients(tmp_path):
    project = Project.create(tmp_path / "p")
    assert demo.missing_patients(project) == []
    project.close()
