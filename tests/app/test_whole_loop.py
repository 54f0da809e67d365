"""The whole clinical loop in the app on a tiny phantom project, through the real child processes:
import synthetic images -> preview a blend -> train (tiny preset) -> watch progress and curves -> predict ->
accept -> export, and the exported NIfTI keeps the source geometry."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QItemSelectionModel, Qt

from sra_seg_core.config import preset
from sra_seg_core.io import read_image, read_label
from sra_seg_core.phantoms import write_acdc
from sra_seg_app.widgets.import_dialog import ImportDialog

WAIT = 240_000


def test_import_blend_train_predict_accept_export(opened, qtbot, tmp_path):
    window, session = opened, opened.session
    project = session.project

    # 1. import a folder of synthetic images
    folder = tmp_path / "more-synthetic"
    write_acdc(folder, cases=1, seed=9, style="synthetic", first_id=2001, labels=False)
    synthetic_before = sum(c.role == "synthetic" for c in project.cases)
    dialog = ImportDialog(session, role="synthetic", parent=window)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_sources([folder])
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 2, timeout=WAIT)
    dialog.close()
    assert sum(c.role == "synthetic" for c in project.cases) == synthetic_before + 2   # ED and ES

    # 2. preview a blend: the same function training uses draws alpha
    window.show_workspace("Blend")
    blend = window.blend_ws
    qtbot.waitUntil(lambda: blend.preview is not None, timeout=WAIT)
    alpha = np.asarray(blend.preview.alpha)
    assert alpha.min() == 0 and alpha.max() > 0.99 and ((alpha > 0) & (alpha < 1)).any()

    # 3. train with the tiny preset in a separate process; progress and curve points arrive
    window.show_workspace("Train")
    train = window.train_ws
    config = preset("tiny")
    config.train.pretrain_iters = config.train.selftrain_iters = 2
    config.alignment.allow_untrained, config.alignment.download = True, False
    train.form.set_config(config)
    train.start()
    assert train.monitor.live, train.error_label.text()
    qtbot.waitUntil(lambda: train.curves.point_count() > 0, timeout=WAIT)
    qtbot.waitUntil(lambda: not train.monitor.live, timeout=WAIT)
    assert train.monitor.progress.status == "finished", train.error_label.text()
    assert train.progress_bar.value() == train.progress_bar.maximum() == 4

    # 4. predict an unlabelled real case from the review workspace, then accept it
    window.show_workspace("Review")
    review = window.review_ws
    review.refresh_checkpoints()
    case = next(c.id for c in project.cases if c.role == "real" and not c.label)
    review.table.clearSelection()
    review.table.selectionModel().select(
        review.table.model().index(review._rows[case], 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    review.scope.setCurrentIndex(review.scope.findData("selected"))
    assert review.run_model()
    qtbot.waitUntil(lambda: not review.run.running, timeout=WAIT)
    assert project.case(case).prediction is not None
    review.show_case(case)
    prediction = session.prediction(case).copy()
    assert review.accept_case()
    assert np.array_equal(session.labels(case), prediction)
    assert set(session.slice_status(case)) == {"d"}

    # 5. export the accepted labels as NIfTI: the source geometry travels with them
    window.show_workspace("Export")
    export = window.export_ws
    export.set_selected_cases([case])
    out = tmp_path / "export"
    export.folder_edit.setText(str(out))
    with qtbot.waitSignal(export.run.finished, timeout=WAIT):
        assert export.start_export()
    exported = read_label(out / "nifti" / f"{case}.nii.gz")
    source = read_image(project.image_path(case))
    assert np.allclose(exported.affine, source.affine) and exported.shape == source.shape
    assert np.array_equal(exported.array, prediction)
