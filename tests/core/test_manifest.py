"""project.json is untrusted input: it is checked field by field, and no path in it may lead out of the project."""

import json

import pytest

from sra_seg_core.errors import ProjectError
from sra_seg_core.project import Project


def case_entry(**overrides):
    entry = {
        "id": "c1", "role": "real", "image": "images/c1.nii.gz", "copied": True, "shape": [2, 4, 4],
        "spacing": [1.0, 1.0, 2.5], "frame": None, "group": "c1", "label": None, "reference": None,
        "prediction": None, "slice_status": "..", "added": "2026-01-01T00:00:00+00:00", "source": "/data/c1.nii.gz",
    }
    return {**entry, **overrides}


def write_manifest(folder, **changes):
    path = folder / "project.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


@pytest.fixture
def folder(tmp_path):
    Project.create(tmp_path / "p").close()
    return tmp_path / "p"


def test_valid_case_is_read_back(folder):
    write_manifest(folder, cases=[case_entry(label="labels/c1.nii.gz", slice_status="dp")])
    with Project.open(folder, read_only=True) as project:
        case = project.case("c1")
    assert case.shape == (2, 4, 4) and case.spacing == (1.0, 1.0, 2.5)
    assert case.label == "labels/c1.nii.gz" and case.slice_status == "dp"


@pytest.mark.parametrize("field", ["label", "reference", "prediction"])
@pytest.mark.parametrize("value", ["../outside.nii.gz", "labels/../../outside.nii.gz", "/etc/passwd", "C:\\x.nii"])
def test_escaping_label_paths_are_rejected(folder, field, value):
    write_manifest(folder, cases=[case_entry(**{field: value})])
    with pytest.raises(ProjectError, match=rf"project\.json: field cases\[0\]\.{field}: .*outside") as err:
        Project.open(folder, read_only=True)
    assert err.value.path == str(folder / "project.json")


def test_escaping_copied_image_is_rejected(folder):
    write_manifest(folder, cases=[case_entry(image="../../elsewhere/c1.nii.gz")])
    with pytest.raises(ProjectError, match=r"cases\[0\]\.image"):
        Project.open(folder, read_only=True)


def test_referenced_image_may_lie_outside(folder, tmp_path):
    write_manifest(folder, cases=[case_entry(image=str(tmp_path / "data" / "c1.nii.gz"), copied=False)])
    with Project.open(folder, read_only=True) as project:
        assert project.image_path("c1") == tmp_path / "data" / "c1.nii.gz"


def test_symbolic_link_out_of_the_project_is_rejected(folder, tmp_path):
    (tmp_path / "outside").mkdir()
    (folder / "labels" / "link").symlink_to(tmp_path / "outside")
    write_manifest(folder, cases=[case_entry(label="labels/link/c1.nii.gz")])
    with pytest.raises(ProjectError, match=r"cases\[0\]\.label"):
        Project.open(folder, read_only=True)


@pytest.mark.parametrize("case_id", ["../evil", "a/b", ".hidden", ""])
def test_unsafe_case_id_is_rejected(folder, case_id):
    write_manifest(folder, cases=[case_entry(id=case_id)])
    with pytest.raises(ProjectError, match=r"cases\[0\]\.id"):
        Project.open(folder, read_only=True)


def test_case_ids_differing_only_in_letter_case_are_rejected(folder):
    write_manifest(folder, cases=[case_entry(id="Case", image="images/Case.nii.gz"),
                                  case_entry(id="case", image="images/case.nii.gz")])
    with pytest.raises(ProjectError, match="twice"):
        Project.open(folder, read_only=True)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"slice_status": "..."}, "slice_status"),
        ({"slice_status": ".x"}, "slice_status"),
        ({"shape": [2, 4]}, "shape"),
        ({"shape": [2, 4, True]}, "shape"),
        ({"role": "fake"}, "role"),
        ({"copied": "yes"}, "copied"),
        ({"frame": 1.5}, "frame"),
    ],
)
def test_malformed_case_field_is_named(folder, changes, field):
    write_manifest(folder, cases=[case_entry(**changes)])
    with pytest.raises(ProjectError, match=rf"cases\[0\]\.{field}"):
        Project.open(folder, read_only=True)


def test_class_values_must_run_from_one(folder):
    write_manifest(folder, classes=[{"value": 2, "name": "RV", "color": "#E69F00"}])
    with pytest.raises(ProjectError, match="classes"):
        Project.open(folder, read_only=True)


def test_manifest_that_is_not_json_is_a_project_error(folder):
    (folder / "project.json").write_text("{not json")
    with pytest.raises(ProjectError, match="cannot be read"):
        Project.open(folder, read_only=True)


def test_manifest_from_a_newer_version_is_refused(folder):
    write_manifest(folder, version=2)
    with pytest.raises(ProjectError, match="version 2"):
        Project.open(folder, read_only=True)


def test_a_rejected_manifest_leaves_the_project_unlocked(folder):
    good = (folder / "project.json").read_text()
    (folder / "project.json").write_text("[]")
    with pytest.raises(ProjectError, match="not an SRA-Seg project manifest"):
        Project.open(folder)
    (folder / "project.json").write_text(good)
    Project.open(folder).close()
