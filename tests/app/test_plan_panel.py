"""The Plan panel: labelling progress that follows slice status, and suggestions from the real child process."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt

from sra_seg_core.project import SliceStatus
from sra_seg_app.workspaces.plan import PlanPanel
from sra_seg_app.model.session import Session

ENGINE_TIMEOUT_MS = 90_000


@pytest.fixture
def panel(qtbot, demo_path, monkeypatch):
    """The panel on the demo project: 3 real patients, patient001 labelled, the others with reference labels."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # the child's torch: one thread is fastest for this little work
    session = Session()
    session.open_project(demo_path)
    widget = PlanPanel(session)
    qtbot.addWidget(widget)
    widget.resize(340, 700)
    widget.show()
    yield widget
    if widget.run.running:
        widget.run.kill()
        widget.run.wait(5000)
    session.close_project()


def choose(combo, key):
    combo.setCurrentIndex(combo.findData(key))


def suggest_and_wait(qtbot, panel):
    with qtbot.waitSignal(panel.run.finished, timeout=ENGINE_TIMEOUT_MS):
        qtbot.mouseClick(panel.suggest_button, Qt.MouseButton.LeftButton)


def shown(panel) -> list[str]:
    return [panel.list.topLevelItem(i).text(0) for i in range(panel.list.topLevelItemCount())]


def test_progress_shows_labelled_patients_against_the_target(panel):
    assert panel.progress_bar.text() == "labelled 1 of 3 patients (33 %) — target 10 %"
    assert panel.progress_bar.maximum() == 3 and panel.progress_bar.value() == 1
    assert panel.progress_note.text().startswith("Target of 1 patient reached.")
    panel.target.setValue(100)
    assert panel.progress_bar.text().endswith("— target 100 %")
    assert panel.progress_note.text().startswith("2 more patients to reach the target of 3.")


def label_case(session, case_id):
    """Paint one pixel and mark every slice of a case done."""
    import numpy as np

    from sra_seg_core.annotation import SliceEdit

    session.select_case(case_id, 0)
    session.commit([SliceEdit(0, np.array([0]), np.array([0], np.uint8), np.array([1], np.uint8))], "paint")
    for z in range(session.image.shape[0]):
        session.set_status(SliceStatus.DONE, z)


def test_one_done_slice_makes_a_patient_partly_labelled_not_labelled(panel):
    session = panel.session
    session.select_case("patient003_frame01", 4)
    session.set_status(SliceStatus.DONE)
    assert panel.progress_bar.text().startswith("labelled 1 of 3 patients (33 %)")
    assert "1 more patient is partly labelled" in panel.progress_note.text()


def test_progress_updates_when_a_patient_is_labelled_whole(panel):
    for case_id in ("patient003_frame01", "patient003_frame08"):
        label_case(panel.session, case_id)
    assert panel.progress_bar.text().startswith("labelled 2 of 3 patients (67 %)")
    assert panel.progress_bar.value() == 2


def test_random_suggests_the_unlabelled_patients_through_the_engine(qtbot, panel):
    panel.target.setValue(100)
    choose(panel.strategy, "random")
    assert not panel.unit.isEnabled()
    suggest_and_wait(qtbot, panel)
    assert not panel.error.isVisible()
    assert sorted(text.split(". ")[1] for text in shown(panel)) == ["patient002", "patient003"]
    assert panel.summary.text().startswith("Labelled 1 of 3 patients (33 %) against a target of 100 %")
    assert panel.details.text().startswith("Drawn at random (seed 0).") and "reference labels" in panel.details.text()


def test_diverse_suggestions_carry_scores_and_what_they_were_measured_on(qtbot, panel):
    panel.target.setValue(100)
    choose(panel.strategy, "diverse")
    choose(panel.features, "intensity")
    suggest_and_wait(qtbot, panel)
    assert len(shown(panel)) == 2
    scores = [float(panel.list.topLevelItem(i).text(1)) for i in range(2)]
    assert scores[0] >= scores[1] > 0
    assert "intensity histogram" in panel.summary.text() and "farthest" in panel.details.text()


def test_slice_suggestions_open_at_their_slice_on_double_click(qtbot, panel):
    panel.target.setValue(50)
    choose(panel.strategy, "diverse")
    choose(panel.unit, "slices")
    choose(panel.features, "intensity")
    suggest_and_wait(qtbot, panel)
    item = panel.list.topLevelItem(0)
    wanted = item.data(0, Qt.ItemDataRole.UserRole)
    assert "· slice" in item.text(0)
    with qtbot.waitSignal(panel.caseOpened):
        pos = panel.list.visualItemRect(item).center()
        qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=pos)   # QTest needs the first click
        qtbot.mouseDClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert (panel.session.case_id, panel.session.z) == (wanted["case"], wanted["slice"])


def test_a_reached_target_says_so_instead_of_listing_nothing(qtbot, panel):
    choose(panel.strategy, "random")
    suggest_and_wait(qtbot, panel)
    assert shown(panel) == [] and "target is reached" in panel.details.text()


def test_disagreement_needs_a_trained_run(panel):
    choose(panel.strategy, "disagreement")
    assert panel.run_combo.currentData() is None and not panel.suggest_button.isEnabled()


def test_an_engine_error_is_shown_in_words(qtbot, panel, demo_path):
    (demo_path / "images" / "patient001_frame01.nii").unlink()   # an image gone missing from the project
    panel.target.setValue(100)
    choose(panel.features, "intensity")
    suggest_and_wait(qtbot, panel)
    assert panel.error.isVisible() and panel.error.text().startswith("Could not suggest: ")
    assert "patient001_frame01.nii: does not exist" in panel.error.text()
    assert "Traceback" not in panel.error.text() and shown(panel) == []


@pytest.mark.slow
def test_disagreement_ranks_patients_of_a_real_run(qtbot, panel, demo_path):
    from sra_seg_core.model import UNet

    run = demo_path / "runs" / "run-1" / "checkpoints"
    run.mkdir(parents=True)
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(UNet(1, 4, (4, 8, 16, 32, 64)).state_dict())
    torch.save({"model": nets[0], "teacher": nets[1], "num_classes": 4, "image_size": 32,
                "model_config": {"in_channels": 1, "channels": [4, 8, 16, 32, 64],
                                 "dropout": [0.05, 0.1, 0.2, 0.3, 0.5]}}, run / "latest.pt")
    panel.target.setValue(100)
    choose(panel.strategy, "disagreement")
    suggest_and_wait(qtbot, panel)
    assert not panel.error.isVisible() and len(shown(panel)) == 2
    assert "1 − Dice" in panel.summary.text() and panel.details.text().startswith("Teacher and student disagree")


def test_cancel_stops_the_engine(qtbot, panel):
    panel.target.setValue(100)
    choose(panel.strategy, "diverse")
    choose(panel.features, "auto")   # tries DINOv2 first: slow enough to cancel
    with qtbot.waitSignal(panel.run.started, timeout=10_000):
        panel.suggest()
    assert panel.cancel_button.isEnabled() and not panel.suggest_button.isEnabled()
    with qtbot.waitSignal(panel.run.finished, timeout=20_000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert panel.details.text() == "Cancelled." and not panel.error.isVisible()
    assert panel.suggest_button.isEnabled() and not panel.busy.isVisible()


def test_warnings_from_the_engine_show_as_a_banner(panel):
    panel.show_result({"strategy": "diverse", "unit": "patients", "features": "DINOv2 vit_small (untrained)",
                       "summary": "labelled 1 of 3 patients (33 %) against a target of 100 %", "suggestions": [],
                       "warnings": ["UNTRAINED DINOv2 encoder (random weights, allowed explicitly)"]})
    assert panel.banner.isVisible() and panel.banner.text().startswith("UNTRAINED")


def test_a_chosen_dinov2_weights_file_is_kept_in_the_project_settings(panel, tmp_path):
    choose(panel.strategy, "diverse")
    assert panel.weights_label.text() == "none: intensity fallback" and panel.weights_button.isEnabled()
    panel.set_weights(str(tmp_path / "dinov2_vits14_pretrain.pth"))
    assert panel.weights_label.text() == "dinov2_vits14_pretrain.pth"
    assert panel.session.project.settings["dinov2_weights"] == str(tmp_path / "dinov2_vits14_pretrain.pth")
    panel.set_weights(None)
    assert "dinov2_weights" not in panel.session.project.settings


def test_disagreement_offers_only_runs_whose_latest_checkpoint_holds_a_teacher(panel):
    from sra_seg_core import runs

    project = panel.session.project
    for name, teacher in (("supervised-1", False), ("sra-seg-1", True)):
        folder = project.runs_dir / name
        (folder / runs.CHECKPOINT_DIR).mkdir(parents=True)
        (folder / runs.CHECKPOINT_DIR / runs.LATEST).write_bytes(b"x")
        runs.update_meta(folder, status="stopped", latest_stage="selftrain" if teacher else "pretrain",
                         latest_has_teacher=teacher)
    choose(panel.strategy, "disagreement")
    panel.refresh_runs()
    offered = [panel.run_combo.itemText(i) for i in range(panel.run_combo.count())]
    assert offered == ["sra-seg-1"]
