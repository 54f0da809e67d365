"""Readers never return a silently wrong image: a DICOM series that does not fit one spacing, a truncated JPEG, TIFF
pages that do not stack, an EXIF-turned photo, a palette label, a header naming data elsewhere. Folders never yield
one file as several cases; training refuses labels with nothing to learn; evaluate says what it did not score."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from bad_corpus import dicom_series, good_image, good_label, write_nifti
from PIL import Image as PILImage
from PIL import ImageOps
from pydicom.data import get_testdata_file

from sra_seg_core import datasets
from sra_seg_core.cli import main
from sra_seg_core.errors import InputError
from sra_seg_core.io import read_image, read_label
from sra_seg_core.project import Project

pytestmark = pytest.mark.timeout(120)  # a reader blocked on a FIFO must fail, not hang


def one_error_line(capsys, *args) -> str:
    """Run the CLI, which must refuse with exit 2 and exactly one ``error:`` line on stderr (training prints its
    progress there too); that line."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    if args[0] != "train":
        assert err == errors[0] + "\n"
    return errors[0]


# --- DICOM series -----------------------------------------------------------------------------------------------------
def ct_series(folder: Path, positions: list[float]) -> Path:
    """pydicom's CT_small.dcm (a real 128 x 128 CT slice) as a series with slices at ``positions`` (mm along z)."""
    folder.mkdir(parents=True)
    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for k, z in enumerate(positions):
        source.ImagePositionPatient = [-158.135803, -179.035797, z]
        source.SOPInstanceUID = f"{source.SeriesInstanceUID}.{k + 1}"
        source.InstanceNumber = k + 1
        source.save_as(folder / f"IM{k:03d}.dcm")
    return folder


def test_an_evenly_spaced_ct_series_is_read_with_its_spacing(tmp_path):
    image = read_image(ct_series(tmp_path / "ct", [0.0, 5.0, 10.0, 15.0]))
    assert image.shape == (4, 128, 128)
    assert image.spacing[2] == pytest.approx(5.0)


def test_a_series_with_a_missing_slice_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"about 1 slice\(s\) missing between 'IM001.dcm' and 'IM002.dcm' \(10 mm"):
        read_image(ct_series(tmp_path / "ct", [0.0, 5.0, 15.0, 20.0]))


def test_a_series_with_uneven_spacing_is_refused(tmp_path):
    with pytest.raises(InputError, match="uneven slice spacing"):
        read_image(ct_series(tmp_path / "ct", [0.0, 5.0, 12.0, 17.0, 22.0]))


def test_a_series_with_two_slices_at_one_position_is_refused(tmp_path):
    with pytest.raises(InputError, match="two slices at the same position"):
        read_image(ct_series(tmp_path / "ct", [0.0, 5.0, 5.0, 10.0]))


@pytest.mark.parametrize("damage", ["truncated", "not dicom"])
def test_a_series_with_a_damaged_slice_is_refused_not_read_without_it(tmp_path, damage):
    folder = tmp_path / "series"
    dicom_series(folder, seed=1, slices=5)
    victim = sorted(folder.iterdir())[2]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"x" * 500)
    with pytest.raises(InputError, match=rf"holds '{victim.name}', which cannot be read as a DICOM slice"):
        read_image(folder)


def test_a_fifo_in_a_series_folder_is_refused_without_hanging(tmp_path):
    folder = tmp_path / "series"
    dicom_series(folder, seed=1, slices=3)
    os.mkfifo(folder / "zz.dcm")
    with pytest.raises(InputError, match=r"zz\.dcm: is a FIFO"):
        read_image(folder)


def test_convert_refuses_a_series_with_a_gap_in_one_line(capsys, tmp_path):
    folder = ct_series(tmp_path / "ct", [0.0, 5.0, 15.0])
    err = one_error_line(capsys, "convert", folder, tmp_path / "out.nii.gz")
    assert "missing" in err and not (tmp_path / "out.nii.gz").exists()


# --- pictures ---------------------------------------------------------------------------------------------------------
def test_a_multi_page_tiff_is_read_as_a_stack(tmp_path):
    pages = [PILImage.fromarray(np.full((6, 5), 1000 * k, np.uint16)) for k in range(3)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    image = read_image(tmp_path / "stack.tif")
    assert image.shape == (3, 6, 5) and image.array.dtype == np.uint16
    assert [int(page.max()) for page in image.array] == [0, 1000, 2000]


def test_a_tiff_whose_pages_differ_in_size_is_refused(tmp_path):
    pages = [PILImage.fromarray(np.zeros(shape, np.uint8)) for shape in ((6, 5), (7, 5), (6, 5))]
    pages[0].save(tmp_path / "mixed.tif", save_all=True, append_images=pages[1:])
    with pytest.raises(InputError, match=r"TIFF of 3 pages that differ \(page 1 is 5 x 6 L, page 2 is 5 x 7 L\)"):
        read_image(tmp_path / "mixed.tif")


def test_a_tiff_with_separate_colour_planes_is_refused_not_read_at_8_bits(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "planar.tif", np.full((3, 6, 5), 40_000, np.uint16), photometric="rgb",
                     planarconfig="separate")
    with pytest.raises(InputError, match="planar configuration 2"):
        read_image(tmp_path / "planar.tif")


@pytest.fixture
def photo(tmp_path):
    """skimage's camera photograph (512 x 512), cropped to 64 x 96 so that turning it changes its shape."""
    from skimage import data

    return data.camera()[:64, :96]


def test_a_truncated_jpeg_is_refused_not_filled_with_grey(tmp_path, photo, capfd):
    PILImage.fromarray(photo).save(tmp_path / "whole.jpg", quality=90)
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "half.jpg").write_bytes(data[: -len(data) // 3])  # the header and two thirds of the scan
    assert read_image(tmp_path / "whole.jpg").shape == (1, 64, 96)
    with pytest.raises(InputError, match="half.jpg: is truncated or damaged"):
        read_image(tmp_path / "half.jpg")
    assert "Premature end" not in capfd.readouterr().err  # libjpeg never got to print its own warning


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_exif_orientation_is_applied_as_viewers_show_the_photo(tmp_path, photo, orientation, suffix):
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"photo{suffix}"
    PILImage.fromarray(photo).save(path, exif=exif, **({"quality": 100} if suffix == ".jpg" else {}))
    with PILImage.open(path) as stored:
        shown = np.asarray(ImageOps.exif_transpose(stored))
    image = read_image(path)
    assert image.shape == (1, *shown.shape)
    if suffix == ".png":  # lossless: the very pixels
        np.testing.assert_array_equal(image.array[0], shown)
    else:
        assert np.abs(image.array[0].astype(int) - shown).mean() < 2


def test_a_label_drawn_on_the_displayed_photo_pairs_with_it(tmp_path, photo):
    exif = PILImage.Exif()
    exif[0x0112] = 6  # stored on its side, shown upright: 96 rows x 64 columns
    PILImage.fromarray(photo).save(tmp_path / "photo.png", exif=exif)
    mask = np.zeros((96, 64), np.uint8)
    mask[10:20, 5:9] = 1
    PILImage.fromarray(mask).save(tmp_path / "photo_gt.png")
    label = read_label(tmp_path / "photo_gt.png", reference=read_image(tmp_path / "photo.png"))
    assert label.shape == (1, 96, 64)


def palette_png(path: Path, indices: np.ndarray) -> Path:
    picture = PILImage.fromarray(indices.astype(np.uint8), mode="P")
    picture.putpalette([0, 0, 0, 230, 159, 0, 86, 180, 233, 0, 158, 115] + [0] * (252 * 3))
    picture.save(path)
    return path


def test_a_palette_png_label_is_read_by_index_not_colour(tmp_path):
    indices = np.arange(30).reshape(6, 5) % 4
    label = read_label(palette_png(tmp_path / "mask.png", indices), num_classes=4)
    np.testing.assert_array_equal(label.array[0], indices)


def test_a_palette_png_image_still_becomes_grey_from_its_colours(tmp_path):
    image = read_image(palette_png(tmp_path / "picture.png", np.array([[0, 1], [2, 3]])))
    assert image.array[0, 0, 0] == 0 and len(np.unique(image.array)) == 4


@pytest.mark.parametrize("name", ["scan.nii.gz", "photo.png", "volume.nrrd"])
def test_a_fifo_given_as_an_image_is_refused_without_hanging(tmp_path, name):
    os.mkfifo(tmp_path / name)
    with pytest.raises(InputError, match=rf"{name}: is a FIFO \(named pipe\), where a regular file was expected"):
        read_image(tmp_path / name)


# --- headers that name a data file ------------------------------------------------------------------------------------
@pytest.fixture
def header_pair(tmp_path):
    """A MetaImage header ``scan.mhd`` with its data file ``scan.raw`` in tmp/in; returns the header."""
    import SimpleITK as sitk

    folder = tmp_path / "in"
    folder.mkdir()
    volume = sitk.GetImageFromArray(np.arange(60, dtype=np.int16).reshape(2, 6, 5))
    volume.SetSpacing((0.5, 0.5, 3.0))
    sitk.WriteImage(volume, str(folder / "scan.mhd"))
    return folder / "scan.mhd"


def point_header_at(header: Path, data: str, name: str = "evil.mhd") -> Path:
    text = header.read_text().replace("ElementDataFile = scan.raw", f"ElementDataFile = {data}")
    (header.parent / name).write_text(text)
    return header.parent / name


@pytest.mark.parametrize(
    "data, message",
    [
        ("/etc/hostname", "in another folder"),
        ("../in/scan.raw", "in another folder"),
        ("missing.raw", "which is not beside it"),
    ],
)
def test_a_header_naming_data_elsewhere_is_refused(header_pair, data, message):
    with pytest.raises(InputError, match=message):
        read_image(point_header_at(header_pair, data))


def test_a_header_naming_a_fifo_is_refused_without_hanging(header_pair):
    os.mkfifo(header_pair.parent / "pipe.raw")
    with pytest.raises(InputError, match="not a regular file"):
        read_image(point_header_at(header_pair, "pipe.raw"))


def test_a_header_naming_a_link_out_of_its_folder_is_refused(header_pair, tmp_path):
    (tmp_path / "secret.raw").write_bytes(bytes(120))
    (header_pair.parent / "link.raw").symlink_to(tmp_path / "secret.raw")
    with pytest.raises(InputError, match="a link to a file in another folder"):
        read_image(point_header_at(header_pair, "link.raw"))


def test_an_nrrd_header_naming_a_file_elsewhere_is_refused(tmp_path):
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4), np.int16)), str(tmp_path / "a.nhdr"))
    text = (tmp_path / "a.nhdr").read_text()
    name = next(line for line in text.splitlines() if line.startswith("data file:")).split(":", 1)[1].strip()
    (tmp_path / "a.nhdr").write_text(text.replace(f"data file: {name}", "data file: /etc/hostname"))
    with pytest.raises(InputError, match="in another folder"):
        read_image(tmp_path / "a.nhdr")


def test_import_copy_of_a_header_keeps_its_data(header_pair, project_path):
    before = read_image(header_pair)
    with Project.open(project_path) as project:
        case = project.import_image(header_pair, copy=True)
    shutil.rmtree(header_pair.parent)  # the original pair is gone: the copy must hold the pixels
    with Project.open(project_path, read_only=True) as project:
        assert case.image == "images/scan.mha"
        copied = project.read_image("scan")
    np.testing.assert_array_equal(copied.array, before.array)
    np.testing.assert_allclose(copied.affine, before.affine)


# --- one image is one case in a training folder -----------------------------------------------------------------------
def test_a_link_loop_in_a_training_folder_gives_each_image_once(tmp_path):
    root = tmp_path / "data"
    for k in range(6):
        good_image(root / f"c{k}.nii.gz", seed=k)
        good_label(root / f"c{k}_gt.nii.gz", seed=k)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "again.nii.gz").symlink_to(root / "c0.nii.gz")
    dataset = datasets.discover(root)
    assert sorted(c.case_id for c in dataset.cases) == [f"c{k}" for k in range(6)]
    splits = datasets.split_cases(dataset, seed=0)
    used = [c.image.resolve() for name in ("train", "val", "test") for c in splits[name]]
    assert len(used) == len(set(used))


# --- silent wrong results ---------------------------------------------------------------------------------------------
def test_training_on_labels_that_are_all_background_is_refused_before_it_starts(capsys, tmp_path):
    root = tmp_path / "data"
    for k in range(6):
        good_image(root / f"c{k}.nii.gz", seed=k)
        write_nifti(root / f"c{k}_gt.nii.gz", np.zeros((2, 6, 5), np.uint8))
    err = one_error_line(capsys, "train", "--data", root, "--method", "supervised", "--preset", "tiny",
                         "--device", "cpu", "--set", "data.num_classes=2", "--out", tmp_path / "run")
    assert "are background (0) only, so there is nothing to learn" in err
    assert not list((tmp_path / "run").rglob("*.pt"))


def test_evaluate_warns_about_prediction_values_the_ground_truth_lacks(capsys, tmp_path):
    truth = np.zeros((2, 6, 5), np.uint8)
    truth[:, 1:4, 1:4] = 1
    guess = truth.copy()
    guess[:, 0, 0] = 5
    write_nifti(tmp_path / "gt" / "c_gt.nii.gz", truth)
    write_nifti(tmp_path / "pred" / "c_pred.nii.gz", guess)
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")]) == 0
    err = capsys.readouterr().err
    assert "warning: the predictions hold label value(s) 5, which no ground truth has; they were not scored" in err


def test_evaluate_refuses_two_predictions_for_one_case(capsys, tmp_path):
    good_label(tmp_path / "gt" / "c_gt.nii.gz")
    good_label(tmp_path / "pred" / "c.nii.gz")
    good_label(tmp_path / "pred" / "c_pred.nii.gz", seed=1)
    err = one_error_line(capsys, "evaluate", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt")
    assert "case 'c' has several label files: c.nii.gz, c_pred.nii.gz" in err
