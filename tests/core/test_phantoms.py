"""The phantom generator: cardiac short-axis stacks (ACDC stand-ins) and fundus photographs (FIVES stand-ins)."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from sra_seg_core import cli
from sra_seg_core.errors import ConfigError
from sra_seg_core.io import read_image
from sra_seg_core.phantoms import acdc_info, cardiac_case, fundus_case, write_acdc, write_fives
from sra_seg_core.phantoms.cardiac import GROUPS
from sra_seg_core.phantoms.fundus import DISEASES

SMALL = (6, 64, 72)  # a quick cardiac matrix for tests that do not measure anatomy in voxels
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def hearts():
    """seed -> {(style, phase): (image, label)} at the default, ACDC-like matrix."""
    return {
        seed: {(style, phase): cardiac_case(seed, style, phase)
               for style, phase in (("real", "ED"), ("real", "ES"), ("synthetic", "ED"))}
        for seed in SEEDS
    }


@pytest.fixture(scope="module")
def eyes():
    """seed -> {style: (rgb, grey, mask)} at 256 x 256."""
    return {seed: {style: fundus_case(seed, style, 256) for style in ("real", "synthetic")} for seed in SEEDS}


def _mid(label):
    z = label.shape[0]
    return label.array[z // 3 : 2 * z // 3 + 1]


def _wall_thickness(label_slices):
    """Mean LV wall thickness per slice in voxels: outer minus inner radius of circles with the same areas."""
    lv = (label_slices == 3).sum(axis=(-2, -1))
    myo = (label_slices == 2).sum(axis=(-2, -1))
    return np.sqrt((lv + myo) / np.pi) - np.sqrt(lv / np.pi)


def _normalised(array):
    a = array.astype(np.float32)
    return (a - a.min()) / (a.max() - a.min())


def _checkerboard_power(volume):
    """Share of spectral power at the period-2 and period-4 checkerboard frequencies, relative to a flat spectrum."""
    spectrum = np.abs(np.fft.fft2(volume - volume.mean(axis=(1, 2), keepdims=True))) ** 2
    h, w = volume.shape[1:]
    peak = spectrum[:, h // 2, w // 2].sum() + spectrum[:, h // 4, w // 4].sum()
    return peak / spectrum.sum() * h * w


# --- cardiac: determinism and anatomy ---------------------------------------------------------------------------------
def test_cardiac_case_is_deterministic_for_a_seed():
    first, second = cardiac_case(7, "real", "ES", SMALL), cardiac_case(7, "real", "ES", SMALL)
    assert np.array_equal(first[0].array, second[0].array)
    assert np.array_equal(first[1].array, second[1].array)
    assert np.array_equal(first[0].affine, second[0].affine)


def test_cardiac_seeds_give_different_patients():
    assert not np.array_equal(cardiac_case(1, shape=SMALL)[1].array, cardiac_case(2, shape=SMALL)[1].array)


def test_cardiac_labels_are_identical_across_styles(hearts):
    for cases in hearts.values():
        (real_image, real_label), (synthetic_image, synthetic_label) = cases["real", "ED"], cases["synthetic", "ED"]
        assert np.array_equal(real_label.array, synthetic_label.array)
        assert np.array_equal(real_image.affine, synthetic_image.affine)
    for seed in SEEDS:
        assert np.array_equal(cardiac_case(seed, "real", "ES", SMALL)[1].array,
                              cardiac_case(seed, "synthetic", "ES", SMALL)[1].array)


def test_cardiac_labels_are_uint8_background_rv_myo_lv(hearts):
    for cases in hearts.values():
        label = cases["real", "ED"][1]
        assert label.array.dtype == np.uint8
        assert set(np.unique(label.array)) == {0, 1, 2, 3}
        assert label.meta.get("label") is True


def test_cardiac_mid_slices_hold_rv_myo_and_lv(hearts):
    for cases in hearts.values():
        for phase in ("ED", "ES"):
            for slice_labels in _mid(cases["real", phase][1]):
                assert {1, 2, 3} <= set(np.unique(slice_labels))


def test_cardiac_rv_is_gone_on_the_apical_slice(hearts):
    for cases in hearts.values():
        label = cases["real", "ED"][1].array
        assert not (label[-1] == 1).any()
        assert (label[0] == 1).any()


def test_cardiac_structures_shrink_towards_the_apex(hearts):
    for cases in hearts.values():
        heart = np.isin(cases["real", "ED"][1].array, (2, 3)).sum(axis=(1, 2))
        z = len(heart)
        assert heart[-1] < heart[z // 2] < heart[:2].max()


def test_cardiac_es_has_a_smaller_cavity_and_thicker_wall_than_ed(hearts):
    for cases in hearts.values():
        ed, es = cases["real", "ED"][1], cases["real", "ES"][1]
        assert (es.array == 3).sum() < 0.8 * (ed.array == 3).sum()
        assert _wall_thickness(_mid(es)).mean() > _wall_thickness(_mid(ed)).mean()


def test_cardiac_ed_wall_is_five_to_nine_voxels_thick(hearts):
    for cases in hearts.values():
        assert 4.5 <= _wall_thickness(_mid(cases["real", "ED"][1])).mean() <= 9.5


def test_cardiac_geometry_is_oblique_with_acdc_like_spacing(hearts):
    for cases in hearts.values():
        image, label = cases["real", "ED"]
        sx, sy, sz = image.spacing
        assert 1.3 <= sx <= 1.7 and sy == pytest.approx(sx)
        assert 5.0 <= sz <= 10.0
        assert 6 <= image.shape[0] <= 18
        assert np.abs(image.direction_lps - np.diag(np.diag(image.direction_lps))).max() > 0.1  # not axis-aligned
        assert label.same_geometry(image)


def test_cardiac_given_shape_is_used_and_keeps_the_field_of_view(hearts):
    image, label = cardiac_case(0, shape=(7, 96, 96))
    full = hearts[0]["real", "ED"][0]
    assert image.shape == label.shape == (7, 96, 96)
    field = np.asarray(image.spacing[:2]) * 96
    assert np.max(field) == pytest.approx(np.max(np.asarray(full.spacing[:2]) * full.shape[1:][::-1]), rel=1e-6)


# --- cardiac: the two renderings --------------------------------------------------------------------------------------
def test_cardiac_real_is_int16_and_synthetic_is_float32_in_unit_range(hearts):
    for cases in hearts.values():
        real, synthetic = cases["real", "ED"][0].array, cases["synthetic", "ED"][0].array
        assert real.dtype == np.int16 and real.min() >= 0 and real.max() > 100
        assert synthetic.dtype == np.float32 and 0.0 <= synthetic.min() and synthetic.max() <= 1.0


def test_cardiac_blood_is_brighter_than_myocardium_in_both_styles(hearts):
    for cases in hearts.values():
        for style in ("real", "synthetic"):
            image, label = cases[style, "ED"]
            assert image.array[label.array == 3].mean() > 1.5 * image.array[label.array == 2].mean()


def test_cardiac_real_background_has_rician_noise(hearts):
    for cases in hearts.values():
        image = cases["real", "ED"][0].array.astype(np.float64)
        corner = image[:, :12, :12]  # air outside the body: only noise
        assert corner.mean() > 0
        assert corner.mean() / corner.std() == pytest.approx(np.sqrt(np.pi / (4 - np.pi)), rel=0.25)  # Rayleigh


def test_cardiac_styles_have_different_intensity_histograms(hearts):
    for cases in hearts.values():
        real = _normalised(cases["real", "ED"][0].array)
        synthetic = _normalised(cases["synthetic", "ED"][0].array)
        h_real = np.histogram(real, 64, (0, 1))[0] / real.size
        h_synthetic = np.histogram(synthetic, 64, (0, 1))[0] / synthetic.size
        assert 0.5 * np.abs(h_real - h_synthetic).sum() > 0.3


def test_cardiac_only_synthetic_shows_checkerboard_artefacts(hearts):
    for cases in hearts.values():
        assert _checkerboard_power(_normalised(cases["real", "ED"][0].array)) < 1.0
        assert _checkerboard_power(_normalised(cases["synthetic", "ED"][0].array)) > 5.0


def test_acdc_info_matches_the_patient():
    info = acdc_info(11)
    assert set(info) == {"ED", "ES", "Group", "Height", "NbFrame", "Weight"}
    assert info["ED"] == "1" and 8 <= int(info["ES"]) <= 14 < int(info["NbFrame"])
    assert info["Group"] in GROUPS
    assert cardiac_case(11, phase="ES", shape=SMALL)[0].meta["frame"] == int(info["ES"])


@pytest.mark.parametrize(
    "kwargs",
    [dict(style="cartoon"), dict(phase="MS"), dict(seed=-1), dict(seed=1.5), dict(shape=(1, 64, 64)),
     dict(shape=(6, 16, 64)), dict(shape=(6, 64))],
)
def test_cardiac_bad_arguments_raise_config_errors(kwargs):
    with pytest.raises(ConfigError):
        cardiac_case(**{"seed": 0, **kwargs})


# --- ACDC layout ------------------------------------------------------------------------------------------------------
def _read_info(path):
    return dict(line.split(": ", 1) for line in path.read_text().splitlines())


def test_write_acdc_writes_the_acdc_layout(tmp_path):
    written = write_acdc(tmp_path, cases=2, seed=3, shape=SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patient001", "patient002"]
    for patient in ("patient001", "patient002"):
        folder = tmp_path / patient
        info = _read_info(folder / "Info.cfg")
        assert info["ED"] == "1" and info["Group"] in GROUPS
        float(info["Height"]), float(info["Weight"]), int(info["NbFrame"])
        frames = [f"{patient}_frame01", f"{patient}_frame{int(info['ES']):02d}"]
        expected = {f"{f}.nii.gz" for f in frames} | {f"{f}_gt.nii.gz" for f in frames} | {"Info.cfg"}
        assert {p.name for p in folder.iterdir()} == expected
        for frame in frames:
            image, label = read_image(folder / f"{frame}.nii.gz"), read_image(folder / f"{frame}_gt.nii.gz")
            assert image.array.dtype == np.int16 and image.shape == SMALL
            assert label.same_geometry(image)
            assert not np.allclose(image.affine[:3, :3], np.diag(np.diag(image.affine[:3, :3])))
            assert set(np.unique(label.array)) <= {0, 1, 2, 3}
    assert len(written) == 10 and all(p.exists() for p in written)


def test_write_acdc_patients_depend_on_their_number_not_on_first_id(tmp_path):
    write_acdc(tmp_path / "a", cases=2, seed=4, shape=SMALL)
    write_acdc(tmp_path / "b", cases=1, seed=4, shape=SMALL, first_id=2)
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["patient002"]
    a = read_image(tmp_path / "a/patient002/patient002_frame01.nii.gz")
    b = read_image(tmp_path / "b/patient002/patient002_frame01.nii.gz")
    assert np.array_equal(a.array, b.array)


def test_write_acdc_synthetic_pool_without_labels_has_no_gt_files(tmp_path):
    write_acdc(tmp_path, cases=1, seed=0, style="synthetic", labels=False, shape=SMALL)
    names = {p.name for p in (tmp_path / "patient001").iterdir()}
    assert not any(name.endswith("_gt.nii.gz") for name in names)
    assert read_image(tmp_path / "patient001/patient001_frame01.nii.gz").array.dtype == np.float32


# --- fundus -----------------------------------------------------------------------------------------------------------
def test_fundus_case_is_deterministic_for_a_seed():
    first, second = fundus_case(5, "real", 64), fundus_case(5, "real", 64)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[2].array, second[2].array)


def test_fundus_outputs_have_the_documented_types(eyes):
    rgb, grey, mask = eyes[0]["real"]
    assert rgb.shape == (256, 256, 3) and rgb.dtype == np.uint8
    assert grey.shape == (1, 256, 256) and grey.array.dtype == np.float32 and grey.spacing == (1.0, 1.0, 1.0)
    assert mask.shape == (1, 256, 256) and mask.array.dtype == np.uint8
    assert set(np.unique(mask.array)) == {0, 1}
    assert np.allclose(grey.array[0], rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-3)


def test_fundus_masks_are_identical_across_styles(eyes):
    for cases in eyes.values():
        assert np.array_equal(cases["real"][2].array, cases["synthetic"][2].array)


def test_fundus_vessels_form_a_tree_inside_the_field_of_view(eyes):
    for cases in eyes.values():
        rgb, _, mask = cases["real"]
        vessels = mask.array[0].astype(bool)
        assert 0.03 < vessels.mean() < 0.2
        components, count = ndimage.label(vessels, np.ones((3, 3)))
        assert np.bincount(components.ravel())[1:].max() > 0.9 * vessels.sum()  # grown from the disc
        assert not vessels[rgb.sum(axis=2) < 15].any()  # none in the black surround


def test_fundus_field_of_view_is_a_circle_on_black(eyes):
    for cases in eyes.values():
        for rgb, _, _ in cases.values():
            assert rgb[:8, :8].max() < 20 and rgb[-8:, -8:].max() < 20
            assert rgb[128, 128, 0] > 60  # the centre is lit, red-dominated
            assert rgb[128, 128, 0] > rgb[128, 128, 2]


def test_fundus_vessels_are_darker_and_fainter_in_the_synthetic_style(eyes):
    for cases in eyes.values():
        mask = cases["real"][2].array[0].astype(bool)
        ring = ndimage.binary_dilation(mask, iterations=3) & ~mask

        def contrast(rgb):
            green = rgb[..., 1].astype(np.float64)
            return (green[ring].mean() - green[mask].mean()) / green[ring].mean()

        real, synthetic = contrast(cases["real"][0]), contrast(cases["synthetic"][0])
        assert real > 0.2 and 0.02 < synthetic < 0.6 * real


def test_fundus_synthetic_style_has_a_colour_cast(eyes):
    for cases in eyes.values():
        def green_to_red(rgb):
            return rgb[..., 1].astype(np.float64).mean() / rgb[..., 0].astype(np.float64).mean()

        assert green_to_red(cases["synthetic"][0]) > 1.2 * green_to_red(cases["real"][0])


def test_fundus_glaucoma_has_a_larger_bright_cup_than_normal():
    def bright_area(disease):
        rgb, _, _ = fundus_case(9, "real", 128, disease)
        return ((rgb[..., 1] > 200) & (rgb[..., 2] > 150)).sum()

    assert bright_area("G") > 1.5 * bright_area("N")


@pytest.mark.parametrize("kwargs", [dict(style="gan"), dict(size=16), dict(size=64.0), dict(disease="X")])
def test_fundus_bad_arguments_raise_config_errors(kwargs):
    with pytest.raises(ConfigError):
        fundus_case(**{"seed": 0, "size": 64, **kwargs})


# --- FIVES layout -----------------------------------------------------------------------------------------------------
def test_write_fives_writes_the_fives_layout(tmp_path):
    written = write_fives(tmp_path, cases=4, seed=1, size=64, test_fraction=0.25)
    train, test = tmp_path / "train", tmp_path / "test"
    assert sorted(p.name for p in (train / "Original").iterdir()) == ["001_A.png", "002_D.png", "003_G.png"]
    assert sorted(p.name for p in (test / "Original").iterdir()) == ["004_N.png"]
    for split in (train, test):
        for original in (split / "Original").iterdir():
            photo = sitk.ReadImage(str(original))
            assert photo.GetNumberOfComponentsPerPixel() == 3 and photo.GetSize() == (64, 64)
            truth = sitk.GetArrayFromImage(sitk.ReadImage(str(split / "Ground truth" / original.name)))
            assert truth.shape == (64, 64) and set(np.unique(truth)) == {0, 255}
    assert len(written) == 8
    assert all(name[4] in DISEASES for name in (p.name for p in written))


def test_write_fives_without_labels_writes_originals_only(tmp_path):
    write_fives(tmp_path, cases=2, seed=1, size=64, style="synthetic", labels=False, test_fraction=0.0)
    assert [p.name for p in tmp_path.iterdir()] == ["train"]
    assert [p.name for p in (tmp_path / "train").iterdir()] == ["Original"]


@pytest.mark.parametrize("kwargs", [dict(cases=0), dict(test_fraction=1.0), dict(first_id=-1), dict(style="x")])
def test_write_fives_bad_arguments_raise_before_writing(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        write_fives(tmp_path / "out", **{"cases": 2, "size": 64, **kwargs})
    assert not (tmp_path / "out").exists()


# --- CLI --------------------------------------------------------------------------------------------------------------
def test_cli_writes_phantoms_and_lists_the_files(tmp_path, capsys):
    code = cli.main(["phantoms", "fundus", str(tmp_path), "--cases", "2", "--size", "64", "--seed", "3"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert (tmp_path / "train/Original/001_A.png").exists()
    assert str(tmp_path / "train/Original/001_A.png") in out
    assert out[-1].startswith("wrote 4 files for 2 real fundus cases")


def test_cli_writes_cardiac_with_the_requested_matrix(tmp_path, capsys):
    code = cli.main(["phantoms", "cardiac", str(tmp_path), "--cases", "1", "--size", "64", "--first-id", "7"])
    assert code == 0
    image = read_image(tmp_path / "patient007/patient007_frame01.nii.gz")
    assert image.shape[1:] == (64, 64)


@pytest.mark.parametrize("args", [["--style", "cartoon"], ["--seed", "-3"], ["--cases", "0"], ["--size", "8"]])
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, capsys, args):
    code = cli.main(["phantoms", "cardiac", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
