"""``sra-seg convert``: any supported format to any other, geometry and label values kept, errors as one line."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from sra_seg_core.cli import main
from sra_seg_core.io import GREY_RULES, read_image, read_label

NIB_DATA = Path(nib.__file__).parent / "tests" / "data"


def convert(*args) -> int:
    return main(["convert", *map(str, args)])


def copy_4d(path: Path) -> None:
    path.write_bytes((NIB_DATA / "example4d.nii.gz").read_bytes())


def test_nifti_to_nrrd_and_back_keeps_data_and_affine(tmp_path):
    source = NIB_DATA / "reoriented_anat_moved.nii"
    assert convert(source, tmp_path / "a.nrrd") == 0
    assert convert(tmp_path / "a.nrrd", tmp_path / "b.nii.gz") == 0
    original, final = read_image(source), read_image(tmp_path / "b.nii.gz")
    np.testing.assert_array_equal(final.array, original.array)
    np.testing.assert_allclose(final.affine, original.affine, atol=1e-4)


def test_prints_one_line_with_shape_spacing_and_type(tmp_path, capfd):
    assert convert(NIB_DATA / "anatomical.nii", tmp_path / "a.mha") == 0
    out = capfd.readouterr().out.splitlines()
    assert out == [f"wrote {tmp_path / 'a.mha'} (MetaImage): 33 x 41 x 25 pixels, spacing 2 x 2 x 2 mm, int16"]


def test_frame_option_picks_a_frame_of_a_4d_file(tmp_path):
    assert convert(NIB_DATA / "example4d.nii.gz", tmp_path / "f.nii.gz", "--frame", 1) == 0
    expected = np.asanyarray(nib.load(NIB_DATA / "example4d.nii.gz").dataobj)[..., 1].T
    np.testing.assert_array_equal(read_image(tmp_path / "f.nii.gz").array, expected)


def test_png_to_nifti_to_png_keeps_pixel_values(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, size=(7, 5)).astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(pixels), str(tmp_path / "a.png"))
    assert convert(tmp_path / "a.png", tmp_path / "a.nii.gz") == 0
    assert convert(tmp_path / "a.nii.gz", tmp_path / "b.png") == 0
    np.testing.assert_array_equal(read_image(tmp_path / "b.png").array[0], pixels)


def test_grey_option_chooses_the_colour_rule(tmp_path):
    rgb = np.array([[[10, 200, 30]]], np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "rgb.png"))
    assert convert(tmp_path / "rgb.png", tmp_path / "g.png", "--grey", "green") == 0
    assert read_image(tmp_path / "g.png").array.item() == 200


def test_help_lists_every_grey_rule(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    help_text = capsys.readouterr().out
    assert all(rule in help_text for rule in GREY_RULES)


def test_binarize_writes_a_0_1_label_from_a_0_255_mask(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.array([[0, 255]], np.uint8)), str(tmp_path / "mask.png"))
    assert convert(tmp_path / "mask.png", tmp_path / "mask.nii.gz", "--binarize") == 0
    np.testing.assert_array_equal(read_label(tmp_path / "mask.nii.gz", num_classes=2).array[0], [[0, 1]])


def test_label_keeps_integer_class_numbers_through_dicom(tmp_path):
    values = (np.arange(2 * 3 * 4).reshape(4, 3, 2) % 4).astype(np.float32)  # a label saved as float by some tool
    nib.save(nib.Nifti1Image(values, np.eye(4)), tmp_path / "gt.nii.gz")
    assert convert(tmp_path / "gt.nii.gz", tmp_path / "gt_dicom", "--label") == 0
    assert convert(tmp_path / "gt_dicom", tmp_path / "gt2.nii.gz", "--label") == 0
    back = read_image(tmp_path / "gt2.nii.gz")
    assert back.array.dtype == np.uint8
    np.testing.assert_array_equal(back.array, values.T)


def test_dtype_option_sets_the_stored_type(tmp_path):
    assert convert(NIB_DATA / "anatomical.nii", tmp_path / "a.nii.gz", "--dtype", "float32") == 0
    assert read_image(tmp_path / "a.nii.gz").array.dtype == np.float32


@pytest.mark.parametrize(
    ("make_input", "args", "message"),
    [
        (lambda p: p.write_text("not an image"), [], "cannot be read as NIfTI"),
        (copy_4d, [], "4-D with 2 frames"),
        (copy_4d, ["--frame", "0", "--dtype", "x"], "unknown data type"),
        (copy_4d, ["--frame", "0", "--grey", "red"], "unknown grey rule"),
        (copy_4d, ["--frame", "0", "--dtype", "uint8"], "do not fit in uint8"),
    ],
)
def test_bad_input_is_one_error_line_exit_2_and_touches_nothing(tmp_path, capfd, make_input, args, message):
    source = tmp_path / "in.nii.gz"
    make_input(source)
    before = source.read_bytes()
    (tmp_path / "out.nii.gz").write_bytes(b"previous result")
    assert convert(source, tmp_path / "out.nii.gz", *args, "--overwrite") == 2  # even so, a failure keeps OUT
    captured = capfd.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in captured.err
    assert source.read_bytes() == before
    assert (tmp_path / "out.nii.gz").read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nii.gz", "out.nii.gz"]


def test_missing_input_names_the_file(tmp_path, capfd):
    assert convert(tmp_path / "nope.nii.gz", tmp_path / "out.nrrd") == 2
    assert capfd.readouterr().err == f"error: {tmp_path / 'nope.nii.gz'}: does not exist\n"
    assert not (tmp_path / "out.nrrd").exists()
