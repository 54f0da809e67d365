"""The Label statistics and Cardiac indices docks of the main window, on the demo project."""

import pytest

from sra_seg_core.indices import cardiac_indices, project_label_values
from sra_seg_core.measure import label_statistics


def test_the_panels_menu_opens_the_label_statistics_of_the_shown_case(opened, qtbot):
    opened.act_stats.trigger()
    assert opened.stats_dock.isVisible()
    s = opened.session
    labelled = next(c.id for c in s.project.cases if c.label)
    s.select_case(labelled)
    qtbot.waitUntil(lambda: opened.label_stats.rowCount() == 3, timeout=3000)
    expected = label_statistics(s.image.array, s.labels(), s.image.spacing_zyx, [1, 2, 3])
    assert opened.label_stats.item(2, 0).text() == "LV"
    qtbot.waitUntil(lambda: opened.label_stats.item(2, 1).text() == f"{expected[2].voxels:,}", timeout=3000)
    assert opened.label_stats.item(2, 2).text() == f"{expected[2].volume_ml:.2f}"


def test_indices_for_user_chosen_frames_match_the_engine(opened):
    opened.act_indices.trigger()
    panel, project = opened.indices, opened.session.project
    panel.ed_box.setCurrentText("patient001_frame01")
    panel.es_box.setCurrentText("patient001_frame09")
    panel.pair_button.click()
    rows = [r for r in panel.panel.report.rows if r.patient == "patient001" and r.source == "approved"]
    assert len(rows) == 1
    ed, es = project.read_label("patient001_frame01"), project.read_label("patient001_frame09")
    want = cardiac_indices(ed.array, es.array, ed.spacing_zyx, es.spacing_zyx, project_label_values(project.classes))
    assert rows[0].indices.lv_edv_ml == pytest.approx(want.lv_edv_ml)
    r = panel.panel.report.rows.index(rows[0])
    assert panel.panel.table.item(r, 2).text() == f"{want.lv_edv_ml:.1f}"  # the LV EDV column
    assert "left out" in panel.notes.text() and "patient003: no Info.cfg" in panel.notes.toolTip()


def test_the_same_case_as_ed_and_es_is_refused_in_words(opened):
    panel = opened.indices
    panel.ed_box.setCurrentText("patient001_frame01")
    panel.es_box.setCurrentText("patient001_frame01")
    panel.pair_button.click()
    assert "two different cases" in panel.notes.text() and not panel.pairs
