"""Label maps: class numbers are validated on read, kept integer, and must lie on their image's voxel grid."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io import read_image, read_label, write_image

AFFINE = np.diag([0.8, 0.8, 5.0, 1.0])


def save_nifti(path, array_ijk, affine=AFFINE):
    nib.save(nib.Nifti1Image(array_ijk, affine), path)
    return path


def save_png(path, pixels):
    sitk.WriteImage(sitk.GetImageFromArray(pixels, isVector=pixels.ndim == 3), str(path))
    return path


def test_label_map_is_unsigned_integer_and_marked_as_label(tmp_path):
    path = save_nifti(tmp_path / "gt.nii.gz", np.array([[[0, 1], [2, 3]]], dtype=np.int32))
    label = read_label(path)
    assert label.array.dtype == np.uint8 and label.meta["label"] is True
    np.testing.assert_array_equal(np.unique(label.array), [0, 1, 2, 3])


def test_whole_float_values_become_integers(tmp_path):
    path = save_nifti(tmp_path / "gt.nii.gz", np.array([[[0.0, 1.0], [2.0, 3.0]]], dtype=np.float32))
    assert read_label(path).array.dtype == np.uint8


def test_more_than_256_classes_use_uint16(tmp_path):
    path = save_nifti(tmp_path / "gt.nii.gz", np.array([[[0, 300]]], dtype=np.int32))
    assert read_label(path).array.dtype == np.uint16


def test_fractional_values_are_refused_and_shown(tmp_path):
    path = save_nifti(tmp_path / "soft.nii.gz", np.array([[[0.0, 0.5], [1.0, 0.25]]], dtype=np.float32))
    with pytest.raises(InputError, match=r"soft.nii.gz.*fractional values \(0.25, 0.5\)"):
        read_label(path)


def test_negative_values_are_refused_with_the_allowed_range(tmp_path):
    path = save_nifti(tmp_path / "neg.nii.gz", np.array([[[0, -1], [2, 1]]], dtype=np.int16))
    with pytest.raises(InputError, match=r"neg.nii.gz.*values -1 outside the allowed range 0 or more"):
        read_label(path)


def test_values_at_or_above_num_classes_are_refused_naming_them_and_the_range(tmp_path):
    path = save_nifti(tmp_path / "gt.nii.gz", np.array([[[0, 1], [4, 7]]], dtype=np.uint8))
    with pytest.raises(InputError, match=r"gt.nii.gz.*values 4, 7 outside the allowed range 0 to 3 \(num_classes = 4"):
        read_label(path, num_classes=4)
    assert read_label(path, num_classes=8).array.max() == 7


def test_shape_mismatch_with_the_reference_names_both_shapes(tmp_path):
    path = save_nifti(tmp_path / "gt.nii.gz", np.zeros((4, 3, 2), np.uint8))
    image = Image(np.zeros((2, 3, 5)), AFFINE, source=tmp_path / "img.nii.gz")
    with pytest.raises(InputError, match=r"gt.nii.gz.*shape \(2, 3, 4\).*shape \(2, 3, 5\) of the image .*img.nii.gz"):
        read_label(path, reference=image)


def test_geometry_mismatch_with_the_reference_is_explained(tmp_path):
    shifted = AFFINE.copy()
    shifted[:3, 3] = (0.0, 0.0, 10.0)
    path = save_nifti(tmp_path / "gt.nii.gz", np.zeros((4, 3, 2), np.uint8), shifted)
    image = Image(np.zeros((2, 3, 4)), AFFINE)
    with pytest.raises(InputError, match=r"gt.nii.gz.*different voxel grid.*origin \(LPS\) \(0, 0, 10\) vs \(0, 0, 0"):
        read_label(path, reference=image)


def test_label_on_the_reference_grid_takes_its_exact_affine(tmp_path):
    nearly = AFFINE.copy()
    nearly[0, 3] = 1e-5
    path = save_nifti(tmp_path / "gt.nii.gz", np.zeros((4, 3, 2), np.uint8), nearly)
    image = Image(np.zeros((2, 3, 4)), AFFINE)
    np.testing.assert_array_equal(read_label(path, reference=image).affine, AFFINE)


def test_png_label_for_a_png_image_is_matched_by_shape_only(tmp_path):
    image = read_image(save_png(tmp_path / "img.png", np.zeros((4, 5), np.uint8)))
    image.affine[:3, 3] = (100.0, 0.0, 0.0)  # pictures have no patient position to compare
    label = read_label(save_png(tmp_path / "mask.png", np.ones((4, 5), np.uint8)), reference=image)
    assert label.shape == image.shape


def test_binarize_turns_a_0_255_mask_into_0_1(tmp_path):
    path = save_png(tmp_path / "vessels.png", np.array([[0, 255], [255, 0]], np.uint8))
    label = read_label(path, binarize=True)
    np.testing.assert_array_equal(label.array[0], [[0, 1], [1, 0]])
    assert label.array.dtype == np.uint8


def test_binarize_accepts_a_mask_that_is_already_0_1(tmp_path):
    path = save_png(tmp_path / "vessels.png", np.array([[0, 1], [1, 0]], np.uint8))
    np.testing.assert_array_equal(read_label(path, binarize=True).array[0], [[0, 1], [1, 0]])


def test_binarize_refuses_other_values(tmp_path):
    path = save_png(tmp_path / "soft.png", np.array([[0, 128], [255, 0]], np.uint8))
    with pytest.raises(InputError, match=r"soft.png.*0 and 255.*found 0, 128, 255"):
        read_label(path, binarize=True)


def test_grey_mask_saved_as_rgb_is_read(tmp_path):
    grey = np.array([[0, 2], [1, 0]], np.uint8)
    path = save_png(tmp_path / "mask.png", np.stack([grey] * 3, axis=-1))
    np.testing.assert_array_equal(read_label(path).array[0], grey)


def test_colour_coded_mask_is_refused(tmp_path):
    path = save_png(tmp_path / "mask.png", np.array([[[255, 0, 0], [0, 255, 0]]], np.uint8))
    with pytest.raises(InputError, match="mask.png.*colour image whose channels differ"):
        read_label(path)


def test_4d_label_needs_a_frame_like_an_image(tmp_path):
    path = save_nifti(tmp_path / "gt_4d.nii.gz", np.zeros((2, 2, 2, 3), np.uint8))
    with pytest.raises(InputError, match="3 frames"):
        read_label(path)
    assert read_label(path, frame=2).shape == (2, 2, 2)


def test_label_written_as_png_and_read_back_is_unchanged(tmp_path):
    label = read_label(save_nifti(tmp_path / "gt.nii.gz", np.array([[[0], [3]], [[1], [2]]], dtype=np.int16)))
    back = read_label(write_image(label, tmp_path / "gt.png"), num_classes=4)
    np.testing.assert_array_equal(back.array, label.array)


def test_label_survives_a_dicom_series_exactly(tmp_path):
    label = read_label(save_nifti(tmp_path / "gt.nii.gz", np.arange(24, dtype=np.uint8).reshape(2, 3, 4) % 4))
    back = read_label(write_image(label, Path(tmp_path) / "gt_dicom"))
    np.testing.assert_array_equal(back.array, label.array)
