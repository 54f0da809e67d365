"""Reading and writing images: formats, axis order, data types, colour, DICOM series, and the ways a file can be bad."""

import gzip
import uuid
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from sra_seg_core.errors import ConfigError, InputError
from sra_seg_core.image import Image
from sra_seg_core.io import (
    GREY_RULES,
    SUPPORTED_SUFFIXES,
    is_supported,
    list_images,
    read_image,
    read_info,
    strip_suffix,
    write_image,
)

NIB_DATA = Path(nib.__file__).parent / "tests" / "data"


def write_rgb_png(path, rgb):
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(path))
    return path


def write_sitk_series(folder, volume, *, spacing=(0.7, 0.8, 2.5), origin=(10.0, -20.0, 30.0)):
    """A DICOM series written by SimpleITK alone (the way the SimpleITK examples do), independent of write_image."""
    folder.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    series_uid = f"2.25.{uuid.uuid4().int}"
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(volume.shape[0]):
        slice_k = image[:, :, k : k + 1]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        for tag, value in {
            "0020|000e": series_uid,
            "0008|0018": f"{series_uid}.{k + 1}",
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": f"{spacing[1]}\\{spacing[0]}",
            "0018|0050": str(spacing[2]),
        }.items():
            slice_k.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{series_uid[-6:]}_{k:03d}.dcm"))
        writer.Execute(slice_k)
    return series_uid


# --- NIfTI -------------------------------------------------------------------------------------------------------


def test_nifti_array_is_k_j_i_of_nibabels_i_j_k():
    image = read_image(NIB_DATA / "anatomical.nii")
    data = np.asanyarray(nib.load(NIB_DATA / "anatomical.nii").dataobj)
    assert image.shape == data.shape[::-1]
    assert image.array[11, 7, 3] == data[3, 7, 11]


def test_nifti_array_matches_simpleitk_reading_the_same_file():
    path = NIB_DATA / "reoriented_anat_moved.nii"
    np.testing.assert_array_equal(read_image(path).array, sitk.GetArrayFromImage(sitk.ReadImage(path)))


def test_nifti_affine_places_voxels_where_nibabel_does():
    image = read_image(NIB_DATA / "reoriented_anat_moved.nii")
    affine = nib.load(NIB_DATA / "reoriented_anat_moved.nii").affine
    np.testing.assert_allclose(image.world((3, 7, 11)), (affine @ [3, 7, 11, 1])[:3])


def test_nifti_integer_data_keeps_its_type_in_native_byte_order():
    image = read_image(NIB_DATA / "anatomical.nii")  # stored big-endian int16
    assert image.array.dtype == np.dtype("int16") and image.array.dtype.isnative


def test_nifti_scaling_is_applied_and_gives_floats(tmp_path):
    values = np.linspace(-3, 7, 60, dtype=np.float32).reshape(5, 4, 3)
    nib.save(nib.Nifti1Image(values, np.eye(4), dtype=np.int16), tmp_path / "scaled.nii.gz")
    image = read_image(tmp_path / "scaled.nii.gz")
    assert image.array.dtype.kind == "f"
    np.testing.assert_allclose(image.array, values.T, atol=1e-3)


def test_nifti_label_map_stays_integer(tmp_path):
    nib.save(nib.Nifti1Image(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.eye(4)), tmp_path / "gt.nii.gz")
    assert read_image(tmp_path / "gt.nii.gz").array.dtype == np.uint8


def test_nifti2_is_read():
    image = read_image(NIB_DATA / "example_nifti2.nii.gz", frame=0)
    assert image.shape == (12, 20, 32)


def test_4d_nifti_without_frame_says_how_many_frames_and_how_to_choose():
    with pytest.raises(InputError, match=r"example4d.nii.gz.*4-D with 2 frames.*--frame"):
        read_image(NIB_DATA / "example4d.nii.gz")


def test_4d_nifti_frame_is_that_3d_volume():
    data = np.asanyarray(nib.load(NIB_DATA / "example4d.nii.gz").dataobj)
    image = read_image(NIB_DATA / "example4d.nii.gz", frame=1)
    np.testing.assert_array_equal(image.array, data[..., 1].T)
    assert image.meta["frame"] == 1


def test_4d_frame_out_of_range_is_refused():
    with pytest.raises(InputError, match=r"example4d.nii.gz.*2 frames.*frame 2 does not exist"):
        read_image(NIB_DATA / "example4d.nii.gz", frame=2)


def test_uncompressed_nifti_is_memory_mapped_not_copied(tmp_path):
    nib.save(nib.Nifti1Image(np.ones((4, 5, 6), np.float32), np.eye(4)), tmp_path / "v.nii")
    base = read_image(tmp_path / "v.nii").array
    while base.base is not None and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, np.memmap)


def test_changing_the_read_array_never_changes_the_file(tmp_path):
    nib.save(nib.Nifti1Image(np.ones((4, 5, 6), np.float32), np.eye(4)), tmp_path / "v.nii")
    before = (tmp_path / "v.nii").read_bytes()
    image = read_image(tmp_path / "v.nii")
    image.array[:] = 7
    del image
    assert (tmp_path / "v.nii").read_bytes() == before


def test_nifti2_source_is_written_back_as_nifti2(tmp_path):
    image = read_image(NIB_DATA / "example_nifti2.nii.gz", frame=0)
    assert isinstance(nib.load(write_image(image, tmp_path / "out.nii.gz")), nib.Nifti2Image)


def test_new_images_are_written_as_nifti1_in_mm(tmp_path):
    written = nib.load(write_image(Image.from_spacing(np.zeros((2, 3, 4), np.int16), (1, 2, 3)), tmp_path / "n.nii"))
    assert type(written) is nib.Nifti1Image and written.header.get_xyzt_units()[0] == "mm"


def test_nifti_header_of_the_source_is_reused(tmp_path):
    source = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), np.diag([2.0, 2.0, 3.0, 1.0]))
    source.header["descrip"] = b"scanner 7"
    source.header.set_qform(source.affine, code="scanner")
    source.header.set_sform(source.affine, code="talairach")
    nib.save(source, tmp_path / "src.nii.gz")
    image = read_image(tmp_path / "src.nii.gz")
    written = nib.load(write_image(image.with_array(np.ones(image.shape, np.uint8)), tmp_path / "lab.nii.gz"))
    assert written.header["descrip"] == b"scanner 7"
    assert (int(written.header["qform_code"]), int(written.header["sform_code"])) == (1, 3)
    assert written.get_data_dtype() == np.uint8


def test_64_bit_integers_are_stored_in_the_narrowest_type_that_holds_them(tmp_path):
    image = Image.from_spacing(np.array([[[0, 1, 300]]], dtype=np.int64))
    assert read_image(write_image(image, tmp_path / "l.nii.gz")).array.dtype == np.int16


# --- pictures ----------------------------------------------------------------------------------------------------

RGB = np.array([[[200, 100, 50], [0, 255, 10]], [[30, 60, 90], [255, 255, 255]]], dtype=np.uint8)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("luminance", np.rint(RGB @ [0.299, 0.587, 0.114])),
        ("green", RGB[..., 1]),
        ("mean", np.rint(RGB.mean(-1))),
        ("first", RGB[..., 0]),
    ],
)
def test_colour_png_becomes_grey_by_rule(tmp_path, rule, expected):
    image = read_image(write_rgb_png(tmp_path / "rgb.png", RGB), grey=rule)
    assert image.array.dtype == np.uint8
    np.testing.assert_array_equal(image.array[0], expected)


def test_luminance_is_the_default_grey_rule(tmp_path):
    path = write_rgb_png(tmp_path / "rgb.png", RGB)
    np.testing.assert_array_equal(read_image(path).array, read_image(path, grey="luminance").array)


def test_alpha_channel_is_dropped(tmp_path):
    rgba = np.concatenate([RGB, np.full((2, 2, 1), 7, np.uint8)], axis=-1)
    path = write_rgb_png(tmp_path / "rgba.png", rgba)
    np.testing.assert_array_equal(read_image(path, grey="mean").array[0], np.rint(RGB.mean(-1)))


def test_grey_plus_alpha_png_which_itk_cannot_decode_says_what_to_do(tmp_path):
    path = tmp_path / "la.png"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 2), np.uint8), isVector=True), str(path))
    with pytest.raises(InputError, match="la.png: cannot be read as PNG.*save it as plain grey or RGB"):
        read_image(path)


def test_unknown_grey_rule_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="luminance, green, mean, first"):
        read_image(write_rgb_png(tmp_path / "rgb.png", RGB), grey="red")
    assert GREY_RULES == ("luminance", "green", "mean", "first")


def test_png_is_a_2d_image_of_one_slice(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(12, dtype=np.uint8).reshape(3, 4)), str(tmp_path / "g.png"))
    image = read_image(tmp_path / "g.png")
    assert image.shape == (1, 3, 4) and image.meta["dims"] == 2
    assert image.array[0, 2, 1] == 9


def test_16_bit_png_keeps_its_values(tmp_path):
    values = np.array([[0, 1, 300], [4000, 50000, 65535]], dtype=np.uint16)
    sitk.WriteImage(sitk.GetImageFromArray(values), str(tmp_path / "deep.png"))
    image = read_image(tmp_path / "deep.png")
    assert image.array.dtype == np.uint16
    np.testing.assert_array_equal(image.array[0], values)


def test_float_tiff_round_trips(tmp_path):
    values = np.array([[0.25, -1.5, 3.0e6]], dtype=np.float32)
    image = read_image(write_image(Image.from_spacing(values), tmp_path / "f.tif"))
    assert image.array.dtype == np.float32
    np.testing.assert_array_equal(image.array[0], values)


def test_png_of_a_float_image_is_rescaled_to_0_255(tmp_path):
    image = Image.from_spacing(np.array([[-1.0, 0.0, 3.0]], dtype=np.float32))
    np.testing.assert_array_equal(read_image(write_image(image, tmp_path / "f.png")).array[0], [[0, 64, 255]])


def test_png_of_a_label_map_keeps_class_numbers(tmp_path):
    label = Image.from_spacing(np.array([[0, 1, 3, 700]], dtype=np.int64), meta={"label": True})
    written = read_image(write_image(label, tmp_path / "l.png"))
    assert written.array.dtype == np.uint16
    np.testing.assert_array_equal(written.array[0], [[0, 1, 3, 700]])


def test_jpeg_refuses_label_maps(tmp_path):
    label = Image.from_spacing(np.zeros((3, 3), np.uint8), meta={"label": True})
    with pytest.raises(InputError, match="label map.*JPEG"):
        write_image(label, tmp_path / "l.jpg")
    assert not (tmp_path / "l.jpg").exists()


def test_jpeg_of_a_photograph_is_written(tmp_path):
    image = read_image(write_image(Image.from_spacing(np.full((8, 8), 128, np.uint8)), tmp_path / "p.jpeg"))
    assert image.shape == (1, 8, 8) and abs(int(image.array.mean()) - 128) <= 1


def test_volume_to_png_asks_for_a_slice_or_a_volume_format(tmp_path):
    with pytest.raises(InputError, match=r"v.png.*3 slices.*pick a slice.*\.nii\.gz"):
        write_image(Image.from_spacing(np.zeros((3, 4, 4), np.uint8)), tmp_path / "v.png")


# --- ITK volume formats ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nrrd", ".nhdr", ".mha", ".mhd"])
def test_volume_formats_round_trip_data_and_geometry(tmp_path, suffix):
    source = read_image(NIB_DATA / "example4d.nii.gz", frame=0)
    back = read_image(write_image(source, tmp_path / f"v{suffix}"))
    np.testing.assert_array_equal(back.array, source.array)
    np.testing.assert_allclose(back.affine, source.affine, atol=1e-4)


def test_header_and_data_file_formats_leave_no_temporary_files(tmp_path):
    write_image(Image.from_spacing(np.zeros((2, 3, 4), np.int16)), tmp_path / "v.mhd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mhd", "v.zraw"]


def test_4d_nrrd_frame_is_read_alone(tmp_path):
    series = np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5)  # (T, Z, Y, X)
    sitk.WriteImage(sitk.GetImageFromArray(series, isVector=False), str(tmp_path / "t.nrrd"))
    with pytest.raises(InputError, match="2 frames"):
        read_image(tmp_path / "t.nrrd")
    np.testing.assert_array_equal(read_image(tmp_path / "t.nrrd", frame=1).array, series[1])


# --- DICOM -------------------------------------------------------------------------------------------------------


def test_single_dicom_file_is_read_with_its_geometry():
    image = read_image(NIB_DATA / "0.dcm")
    assert image.shape == (1, 256, 256) and image.array.dtype == np.uint16
    np.testing.assert_allclose(image.spacing[:2], (1.796875, 1.796875))


def test_dicom_series_folder_is_read_in_slice_order_with_its_geometry(tmp_path):
    volume = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    write_sitk_series(tmp_path / "ct", volume)
    image = read_image(tmp_path / "ct")
    np.testing.assert_array_equal(image.array, volume)
    np.testing.assert_allclose(image.spacing, (0.7, 0.8, 2.5), atol=1e-6)
    np.testing.assert_allclose(image.origin_lps, (10.0, -20.0, 30.0), atol=1e-6)


def test_folder_with_two_dicom_series_lists_them_and_asks_to_choose(tmp_path):
    first = write_sitk_series(tmp_path / "mixed", np.zeros((2, 4, 4), np.int16))
    second = write_sitk_series(tmp_path / "mixed", np.ones((3, 4, 4), np.int16))
    with pytest.raises(InputError, match="2 DICOM series") as error:
        read_image(tmp_path / "mixed")
    assert f"{first} (2 files)" in str(error.value) and f"{second} (3 files)" in str(error.value)
    assert "--series" in str(error.value)
    assert read_image(tmp_path / "mixed", series=second).shape == (3, 4, 4)


def test_unknown_series_uid_lists_the_series_present(tmp_path):
    uid = write_sitk_series(tmp_path / "ct", np.zeros((2, 4, 4), np.int16))
    with pytest.raises(InputError, match=f"no DICOM series 1.2.3.*{uid}"):
        read_image(tmp_path / "ct", series="1.2.3")


def test_folder_without_dicom_files_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="no DICOM series"):
        read_image(tmp_path)


def test_dicom_series_written_by_write_image_reads_back_exactly(tmp_path):
    volume = np.random.default_rng(0).integers(-1000, 2000, size=(4, 5, 6)).astype(np.int16)
    rotation = sitk.VersorTransform((0.3, 0.2, 0.9), 0.4).GetMatrix()
    affine = Image.affine_from_itk((0.7, 0.8, 2.5), (12.5, -33.25, 101.0), rotation)
    back = read_image(write_image(Image(volume, affine), tmp_path / "series"))
    np.testing.assert_array_equal(back.array, volume)
    np.testing.assert_allclose(back.affine, affine, atol=1e-4)


def test_real_valued_image_is_stored_in_dicom_within_its_quantisation_step(tmp_path):
    values = np.linspace(-2.5, 1000.0, 2 * 3 * 4).reshape(2, 3, 4)
    back = read_image(write_image(Image.from_spacing(values), tmp_path / "series/"))
    np.testing.assert_allclose(back.array, values, atol=1002.5 / 65534)


def test_one_slice_is_written_as_a_single_dicom_file(tmp_path):
    pixels = np.arange(12, dtype=np.uint16).reshape(1, 3, 4)
    back = read_image(write_image(Image.from_spacing(pixels, (0.5, 0.5, 2.0)), tmp_path / "slice.dcm"))
    np.testing.assert_array_equal(back.array, pixels)
    np.testing.assert_allclose(back.spacing[:2], (0.5, 0.5))


def test_single_dicom_file_refuses_a_volume(tmp_path):
    with pytest.raises(InputError, match="3 slices.*folder path"):
        write_image(Image.from_spacing(np.zeros((3, 2, 2), np.uint8)), tmp_path / "v.dcm")


def test_dicom_output_refuses_a_folder_holding_other_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="other than DICOM"):
        write_image(Image.from_spacing(np.zeros((2, 3, 3), np.uint8)), tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_dicom_series_output_replaces_an_earlier_series(tmp_path):
    write_image(Image.from_spacing(np.zeros((5, 3, 3), np.uint8)), tmp_path / "out")
    write_image(Image.from_spacing(np.ones((2, 3, 3), np.uint8)), tmp_path / "out")
    assert read_image(tmp_path / "out").shape == (2, 3, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- bad input ---------------------------------------------------------------------------------------------------


def _gz_of(path):
    return gzip.compress(Path(path).read_bytes())


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.nii.gz", None, "does not exist"),
        ("empty.nii.gz", b"", "is empty"),
        ("empty.png", b"", "is empty"),
        ("text.nii.gz", b"this is not an image\n", "cannot be read as NIfTI"),
        ("text.nii", b"this is not an image\n" * 30, "cannot be read as NIfTI"),
        ("truncated.nii.gz", _gz_of(NIB_DATA / "anatomical.nii")[:3000], "cannot be read as NIfTI"),
        ("truncated.nii", (NIB_DATA / "anatomical.nii").read_bytes()[:20000], "cannot be read as NIfTI"),
        ("text.png", b"this is not an image\n", "cannot be read as PNG"),
        ("text.nrrd", b"NRRD0004\nthis is not\n", "cannot be read as NRRD"),
        ("picture.bmp", b"BM", "unsupported file type '.bmp'"),
    ],
)
def test_bad_file_raises_input_error_naming_it(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message) as error:
        read_image(tmp_path / name)
    assert name in str(error.value) and "\n" not in str(error.value)


def test_nan_values_are_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.full((3, 3, 3), np.nan, np.float32), np.eye(4)), tmp_path / "nan.nii.gz")
    with pytest.raises(InputError, match="nan.nii.gz.*27 NaN"):
        read_image(tmp_path / "nan.nii.gz")


def test_infinite_values_are_refused(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.array([[1.0, np.inf]], np.float32)), str(tmp_path / "inf.mha"))
    with pytest.raises(InputError, match="inf.mha.*infinite"):
        read_image(tmp_path / "inf.mha")


def test_zero_sized_dimension_is_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((0, 3, 3), np.int16), np.eye(4)), tmp_path / "zero.nii.gz")
    with pytest.raises(InputError, match="zero.nii.gz.*empty dimension"):
        read_image(tmp_path / "zero.nii.gz")


def test_too_many_pixels_is_refused_from_the_png_header_before_decoding(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3000, 3000), np.uint8)), str(tmp_path / "big.png"), True)
    truncated = tmp_path / "big_header_only.png"
    truncated.write_bytes((tmp_path / "big.png").read_bytes()[:500])  # decoding this would fail
    with pytest.raises(InputError, match=r"big_header_only.png.*3000 x 3000 = 9,000,000 pixels.*limit of 1,000,000"):
        read_image(truncated, max_pixels=1_000_000)


def test_too_many_pixels_is_refused_from_the_nifti_header_before_decoding(tmp_path):
    header = nib.Nifti1Header()
    header.set_data_shape((1000, 1000, 1000))
    (tmp_path / "huge.nii").write_bytes(header.binaryblock + b"\0" * 4)  # declares 1 GB, holds none
    with pytest.raises(InputError, match=r"huge.nii.*1,000,000,000 pixels.*limit of 100,000,000"):
        read_image(tmp_path / "huge.nii")


def test_series_option_on_a_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        read_image(NIB_DATA / "anatomical.nii", series="1.2.3")


# --- names and folders -------------------------------------------------------------------------------------------


def test_read_info_reads_only_the_header():
    info = read_info(NIB_DATA / "example4d.nii.gz")
    assert (info.format, info.shape, info.frames, info.dtype) == ("NIfTI", (24, 96, 128), 2, np.dtype("int16"))


def test_supported_suffixes_are_recognised_case_insensitively():
    assert {".nii.gz", ".nrrd", ".mha", ".dcm", ".png", ".tiff"} <= set(SUPPORTED_SUFFIXES)
    assert is_supported("a/CASE.NII.GZ") and is_supported("x.JPG") and not is_supported("notes.txt")


def test_strip_suffix_treats_nii_gz_as_one_suffix():
    assert strip_suffix("data/patient001_frame01.nii.gz") == "patient001_frame01"


def test_list_images_sorts_naturally_and_skips_hidden_and_other_files(tmp_path):
    for name in ["img10.png", "img2.png", "img1.nii.gz", ".img3.tmp.png", "notes.txt", "slice.dcm"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["img1.nii.gz", "img2.png", "img10.png"]
