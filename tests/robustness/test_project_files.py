"""A project folder from an archive or a share is untrusted: links and special files inside it never make a write land
outside it or a read hang, its manifest can only name each case's own files, and damaged JSON is a clear error."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from bad_corpus import SHAPE, good_image, good_label
from hypothesis import given, settings
from hypothesis import strategies as st

from sra_seg_core.errors import JournalWriteError, ProjectError
from sra_seg_core.project import Project
from sra_seg_core.settings import add_recent_project, recent_projects, setting

pytestmark = pytest.mark.timeout(60)  # a FIFO that blocks must fail the test, not hang the suite


@pytest.fixture
def outside(tmp_path):
    """A file of the user's outside the project, which nothing may touch."""
    path = tmp_path / "precious.txt"
    path.write_text("the user's own file\n")
    return path


@pytest.fixture
def labelled(project_path, tmp_path):
    """A closed project with case ``case`` (copied image and approved label) and case ``other``."""
    image = good_image(tmp_path / "in" / "case.nii.gz")
    label = good_label(tmp_path / "in" / "case_gt.nii.gz")
    with Project.open(project_path) as project:
        project.import_image(image, copy=True, label=label)
        project.import_image(good_image(tmp_path / "in" / "other.nii.gz", seed=1), copy=True)
    return project_path


def edit(project: Project, case_id: str, value: int = 1) -> None:
    project.append_stroke(case_id, 0, np.array([0, 1, 2]), np.zeros(3, np.uint8), np.full(3, value, np.uint8))


# --- links where the project's own files and folders should be --------------------------------------------------
def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(project_path, outside):
    (project_path / ".lock").unlink()
    (project_path / ".lock").symlink_to(outside)
    with pytest.raises(ProjectError, match=r"\.lock in the project is a symbolic link"):
        Project.open(project_path)
    assert outside.read_text() == "the user's own file\n"
    Project.open(project_path, read_only=True).close()  # viewing writes nothing, so it is allowed


@pytest.mark.parametrize("folder", ["labels", "images", "predictions", "reference"])
def test_a_project_folder_that_is_a_link_is_not_opened_for_writing(project_path, tmp_path, folder):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project_path / folder).rmdir()
    (project_path / folder).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ProjectError, match=rf"{folder} in the project is a symbolic link"):
        Project.open(project_path)
    assert list(elsewhere.iterdir()) == []


def test_leftover_clean_up_never_deletes_through_a_linked_folder(project_path, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / ".scan.0123abcd.tmp.nii.gz"  # named like an unfinished atomic write
    victim.write_bytes(b"data")
    (project_path / "labels").rmdir()
    (project_path / "labels").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ProjectError):
        Project.open(project_path)
    Project.open(project_path, read_only=True).close()
    assert victim.read_bytes() == b"data"


def test_leftover_clean_up_deletes_a_temp_named_link_not_its_target(project_path, outside):
    link = project_path / "labels" / ".case.0123abcd.tmp.nii.gz"
    link.symlink_to(outside)
    Project.open(project_path).close()
    assert outside.exists()  # not a regular file of ours: neither followed nor removed
    assert link.is_symlink()


def test_a_journal_that_is_a_link_is_never_written_through(labelled, outside):
    journal = labelled / "labels" / "case.journal"
    journal.symlink_to(outside)
    with Project.open(labelled) as project, pytest.raises(ProjectError, match="symbolic link"):
        edit(project, "case")
    assert outside.read_text() == "the user's own file\n"


def test_a_label_file_that_is_a_link_is_refused(labelled):
    label = labelled / "labels" / "case.nii.gz"
    label.unlink()
    label.symlink_to(labelled / "images" / "other.nii.gz")  # inside the project (a link out fails at open)
    with Project.open(labelled, read_only=True) as project, pytest.raises(ProjectError, match="symbolic link"):
        project.read_label("case")


# --- FIFOs and folders where files should be --------------------------------------------------------------------
@pytest.fixture
def fifo_label(labelled):
    label = labelled / "labels" / "case.nii.gz"
    label.unlink()
    os.mkfifo(label)
    return labelled


def test_a_fifo_as_label_file_is_refused_without_hanging(fifo_label):
    with Project.open(fifo_label, read_only=True) as project, pytest.raises(ProjectError, match="FIFO"):
        project.read_label("case")


def test_a_stroke_on_a_case_whose_label_is_a_fifo_is_refused_without_hanging(fifo_label):
    with Project.open(fifo_label) as project, pytest.raises(ProjectError, match="FIFO"):
        edit(project, "case")


def test_a_fifo_as_journal_is_refused_without_hanging(labelled):
    os.mkfifo(labelled / "labels" / "case.journal")
    with Project.open(labelled) as project:
        with pytest.raises(ProjectError, match="FIFO"):
            edit(project, "case")
        with pytest.raises(ProjectError, match="FIFO"):
            project.read_label("case")


def test_a_fifo_as_manifest_is_refused_without_hanging(project_path):
    (project_path / "project.json").unlink()
    os.mkfifo(project_path / "project.json")
    with pytest.raises(ProjectError, match="FIFO"):
        Project.open(project_path, read_only=True)


def test_a_folder_as_label_file_is_refused(labelled):
    label = labelled / "labels" / "case.nii.gz"
    label.unlink()
    label.mkdir()
    with Project.open(labelled, read_only=True) as project, pytest.raises(ProjectError, match="a folder"):
        project.read_label("case")


# --- manifest paths name only the case's own files ----------------------------------------------------------------
def rewrite_case(project_path, case_id: str, **changes) -> None:
    path = project_path / "project.json"
    manifest = json.loads(path.read_text())
    for case in manifest["cases"]:
        if case["id"] == case_id:
            case.update(changes)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "field, value",
    [
        ("label", "project.json"),                  # removing the case would delete the manifest
        ("label", "images/other.nii.gz"),           # another case's image
        ("label", "labels/other.nii.gz"),           # another case's label
        ("label", "labels"),                        # a folder
        ("label", "labels/case.journal"),           # the case's journal is not a label
        ("prediction", "labels/case.nii.gz"),       # a file of another kind
        ("reference", "reference/sub/case.nii.gz"),
        ("image", "images/other.nii.gz"),           # a copied image must be the case's own
    ],
)
def test_a_manifest_path_that_is_not_the_cases_own_file_of_its_kind_is_refused(labelled, field, value):
    rewrite_case(labelled, "case", **{field: value})
    with pytest.raises(ProjectError, match=rf"cases\[0\]\.{field}: path '{value}' is not case 'case'"):
        Project.open(labelled, read_only=True)


def test_removing_a_case_deletes_only_its_own_files(labelled):
    before = {p.relative_to(labelled).as_posix() for p in labelled.rglob("*") if p.is_file()}
    with Project.open(labelled) as project:
        project.remove_case("case")
        assert [c.id for c in project.cases] == ["other"]
    after = {p.relative_to(labelled).as_posix() for p in labelled.rglob("*") if p.is_file()}
    assert before - after == {"images/case.nii.gz", "labels/case.nii.gz"}
    with Project.open(labelled, read_only=True) as project:
        assert project.read_image("other").shape == SHAPE


def test_removing_a_case_leaves_a_folder_under_its_label_name_alone(labelled):
    label = labelled / "labels" / "case.nii.gz"
    label.unlink()
    label.mkdir()
    (label / "keep.txt").write_text("x")
    with Project.open(labelled) as project:
        project.remove_case("case")
    assert (label / "keep.txt").read_text() == "x"


# --- damaged JSON and settings --------------------------------------------------------------------------------------
def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [40, 100_000])
def test_a_deeply_nested_manifest_is_a_project_error_not_a_recursion_error(project_path, levels):
    path = project_path / "project.json"
    manifest = json.loads(path.read_text())
    text = json.dumps(manifest).replace('"settings": {}', f'"settings": {{"x": {deep(levels)}}}')
    path.write_text(text)
    with pytest.raises(ProjectError, match="nests deeper than 32 levels"):
        Project.open(project_path, read_only=True)


def test_a_deeply_nested_recent_list_reads_as_empty(tmp_path):
    add_recent_project(tmp_path)
    recent = tmp_path / "data" / "recent.json"  # SRA_SEG_DATA_DIR (conftest)
    recent.write_text(deep(100_000))
    assert recent_projects() == []
    recent.write_text(json.dumps([[str(tmp_path)]] * 3 + [str(tmp_path)]))  # entries of the wrong type are skipped
    assert recent_projects() == [tmp_path]


def test_a_fifo_as_recent_list_reads_as_empty(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    os.mkfifo(folder / "recent.json")
    assert recent_projects() == []


def test_a_project_setting_of_the_wrong_type_is_reset_with_a_warning(project_path):
    path = project_path / "project.json"
    manifest = json.loads(path.read_text())
    manifest["settings"] = {"dinov2_weights": 3, "review": [], "export": {"format": "png"}, "mine": 1}
    path.write_text(json.dumps(manifest))
    with Project.open(project_path, read_only=True) as project:
        assert project.settings == {"export": {"format": "png"}, "mine": 1}
        assert len(project.problems) == 2
        assert "setting 'dinov2_weights' should be a text, not int 3" in project.problems[0]


def test_project_info_warns_about_a_reset_setting_in_one_line(project_path, capsys):
    from sra_seg_core.cli import main

    path = project_path / "project.json"
    manifest = json.loads(path.read_text())
    manifest["settings"] = {"review": "oops"}
    path.write_text(json.dumps(manifest))
    assert main(["project", "info", str(project_path)]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"warning: {path}: setting 'review' should be a JSON object")


@pytest.mark.parametrize(
    "stored, default, expected",
    [(3, 1, 3), ("3", 1, 1), (True, 1, 1), (1, True, True), (2, 0.5, 2.0), (None, "x", "x"), ([1], {}, {})],
)
def test_a_user_setting_of_the_wrong_type_falls_back_to_its_default(stored, default, expected):
    value = setting({"key": stored}, "key", default)
    assert value == expected and type(value) is type(expected)


# --- strokes are never lost -----------------------------------------------------------------------------------------
def test_a_journal_append_that_fails_half_way_is_reported_and_hides_no_later_stroke(labelled, monkeypatch):
    from sra_seg_core.project import journal as journal_module

    real = journal_module._write_all
    calls = []

    def disk_full_on_second(fd, data, offset):
        calls.append(offset)
        if len(calls) == 2:
            real(fd, data[: len(data) // 2], offset)  # half the record reaches the disk, then the disk is full
            raise OSError(28, "No space left on device")
        real(fd, data, offset)

    monkeypatch.setattr(journal_module, "_write_all", disk_full_on_second)
    with Project.open(labelled) as project:
        edit(project, "case", 1)
        with pytest.raises(JournalWriteError, match="could not be recorded .No space left on device.; it is not saved"):
            project.append_stroke("case", 1, np.array([5]), np.zeros(1, np.uint8), np.full(1, 2, np.uint8))
        edit(project, "case", 3)
        project._lock.release()  # a crash: nothing saved, the journal is all there is
    with Project.open(labelled, read_only=True) as project:
        assert project.pending_strokes("case") == 2
        label = project.read_label("case").array
    assert label[0].flat[:3].tolist() == [3, 3, 3]


def test_a_torn_tail_that_could_not_be_cut_off_is_cut_before_the_next_record(labelled, monkeypatch):
    from sra_seg_core.project import journal as journal_module

    real_write, real_truncate = journal_module._write_all, os.ftruncate
    failing = {"on": False}

    def torn(fd, data, offset):
        if failing["on"]:
            real_write(fd, data[:7], offset)
            raise OSError(5, "Input/output error")
        real_write(fd, data, offset)

    def truncate(fd, size):
        if failing["on"]:
            raise OSError(5, "Input/output error")
        real_truncate(fd, size)

    monkeypatch.setattr(journal_module, "_write_all", torn)
    monkeypatch.setattr(os, "ftruncate", truncate)
    with Project.open(labelled) as project:
        edit(project, "case", 1)
        failing["on"] = True
        with pytest.raises(JournalWriteError):
            edit(project, "case", 2)
        failing["on"] = False
        edit(project, "case", 3)
        project._lock.release()
    journal = labelled / "labels" / "case.journal"
    contents = journal_module.read_journal(journal)
    assert len(contents.strokes) == 2 and contents.ignored_bytes == 0


def test_recovery_reads_every_complete_record_after_a_torn_one(tmp_path):
    """A journal written by a version that appended after its torn record: nothing after the tear is lost."""
    from sra_seg_core.project.journal import NO_BASE, Journal, Stroke, encode_stroke, read_journal

    strokes = [Stroke(0, np.array([k]), np.zeros(1, np.uint8), np.full(1, k + 1, np.uint8)) for k in range(3)]
    path = tmp_path / "c.journal"
    journal = Journal(path)
    journal.append(strokes[0], base=lambda: NO_BASE)
    torn = encode_stroke(strokes[1])[:-5]
    path.write_bytes(path.read_bytes() + torn + encode_stroke(strokes[2]))
    contents = read_journal(path)
    assert [s.new.tolist() for s in contents.strokes] == [[1], [3]]
    assert contents.inner_ignored_bytes == len(torn)
    fresh = Journal(path)  # a new session tidies the file before it appends
    fresh.append(strokes[1], base=lambda: NO_BASE)
    assert [s.new.tolist() for s in fresh.strokes(NO_BASE)] == [[1], [3], [2]]
    assert read_journal(path).ignored_bytes == 0


# --- one image, one case --------------------------------------------------------------------------------------------
def test_one_file_imported_through_two_spellings_is_one_case(project_path, tmp_path):
    image = good_image(tmp_path / "in" / "scan.nii.gz")
    (tmp_path / "link.nii.gz").symlink_to(image)
    spellings = [image, tmp_path / "in" / ".." / "in" / "scan.nii.gz", tmp_path / "link.nii.gz"]
    with Project.open(project_path) as project:
        report = project.import_files(spellings)
    assert len(report.imported) == 1
    assert [reason for _, reason in report.skipped] == ["already in the project as case 'scan'"] * 2


def test_a_link_loop_in_an_imported_folder_gives_each_image_once(project_path, tmp_path):
    data = tmp_path / "data"
    good_image(data / "a.nii.gz")
    good_image(data / "sub" / "b.nii.gz", seed=1)
    (data / "sub" / "loop").symlink_to(data, target_is_directory=True)
    (data / "again").symlink_to(data / "sub", target_is_directory=True)
    with Project.open(project_path) as project:
        report = project.import_folder(data)
    assert sorted(c.id for c in report.imported) == ["a", "b"]


@settings(max_examples=25, deadline=None)
@given(count=st.integers(2, 6), torn=st.data(), cut=st.floats(0.05, 0.95))
def test_a_torn_record_anywhere_hides_no_other_record(tmp_path_factory, count, torn, cut):
    """Property: whichever record is torn, and wherever, every other record is recovered, in order."""
    from sra_seg_core.project.journal import NO_BASE, Journal, Stroke, encode_stroke, read_journal

    rng = np.random.default_rng(count)
    strokes = [Stroke(int(rng.integers(0, 4)), np.sort(rng.choice(1000, 50, replace=False)),
                      np.zeros(50, np.uint8), np.full(50, k % 250 + 1, np.uint8)) for k in range(count)]
    victim = torn.draw(st.integers(0, count - 1))
    path = tmp_path_factory.mktemp("journal") / "c.journal"
    Journal(path).append(strokes[0], base=lambda: NO_BASE)
    data = path.read_bytes()
    data = data[: len(data) - len(encode_stroke(strokes[0]))]  # the header alone
    for k, stroke in enumerate(strokes):
        record = encode_stroke(stroke)
        data += record[: max(1, int(len(record) * cut))] if k == victim else record
    path.write_bytes(data)
    back = read_journal(path).strokes
    assert [s.new[0] for s in back] == [s.new[0] for k, s in enumerate(strokes) if k != victim]
