"""The import dialog and the thumbnail grid: bad files listed with reasons, thumbnails, remove, cancel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QMessageBox

from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.project import Project
from sra_seg_app.widgets.import_dialog import ImportDialog
from sra_seg_app.widgets.thumbnails import ThumbnailGrid, thumbnail_array

WAIT_MS = 30_000


def volume(seed: int, shape=(3, 20, 24)) -> Image:
    return Image.from_spacing(np.random.default_rng(seed).random(shape).astype(np.float32), (1.0, 1.0, 2.0))


@pytest.fixture
def folder(tmp_path):
    """Two good volumes, an empty .nii.gz, a text file named .nii.gz, and a note that is not an image."""
    folder = tmp_path / "incoming"
    write_image(volume(1), folder / "gen_001.nii.gz")
    write_image(volume(2), folder / "gen_002.nii.gz")
    (folder / "empty.nii.gz").write_bytes(b"")
    (folder / "text.nii.gz").write_text("this is not an image")
    (folder / "readme.txt").write_text("made by a diffusion model")
    return folder


def open_dialog(qtbot, session, role="real"):
    dialog = ImportDialog(session, role=role)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def run_import(qtbot, dialog, sources):
    dialog.set_sources(sources)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 2, timeout=WAIT_MS)


def problems(dialog) -> dict[str, str]:
    table = dialog.problems
    return {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}


def test_the_synthetic_action_preselects_the_synthetic_role(qtbot, session):
    dialog = open_dialog(qtbot, session, role="synthetic")
    assert dialog.role == "synthetic" and dialog.options()["copy"]
    assert not dialog.labels_box.isEnabled() and not dialog.start_button.isEnabled()
    dialog.role_combo.setCurrentIndex(dialog.role_combo.findData("real"))
    assert dialog.labels_box.isEnabled()


def test_bad_files_are_listed_with_reasons_and_good_ones_imported(qtbot, session, folder):
    dialog = open_dialog(qtbot, session, role="synthetic")
    with qtbot.waitSignal(session.casesChanged, timeout=WAIT_MS):
        run_import(qtbot, dialog, [folder])
    assert [c.id for c in dialog.report.imported] == ["gen_001", "gen_002"]
    assert all(session.project.case(i).role == "synthetic" for i in ("gen_001", "gen_002"))
    listed = problems(dialog)
    assert set(listed) == {"empty.nii.gz", "text.nii.gz", "readme.txt"}
    assert all(reason for reason in listed.values()) and listed["readme.txt"] == "not an image file (ignored)"
    assert dialog.summary_label.text().startswith("2 synthetic images imported (6 slices); 2 not imported")
    assert "1 file ignored" in dialog.summary_label.text()


def test_thumbnails_of_the_imported_images_appear(qtbot, session, folder):
    dialog = open_dialog(qtbot, session, role="synthetic")
    run_import(qtbot, dialog, [folder])
    grid = dialog.grid
    assert grid.case_ids() == ["gen_001", "gen_002"]
    qtbot.waitUntil(grid.thumbnails_done, timeout=WAIT_MS)
    for row in range(2):
        icon = grid.list.item(row).icon()
        assert icon.cacheKey() != grid.placeholder.cacheKey()
        assert icon.availableSizes() == [QSize(112, 112)]
        corner, centre = (icon.pixmap(112, 112).toImage().pixelColor(x, y) for x, y in ((0, 0), (56, 56)))
        assert corner.alpha() == 0 and centre.alpha() == 255   # 24 x 20 pixels: letterboxed in a square
    assert grid.count_label.text() == "2 images · 2 patients · 6 slices"


def test_real_images_pair_with_labels_from_a_folder_as_reference(qtbot, session, tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    write_image(volume(3), images / "scan1.nii.gz")
    label = Image.from_spacing(np.ones((3, 20, 24), np.uint8), (1.0, 1.0, 2.0))
    write_image(label, labels / "scan1.nii.gz")
    dialog = open_dialog(qtbot, session)
    dialog.label_edit.setText(str(labels))
    dialog.label_kind_combo.setCurrentIndex(dialog.label_kind_combo.findData("reference"))
    run_import(qtbot, dialog, [images / "scan1.nii.gz"])
    case = session.project.case("scan1")
    assert case.role == "real" and case.reference and case.label is None and case.copied
    assert "1 with reference labels" in dialog.summary_label.text() and dialog.problems.isHidden()


def test_remove_selected_asks_then_removes_the_cases(qtbot, session, folder, monkeypatch):
    dialog = open_dialog(qtbot, session, role="synthetic")
    run_import(qtbot, dialog, [folder])
    grid = dialog.grid
    grid.list.item(0).setSelected(True)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(session.casesChanged):
        qtbot.mouseClick(grid.remove_button, Qt.MouseButton.LeftButton)
    assert "Remove 1 case from the project?" in asked[0] and "gen_001" in asked[0]
    assert [c.id for c in session.project.cases if c.id.startswith("gen")] == ["gen_002"]
    assert grid.case_ids() == ["gen_002"] and "1 of them removed again" in dialog.summary_label.text()
    assert not (session.project.path / "images" / "gen_001.nii.gz").exists()
    with Project.open(session.project.path, read_only=True) as on_disk:
        assert "gen_001" not in {c.id for c in on_disk.cases}


def test_declining_the_confirmation_keeps_the_cases(qtbot, session, folder, monkeypatch):
    dialog = open_dialog(qtbot, session, role="synthetic")
    run_import(qtbot, dialog, [folder])
    dialog.grid.list.selectAll()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    dialog.grid.ask_remove()
    assert {"gen_001", "gen_002"} <= {c.id for c in session.project.cases}


def test_cancel_stops_between_files_and_keeps_what_was_imported(qtbot, session, tmp_path):
    many = tmp_path / "many"
    for n in range(40):
        write_image(volume(n, (2, 64, 64)), many / f"syn_{n:03d}.nii.gz")
    dialog = open_dialog(qtbot, session, role="synthetic")
    dialog.set_sources([many])
    dialog.start()
    dialog.cancel()
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 2, timeout=WAIT_MS)
    imported = [c.id for c in dialog.report.imported]
    assert dialog.cancelled and 0 < len(imported) < 40
    assert dialog.result_title.text() == "Import cancelled"
    assert dialog.summary_label.text().startswith("Cancelled after ")
    with Project.open(session.project.path, read_only=True) as on_disk:
        assert [c.id for c in on_disk.cases if c.id.startswith("syn_")] == imported


def test_a_missing_file_is_listed_as_not_imported(qtbot, session, tmp_path):
    dialog = open_dialog(qtbot, session)
    run_import(qtbot, dialog, [tmp_path / "vanished.nii.gz"])
    assert list(problems(dialog)) == ["vanished.nii.gz"] and dialog.report.imported == []


def test_an_import_that_cannot_run_shows_the_reason(qtbot, session, folder, tmp_path):
    dialog = open_dialog(qtbot, session)
    dialog.label_edit.setText(str(tmp_path / "no-such-labels"))
    run_import(qtbot, dialog, [folder])
    assert dialog.result_title.text() == "Import failed" and dialog.error_label.isVisible()
    assert "no-such-labels" in dialog.error_label.text() and dialog.grid.isHidden()
    assert not any(c.id.startswith("gen_") for c in session.project.cases)


def test_the_synthetic_pool_grid_shows_counts_and_opens_a_case(qtbot, session):
    grid = ThumbnailGrid(session, role="synthetic")
    qtbot.addWidget(grid)
    grid.resize(700, 400)
    grid.show()
    assert grid.case_ids() == ["synthetic001_frame01", "synthetic001_frame13"]
    assert grid.count_label.text() == "2 synthetic images · 1 patient · 24 slices"
    qtbot.waitUntil(grid.thumbnails_done, timeout=WAIT_MS)
    with qtbot.waitSignal(grid.caseActivated):
        pos = grid.list.visualItemRect(grid.list.item(1)).center()
        qtbot.mouseClick(grid.list.viewport(), Qt.MouseButton.LeftButton, pos=pos)   # QTest needs the first click
        qtbot.mouseDClick(grid.list.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert session.case_id == "synthetic001_frame13"


def test_removing_the_shown_case_moves_the_viewer_to_another(qtbot, session):
    grid = ThumbnailGrid(session, role="synthetic")
    qtbot.addWidget(grid)
    session.select_case("synthetic001_frame01")
    grid.remove(["synthetic001_frame01"])
    assert session.case_id != "synthetic001_frame01" and grid.case_ids() == ["synthetic001_frame13"]


def test_thumbnails_are_the_middle_slice_windowed_to_1_and_99_percent():
    vol = np.zeros((3, 10, 10), np.float32)
    vol[1] = np.arange(100, dtype=np.float32).reshape(10, 10)
    vol[1, 0, 0] = -1000   # an outlier below the 1st percentile
    thumb = thumbnail_array(vol)
    assert thumb.dtype == np.uint8 and thumb.shape == (10, 10)
    assert thumb[0, 0] == 0 and thumb[9, 9] == 255 and 100 < thumb[5, 0] < 160
    assert not thumbnail_array(np.ones((1, 4, 4))).any()
