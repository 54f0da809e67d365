"""Geometry survives every conversion: each voxel keeps its value at the same world position."""

import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io import read_image, write_image

NIB_DATA = Path(nib.__file__).parent / "tests" / "data"
# DICOM stores positions and directions as 16-character decimal strings
DICOM_ATOL_MM = 1e-4


def assert_same_voxels_in_world(expected: Image, actual: Image, atol: float = 1e-4, value_atol: float = 0.0) -> None:
    """Every voxel of ``actual`` sits (within ``atol`` voxels) on a voxel of ``expected`` with the same value (within
    ``value_atol``), whatever the axis order or direction of either (DICOM may flip the slice order)."""
    k, j, i = np.indices(actual.shape).reshape(3, -1)
    world = actual.world(np.stack([i, j, k], axis=-1))
    inverse = np.linalg.inv(expected.affine)
    ijk = world @ inverse[:3, :3].T + inverse[:3, 3]
    assert np.abs(ijk - np.rint(ijk)).max() < atol
    index = np.rint(ijk).astype(int)
    expected_values = expected.array[index[:, 2], index[:, 1], index[:, 0]]
    np.testing.assert_allclose(actual.array.ravel(), expected_values, rtol=0, atol=value_atol)


def voxel_world(image: Image, ijk=(5, 7, 3)) -> np.ndarray:
    return image.world(ijk)


@pytest.mark.parametrize("via", ["v.nrrd", "v.nhdr", "v.mha", "v.mhd", "dicom/"])
@pytest.mark.parametrize(
    ("source", "frame"), [("example4d.nii.gz", 0), ("reoriented_anat_moved.nii", None), ("anatomical.nii", None)]
)
def test_nifti_to_other_format_and_back_keeps_every_voxel_in_place(tmp_path, via, source, frame):
    original = read_image(NIB_DATA / source, frame=frame)
    middle = read_image(write_image(original, str(tmp_path / via)))
    final = read_image(write_image(middle, tmp_path / "back.nii.gz"))
    quantised = via.startswith("dicom") and original.array.dtype.kind == "f"  # DICOM stores 16-bit integers
    step = np.ptp(original.array) / 65534 if quantised else 0.0
    assert_same_voxels_in_world(original, final, value_atol=step)


@pytest.mark.parametrize("via", ["v.nrrd", "v.mha"])
def test_nifti_to_itk_format_and_back_keeps_the_affine(tmp_path, via):
    original = read_image(NIB_DATA / "example4d.nii.gz", frame=0)
    final = read_image(write_image(read_image(write_image(original, tmp_path / via)), tmp_path / "back.nii.gz"))
    np.testing.assert_allclose(final.affine, original.affine, atol=1e-4)
    np.testing.assert_array_equal(final.array, original.array)
    np.testing.assert_allclose(voxel_world(final), voxel_world(original), atol=1e-4)


def test_right_handed_volume_keeps_its_affine_through_dicom(tmp_path):
    # LPS-right-handed: a RAS affine with a negative determinant; flip i of a rotated volume to get one
    original = read_image(NIB_DATA / "example4d.nii.gz", frame=0)
    flipped = Image(original.array[:, :, ::-1].copy(), original.affine @ np.diag([-1.0, 1, 1, 1]))
    flipped.affine[:3, 3] = original.world((original.shape[2] - 1, 0, 0))
    final = read_image(write_image(read_image(write_image(flipped, tmp_path / "dicom")), tmp_path / "b.nii.gz"))
    np.testing.assert_allclose(final.affine, flipped.affine, atol=DICOM_ATOL_MM)
    np.testing.assert_array_equal(final.array, flipped.array)


def test_left_handed_volume_comes_back_from_dicom_with_slices_reversed_in_the_same_places(tmp_path):
    original = read_image(NIB_DATA / "example4d.nii.gz", frame=0)  # left-handed in LPS
    back = read_image(write_image(original, tmp_path / "dicom"))
    np.testing.assert_array_equal(back.array, original.array[::-1])
    np.testing.assert_allclose(voxel_world(back, (5, 7, 0)), voxel_world(original, (5, 7, 23)), atol=DICOM_ATOL_MM)


def test_png_to_nifti_to_png_keeps_pixel_values(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, size=(1, 6, 9)).astype(np.uint8)
    png = write_image(Image.from_spacing(pixels, (0.5, 0.25, 1.0)), tmp_path / "a.png")
    back = read_image(write_image(read_image(write_image(read_image(png), tmp_path / "a.nii.gz")), tmp_path / "b.png"))
    np.testing.assert_array_equal(back.array, pixels)
    np.testing.assert_allclose(back.spacing[:2], (0.5, 0.25), rtol=1e-6)


def test_label_written_with_reference_geometry_takes_the_reference_affine(tmp_path):
    image = read_image(NIB_DATA / "example4d.nii.gz", frame=0)
    label = Image.from_spacing(np.zeros(image.shape, np.uint8), meta={"label": True})
    written = read_image(write_image(label, tmp_path / "l.nii.gz", reference=image))
    np.testing.assert_allclose(written.affine, image.affine, atol=1e-6)


def test_reference_of_another_shape_is_refused(tmp_path):
    reference = Image.from_spacing(np.zeros((1, 2, 2)))
    with pytest.raises(InputError, match=r"shape \(1, 2, 2\) differs"):
        write_image(Image.from_spacing(np.zeros((2, 2, 2))), tmp_path / "l.nii.gz", reference=reference)


def _rotation(angles) -> np.ndarray:
    a, b, c = angles
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    return rz @ ry @ rx


shapes = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5))
volumes = st.one_of(
    shapes.flatmap(lambda s: arrays(np.int16, s)),
    shapes.flatmap(lambda s: arrays(np.float32, s, elements=st.floats(-1e6, 1e6, width=32))),
)
affines = st.builds(
    lambda angles, spacing, origin, flip: Image.affine_from_itk(spacing, origin, _rotation(angles) * [1, 1, flip]),
    st.tuples(*[st.floats(-np.pi, np.pi)] * 3),
    st.tuples(*[st.floats(0.1, 5.0)] * 3),
    st.tuples(*[st.floats(-300.0, 300.0)] * 3),
    st.sampled_from([1.0, -1.0]),
)


@settings(max_examples=40, deadline=None)
@given(array=volumes, affine=affines, suffix=st.sampled_from([".nii.gz", ".nii", ".nrrd"]))
def test_any_volume_and_affine_survive_write_then_read(array, affine, suffix):
    with tempfile.TemporaryDirectory() as folder:
        back = read_image(write_image(Image(array, affine), Path(folder) / f"v{suffix}"))
    assert back.array.dtype == array.dtype
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.affine, affine, atol=1e-4)
