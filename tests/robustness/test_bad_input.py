"""Every bad input through every entry point: one ``error:`` line naming the file, exit code 2, nothing changed.

The corpus is in ``bad_corpus.py``; README.md tabulates the outcomes. CLI entry points run in-process through
``sra_seg_core.cli.main``; the app's entry point is the import dialog on an open project.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from bad_corpus import CORPUS, SHAPE, BadInput, good_image, good_label, items_for, place, tree_digest, write_nifti

from sra_seg_core.cli import main
from sra_seg_core.io import read_image, read_label
from sra_seg_core.project import Project

WAIT_MS = 30_000
CLI_ENTRY_POINTS = ("convert", "evaluate", "import", "train")


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def project_state(path: Path) -> dict[str, str]:
    """The project's files and their contents; the lock file's text changes with every opening, so it is left out."""
    return {name: digest for name, digest in tree_digest(path).items() if name != ".lock"}


def command(entry_point: str, item: BadInput, placed, tmp_path: Path, project: Path) -> list:
    """The command line that feeds ``placed`` to ``entry_point``; whatever it may write goes under tmp_path/out."""
    out = tmp_path / "out"
    if entry_point == "convert":
        return ["convert", placed.bad, out / "converted.nii.gz", *(["--label"] if item.role == "label" else [])]
    if entry_point == "evaluate":
        return ["evaluate", "--pred", placed.bad, "--gt", good_label(tmp_path / "truth" / "case_gt.nii.gz"),
                "--csv", out / "metrics.csv"]
    if entry_point == "import":
        return ["project", "import", project, placed.image]
    return ["train", "--data", placed.folder, "--method", "supervised", "--preset", "tiny", "--device", "cpu",
            "--out", out / "run"]


def leftovers(tmp_path: Path) -> list[str]:
    """What a refused command wrote under tmp_path/out, apart from a training run's log and metadata."""
    out = tmp_path / "out"
    written = set(tree_digest(out)) if out.exists() else set()
    return sorted(written - {"run/config.yaml", "run/run.json", "run/events.jsonl", "run/.lock"})


@pytest.mark.parametrize(("entry_point", "item"), [
    pytest.param(entry_point, item, id=f"{entry_point}-{item}")
    for item in CORPUS for entry_point in CLI_ENTRY_POINTS if entry_point in item.refused_by
])
def test_cli_refuses_a_bad_input_in_one_line_and_changes_nothing(capsys, tmp_path, project_path, entry_point, item):
    placed = place(item, tmp_path / "in")
    inputs, project = tree_digest(placed.folder), project_state(project_path)

    code, out, err = cli(capsys, *command(entry_point, item, placed, tmp_path, project_path))

    assert code == 2, out + err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert placed.bad.name in errors[0] and item.message in errors[0]
    if entry_point != "train":  # training also prints its progress lines on stderr
        assert err == errors[0] + "\n"
    assert "Traceback" not in out + err
    assert tree_digest(placed.folder) == inputs
    assert project_state(project_path) == project
    assert leftovers(tmp_path) == []


@pytest.fixture
def import_dialog(qtbot, project_path):
    """The import dialog on an open session of the empty project; closes the session afterwards."""
    from sra_seg_app.widgets.import_dialog import ImportDialog
    from sra_seg_app.model.session import Session

    session = Session()
    session.open_project(project_path)
    dialog = ImportDialog(session)
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    session.close_project()


def run_dialog(qtbot, dialog, sources: list[Path]) -> dict[str, str]:
    """Import ``sources`` through the dialog's own button; returns the problem table as {shown name: reason}."""
    from PySide6.QtCore import Qt

    dialog.set_sources(sources)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 2, timeout=WAIT_MS)
    table = dialog.problems
    return {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}


@pytest.mark.parametrize("item", items_for("app"), ids=str)
def test_the_import_dialog_lists_a_bad_input_with_its_reason_and_changes_nothing(qtbot, tmp_path, project_path,
                                                                                 import_dialog, item):
    placed = place(item, tmp_path / "in")
    inputs, project = tree_digest(placed.folder), project_state(project_path)

    listed = run_dialog(qtbot, import_dialog, [placed.image])

    assert list(listed) == [placed.image.name]  # the image, or the image whose label is bad
    reason = listed[placed.image.name]
    assert item.message in reason and "Traceback" not in reason
    if item.role == "label":
        assert placed.bad.name in reason
    assert import_dialog.report.imported == [] and not import_dialog.error_label.isVisible()
    import_dialog.session.close_project()
    assert tree_digest(placed.folder) == inputs
    assert project_state(project_path) == project


# --- inputs that are not errors -----------------------------------------------------------------------------------
def constant(path: Path, shape=SHAPE) -> Path:
    return write_nifti(path, np.full(shape, 7.5, np.float32))


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no division by a zero intensity range anywhere
def test_a_constant_image_is_accepted_without_numeric_warnings(capsys, tmp_path, project_path):
    from sra_seg_app.model.session import WindowLevel
    from sra_seg_app.widgets.thumbnails import thumbnail_array
    from sra_seg_core.datasets import normalise_minmax

    picture = constant(tmp_path / "in" / "flat.nii.gz", shape=(1, 6, 5))
    assert cli(capsys, "convert", picture, tmp_path / "flat.png")[0] == 0  # rescaled to 0..255: nothing to stretch
    assert np.unique(read_image(tmp_path / "flat.png").array).size == 1
    volume = constant(tmp_path / "in" / "blank.nii.gz")
    assert cli(capsys, "project", "import", project_path, volume)[0] == 0
    assert np.all(normalise_minmax(read_image(volume).array) == 0)
    window = WindowLevel.auto(read_image(volume).array)
    assert window.width > 0 and np.unique(thumbnail_array(read_image(volume).array)).size == 1


def test_a_constant_prediction_is_scored_and_an_empty_ground_truth_is_refused(capsys, tmp_path):
    truth = good_label(tmp_path / "case_gt.nii.gz")
    background = write_nifti(tmp_path / "blank.nii.gz", np.zeros(SHAPE, np.uint8))
    code, out, _ = cli(capsys, "evaluate", "--pred", background, "--gt", truth)
    assert code == 0 and "0.00 ± 0.00" in out   # every class missing: Dice 0 by the published convention
    code, _, err = cli(capsys, "evaluate", "--pred", truth, "--gt", background)
    assert code == 2 and err.count("\n") == 1 and "blank.nii.gz: the ground truth has no labelled voxels" in err


@pytest.mark.parametrize("item", [i for i in CORPUS if i.role == "label" and "convert" not in i.refused_by], ids=str)
def test_a_label_alone_is_converted_whatever_its_class_count_or_shape(capsys, tmp_path, item):
    placed = place(item, tmp_path / "in")
    code, out, err = cli(capsys, "convert", placed.bad, tmp_path / "label.nrrd", "--label")
    assert code == 0 and err == ""
    assert np.array_equal(read_label(tmp_path / "label.nrrd").array, read_label(placed.bad).array)


def test_a_label_above_the_classes_is_scored_by_evaluate(capsys, tmp_path):
    """Evaluate scores the labels it is given (or finds in the ground truth): an extra class value is just unscored."""
    placed = place(next(i for i in CORPUS if i.id == "label-above-the-classes"), tmp_path / "in")
    truth = good_label(tmp_path / "truth" / "case_gt.nii.gz")
    code, out, _ = cli(capsys, "evaluate", "--pred", placed.bad, "--gt", truth, "--labels", "1,2,3")
    assert code == 0 and "mean" in out


@pytest.mark.parametrize("suffix", [".nii.gz", ".png", ".nrrd"])
def test_files_in_non_ascii_folders_work_everywhere(capsys, tmp_path, project_path, suffix):
    shape = (1, 6, 5) if suffix == ".png" else SHAPE
    folder = tmp_path / "Patiënt Ω" / "データ"
    image, label = folder / f"scan{suffix}", folder / f"scan_gt{suffix}"
    assert cli(capsys, "convert", good_image(tmp_path / "image.nii.gz", shape), image)[0] == 0
    assert cli(capsys, "convert", good_label(tmp_path / "label.nii.gz", shape), label, "--label")[0] == 0

    code, out, err = cli(capsys, "project", "import", project_path, image)
    assert code == 0 and err == "" and f"from {image}" in out
    code, out, err = cli(capsys, "evaluate", "--pred", label, "--gt", label)
    assert code == 0 and err == ""
    with Project.open(project_path, read_only=True) as project:
        case = project.cases[0]
        assert case.source == str(image) and case.label is not None
        assert np.array_equal(project.read_label(case.id).array, read_label(label).array)


# --- a project folder that cannot be written ----------------------------------------------------------------------
@pytest.fixture
def read_only_project(project_path, monkeypatch):
    """The project folder with its write permission removed. Root writes anywhere, so under root the answer a normal
    user's ``os.access`` gets is given to the store too."""
    project_path.chmod(0o555)
    if os.geteuid() == 0:
        real_access = os.access

        def access(path, mode, **kw):
            return False if Path(path) == project_path and mode & os.W_OK else real_access(path, mode, **kw)

        monkeypatch.setattr(os, "access", access)
    yield project_path
    project_path.chmod(0o755)


def test_importing_into_a_read_only_project_is_one_error_line(capsys, tmp_path, read_only_project):
    image = good_image(tmp_path / "in" / "scan.nii.gz")
    before = project_state(read_only_project)
    code, out, err = cli(capsys, "project", "import", read_only_project, image)
    assert code == 2 and out == ""
    assert err == f"error: {read_only_project}: no permission to write to the project folder; open it read-only to " \
                  "view it\n"
    assert project_state(read_only_project) == before


def test_the_app_says_why_a_read_only_project_cannot_be_opened_for_writing(qtbot, read_only_project, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from sra_seg_app.main_window import MainWindow

    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *args, **kw: shown.append(args[1:3]))
    window = MainWindow()
    qtbot.addWidget(window)
    assert not window.open_project(read_only_project)
    assert shown == [("Cannot open project", f"{read_only_project}: no permission to write to the project folder; "
                                             "open it read-only to view it")]


def test_the_import_dialog_cannot_start_on_a_project_open_read_only(qtbot, read_only_project):
    from sra_seg_app.widgets.import_dialog import ImportDialog
    from sra_seg_app.model.session import Session

    session = Session()
    session.open_project(read_only_project, read_only=True)
    dialog = ImportDialog(session)
    qtbot.addWidget(dialog)
    dialog.set_sources([read_only_project / "project.json"])
    assert not dialog.start_button.isEnabled() and "read-only" in dialog.start_button.toolTip()


def test_a_label_with_another_extension_than_its_image_is_paired_not_imported_as_an_image(capsys, tmp_path,
                                                                                        project_path):
    good_image(tmp_path / "in" / "case.nii")
    good_label(tmp_path / "in" / "case_gt.nii.gz")
    code, out, err = cli(capsys, "project", "import", project_path, tmp_path / "in")
    assert code == 0 and err == "" and "1 imported" in out
    with Project.open(project_path, read_only=True) as project:
        assert [(case.id, case.label) for case in project.cases] == [("case", "labels/case.nii.gz")]
