"""Cardiac indices against volumes computed by hand, agreement statistics, and the indices commands."""

import csv
import math

import numpy as np
import pytest

from sra_seg_core.cli import main
from sra_seg_core.image import Image
from sra_seg_core.indices import (
    MYOCARDIUM_DENSITY_G_PER_ML,
    acdc_indices,
    agreement,
    cardiac_indices,
    label_volume_ml,
)
from sra_seg_core.io import read_label, write_image
from sra_seg_core.phantoms import cardiac_case, write_acdc
from sra_seg_core.project import Project

SPACING_ZYX = (8.0, 1.5, 1.25)  # thick cine-MRI slices
VOXEL_ML = 8.0 * 1.5 * 1.25 / 1000.0


def _heart(lv: int, rv: int, myo: int, shape=(6, 40, 40)) -> np.ndarray:
    """A label map holding exactly ``lv`` LV, ``rv`` RV and ``myo`` myocardium voxels (flat runs, any shape)."""
    flat = np.zeros(int(np.prod(shape)), np.uint8)
    flat[:lv] = 3
    flat[lv : lv + rv] = 1
    flat[lv + rv : lv + rv + myo] = 2
    return flat.reshape(shape)


def test_volume_is_voxel_count_times_voxel_volume():
    labels = np.zeros((4, 10, 10), np.uint8)
    labels[1:3, 2:7, 3:6] = 3  # a 2 x 5 x 3 box
    assert label_volume_ml(labels, 3, SPACING_ZYX) == pytest.approx(30 * VOXEL_ML)


def test_indices_of_boxes_match_hand_computed_values():
    ed, es = _heart(lv=1000, rv=800, myo=600), _heart(lv=400, rv=500, myo=620)
    idx = cardiac_indices(ed, es, SPACING_ZYX)
    assert idx.lv_edv_ml == pytest.approx(15.0)  # 1000 voxels x 15 mm³
    assert idx.lv_esv_ml == pytest.approx(6.0)
    assert idx.lv_sv_ml == pytest.approx(9.0)
    assert idx.lv_ef_pct == pytest.approx(60.0)
    assert idx.rv_edv_ml == pytest.approx(12.0)
    assert idx.rv_esv_ml == pytest.approx(7.5)
    assert idx.rv_ef_pct == pytest.approx(37.5)
    assert idx.myo_mass_g == pytest.approx(9.0 * 1.05)  # ED myocardium only


def test_cylinder_volume_matches_pi_r2_h_within_discretisation():
    z, y, x = np.mgrid[0:10, 0:120, 0:120]
    radius_mm, spacing = 30.0, (5.0, 0.5, 0.5)
    inside = ((y - 60) * 0.5) ** 2 + ((x - 60) * 0.5) ** 2 <= radius_mm**2
    ed = np.where(inside, 3, 0).astype(np.uint8)
    expected_ml = math.pi * radius_mm**2 * 10 * 5.0 / 1000.0
    assert cardiac_indices(ed, ed, spacing).lv_edv_ml == pytest.approx(expected_ml, rel=0.01)


def test_each_frame_uses_its_own_spacing():
    ed = es = _heart(lv=100, rv=0, myo=0)
    idx = cardiac_indices(ed, es, (10.0, 1.0, 1.0), (5.0, 1.0, 1.0))
    assert (idx.lv_edv_ml, idx.lv_esv_ml) == pytest.approx((1.0, 0.5))


def test_ejection_fraction_is_nan_without_an_end_diastolic_volume():
    empty = np.zeros((2, 4, 4), np.uint8)
    assert math.isnan(cardiac_indices(empty, empty, (1, 1, 1)).lv_ef_pct)


def test_phantom_ejection_is_positive_and_mass_is_kept():
    ed_img, ed = cardiac_case(5, phase="ED", shape=(8, 96, 96))
    _, es = cardiac_case(5, phase="ES", shape=(8, 96, 96))
    idx = cardiac_indices(ed.array, es.array, ed.spacing_zyx)
    manual_lv = np.count_nonzero(ed.array == 3) * np.prod(ed_img.spacing) / 1000
    assert idx.lv_edv_ml == pytest.approx(manual_lv)
    assert idx.lv_esv_ml < idx.lv_edv_ml and 20 < idx.lv_ef_pct < 90
    myo_es = label_volume_ml(es.array, 2, ed.spacing_zyx) * MYOCARDIUM_DENSITY_G_PER_ML
    assert idx.myo_mass_g == pytest.approx(myo_es, rel=0.25)  # the phantom keeps myocardial area between phases


def test_agreement_gives_bias_sample_sd_limits_and_pearson_r():
    reference = [100.0, 120.0, 140.0, 160.0]
    method = [104.0, 122.0, 146.0, 160.0]  # differences 4, 2, 6, 0
    a = agreement(method, reference)
    sd = np.std([4, 2, 6, 0], ddof=1)
    assert (a.n, a.bias, a.sd) == (4, pytest.approx(3.0), pytest.approx(sd))
    assert (a.loa_low, a.loa_high) == (pytest.approx(3 - 1.96 * sd), pytest.approx(3 + 1.96 * sd))
    assert a.r == pytest.approx(np.corrcoef(method, reference)[0, 1])


def test_agreement_leaves_out_nan_pairs():
    assert agreement([1.0, math.nan, 3.0], [1.0, 2.0, 2.0]).n == 2


def _acdc_with_predictions(tmp_path):
    data = tmp_path / "acdc"
    write_acdc(data, cases=3, seed=4, shape=(4, 48, 48))
    pred = tmp_path / "pred"
    for gt in sorted(data.rglob("*_gt.nii.gz")):
        label = read_label(gt, num_classes=4)
        eroded = label.array.copy()
        eroded[:, :, :2] = 0  # a prediction that misses two columns: smaller volumes
        write_image(label.with_array(eroded, label=True), pred / gt.name.replace("_gt", "_pred"))
    return data, pred


def test_acdc_folder_gives_reference_and_prediction_rows_and_agreement(tmp_path):
    data, pred = _acdc_with_predictions(tmp_path)
    report, inputs = acdc_indices(data, pred)
    assert [(r.patient, r.source) for r in report.rows][:2] == [("patient001", "reference"),
                                                               ("patient001", "prediction")]
    assert len(report.rows) == 6 and not report.skipped
    lv = report.agreements[("prediction", "reference")]["lv_edv_ml"]
    assert lv.n == 3 and lv.bias <= 0
    assert any(p.name == "Info.cfg" for p in inputs)


def test_indices_command_writes_both_tables(tmp_path, capsys):
    data, pred = _acdc_with_predictions(tmp_path)
    out = tmp_path / "indices.csv"
    assert main(["indices", str(data), "--pred", str(pred), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and rows[0]["ed_frame"] == "1"
    agreement_rows = list(csv.DictReader((tmp_path / "indices_agreement.csv").open()))
    assert {r["index"] for r in agreement_rows} >= {"lv_ef_pct", "myo_mass_g"}
    assert "LV EF (%)" in capsys.readouterr().out


def test_indices_command_refuses_to_overwrite_an_input(tmp_path, capsys):
    data = tmp_path / "acdc"
    write_acdc(data, cases=1, seed=4, shape=(3, 32, 32))
    info = data / "patient001" / "Info.cfg"
    before = info.read_bytes()
    assert main(["indices", str(data), "--csv", str(info)]) == 2
    assert "input" in capsys.readouterr().err and info.read_bytes() == before


def test_project_indices_uses_info_cfg_beside_the_source(tmp_path, capsys):
    data = tmp_path / "acdc"
    write_acdc(data, cases=2, seed=4, shape=(3, 32, 32))
    proj = tmp_path / "proj"
    assert main(["project", "create", str(proj)]) == 0
    for patient in sorted(data.iterdir()):
        for image in sorted(patient.glob("*_frame??.nii.gz")):
            assert main(["project", "import", str(proj), str(image), "--labels", str(patient),
                         "--labels-as", "reference"]) == 0
    out = tmp_path / "out.csv"
    assert main(["project", "indices", str(proj), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["patient"], r["source"]) for r in rows] == [("patient001", "reference"), ("patient002", "reference")]
    direct, _ = acdc_indices(data)
    assert float(rows[0]["lv_edv_ml"]) == pytest.approx(direct.rows[0].indices.lv_edv_ml)


def test_project_indices_refuses_a_csv_inside_the_project(tmp_path, capsys):
    proj = tmp_path / "proj"
    with Project.create(proj):
        pass
    assert main(["project", "indices", str(proj), "--csv", str(proj / "x.csv")]) == 2
    assert "inside the project" in capsys.readouterr().err


def test_image_spacing_zyx_is_what_indices_expect():
    image = Image.from_spacing(np.zeros((2, 3, 4)), spacing=(1.25, 1.5, 8.0))
    assert image.spacing_zyx == SPACING_ZYX


def test_project_indices_takes_frames_chosen_with_pair(tmp_path, capsys):
    from sra_seg_core.image import Image

    proj = tmp_path / "proj"
    ed, es = _heart(lv=1000, rv=800, myo=600), _heart(lv=400, rv=500, myo=620)
    with Project.create(proj) as project:
        for name in ("scan_a", "scan_b"):  # no Info.cfg anywhere: frames must be chosen
            write_image(Image.from_spacing(np.zeros(ed.shape, np.int16), (1.25, 1.5, 8.0)), tmp_path / f"{name}.nii.gz")
            project.import_image(tmp_path / f"{name}.nii.gz", group="heart")
        project.save_label("scan_a", ed)
        project.save_label("scan_b", es)
        for z in range(ed.shape[0]):
            project.set_slice_status("scan_a", z, "d")
            project.set_slice_status("scan_b", z, "d")
        project.save()
    out = tmp_path / "out.csv"
    assert main(["project", "indices", str(proj), "--csv", str(out)]) == 2  # nothing to compute without frames
    captured = capsys.readouterr()
    assert "--pair" in captured.out and captured.err.startswith("error:") and not out.exists()
    assert main(["project", "indices", str(proj), "--csv", str(out), "--pair", "scan_a:scan_b"]) == 0
    [row] = list(csv.DictReader(out.open()))
    assert (row["patient"], row["source"], row["ed_frame"], row["es_frame"]) == ("heart", "approved", "scan_a",
                                                                                 "scan_b")
    assert float(row["lv_ef_pct"]) == pytest.approx(60.0) and float(row["myo_mass_g"]) == pytest.approx(9.45)
