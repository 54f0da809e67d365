"""The Blend workspace's rules in the model (no widgets, no torch): the cases offered, the first slice, the notes."""

from __future__ import annotations

from sra_seg_core.project.status import labelled_slices
from sra_seg_app.model import blend as model


def test_the_real_side_offers_labelled_cases_and_the_other_side_synthetic_ones(session):
    project = session.project
    real, synthetic = model.offered_cases(project)
    assert real and all(project.case(c).role == "real" for c in real)
    assert synthetic == [c.id for c in project.cases if c.role == "synthetic"]
    assert model.offered_cases(None) == ([], [])


def test_a_real_case_opens_on_its_middle_labelled_slice(session):
    project = session.project
    real, synthetic = model.offered_cases(project)
    done = labelled_slices(project, project.case(real[0]))
    assert model.default_slice(project, real[0], "real") == done[len(done) // 2]
    assert model.default_slice(project, synthetic[0], "synthetic") == project.case(synthetic[0]).shape[0] // 2


def test_the_page_says_what_is_missing_before_anything_can_be_blended(session):
    assert model.missing_message(None, 1, 1)[0] == "No project open"
    assert model.missing_message(session.project, 1, 0)[0] == "No synthetic images yet"
    assert model.missing_message(session.project, 0, 1)[0] == "No labelled real slices yet"
    assert model.missing_message(session.project, 1, 1) is None


def test_a_preset_sets_the_controls_that_make_its_blend_config():
    hole, smoothing, kernel, sigma = model.preset_controls("acdc")
    config = model.blend_config(hole, smoothing, kernel, sigma)
    from sra_seg_core.config import preset

    expected = preset("acdc").blend
    assert (config.hole_fraction, config.kernel_size, config.hard) == (
        expected.hole_fraction, expected.kernel_size, expected.hard)


def test_the_hole_reads_as_a_simple_fraction_and_a_box_in_pixels():
    assert model.hole_text(40, 256) == "2/3 of the side: box 170 × 170 px"
    assert model.hole_text(37, 100) == "0.62 of the side: box 61 × 61 px"
