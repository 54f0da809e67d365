"""Plane geometry against nibabel: every reorientation of nibabel's own test image shows the same anatomy."""

import os

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import from_matvec
from nibabel.eulerangles import euler2mat
from nibabel.orientations import aff2axcodes, axcodes2ornt

from sra_seg_core.image import Image
from sra_seg_core.io import read_image
from sra_seg_core.planes import PLANES, acquisition_plane, plane_geometries

NIBABEL_DATA = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
ORIENTATIONS = [("L", "A", "S"), ("R", "A", "S"), ("P", "S", "R"), ("I", "L", "P"), ("A", "I", "L")]


def _canonical_view(canonical: np.ndarray, plane: str, index: int) -> np.ndarray:
    """The radiological view of a RAS+ (i, j, k) array from first principles: rows toward P/I, columns toward L/P."""
    if plane == "axial":  # canonical[:, :, s] is (R, A); rows must run A -> P, columns R -> L
        view = canonical[:, :, index].T
        return view[::-1, ::-1]
    if plane == "coronal":  # (R, S): rows S -> I, columns R -> L
        return canonical[:, index, :].T[::-1, ::-1]
    return canonical[index, :, :].T[::-1, ::-1]  # sagittal (A, S): rows S -> I, columns A -> P


def _reoriented(tmp_path, codes, oblique=False):
    """nibabel's anatomical.nii reoriented to ``codes`` (and optionally rotated a little), read by our reader."""
    img = nib.load(os.path.join(NIBABEL_DATA, "anatomical.nii"))
    img = img.as_reoriented(nib.orientations.ornt_transform(axcodes2ornt(aff2axcodes(img.affine)),
                                                             axcodes2ornt(codes)))
    if oblique:  # small rotations, as nibabel's make_moved_anat.py does: the nearest axes stay the same
        img = nib.Nifti1Image(np.asarray(img.dataobj), from_matvec(euler2mat(0.1, 0.2, 0.3), [3, 4, 5]) @ img.affine)
    path = tmp_path / f"{''.join(codes)}{'_oblique' if oblique else ''}.nii"
    nib.save(img, path)
    return path, img


@pytest.mark.parametrize("codes", ORIENTATIONS, ids="".join)
def test_every_reorientation_shows_the_same_anatomy(tmp_path, codes):
    path, img = _reoriented(tmp_path, codes)
    ours = read_image(path)
    canonical = np.asarray(nib.as_closest_canonical(img).dataobj)
    planes = plane_geometries(ours.affine, ours.shape)
    for name in PLANES:
        plane = planes[name]
        axis = {"axial": 2, "coronal": 1, "sagittal": 0}[name]
        for canonical_index in (0, canonical.shape[axis] // 2):
            # canonical index counts toward +R/A/S; our slice index counts along the stored axis, either way
            ras_index = canonical_index
            index = ras_index if not _reversed_normal(ours.affine, plane) else plane.depth - 1 - ras_index
            np.testing.assert_array_equal(plane.slice(ours.array, index), _canonical_view(canonical, name, ras_index))


def _reversed_normal(affine, plane):
    column = affine[:3, 2 - plane.normal]
    return column[np.argmax(np.abs(column))] < 0


@pytest.mark.parametrize("oblique", [False, True], ids=["aligned", "oblique"])
@pytest.mark.parametrize("codes", ORIENTATIONS, ids="".join)
def test_markers_are_the_radiological_ones(tmp_path, codes, oblique):
    path, _ = _reoriented(tmp_path, codes, oblique)
    ours = read_image(path)
    planes = plane_geometries(ours.affine, ours.shape)
    expected = {"axial": "APRL", "coronal": "SIRL", "sagittal": "SIAP"}
    for name, plane in planes.items():
        m = plane.markers
        assert m["top"] + m["bottom"] + m["left"] + m["right"] == expected[name]


@pytest.mark.parametrize("codes", ORIENTATIONS, ids="".join)
def test_normal_axis_is_the_one_nibabel_names(tmp_path, codes):
    path, img = _reoriented(tmp_path, codes, oblique=True)
    planes = plane_geometries(read_image(path).affine, img.shape)
    axcodes = aff2axcodes(img.affine)  # per voxel axis i, j, k
    for name, letters in (("axial", "SI"), ("coronal", "AP"), ("sagittal", "RL")):
        assert axcodes[2 - planes[name].normal] in letters


def test_pixel_size_gives_the_true_aspect_of_thick_slices():
    image = Image.from_spacing(np.zeros((10, 64, 48)), spacing=(1.25, 1.5, 8.0))
    planes = plane_geometries(image.affine, image.shape)
    assert planes["axial"].pixel_mm == (1.5, 1.25) and planes["axial"].shape == (64, 48)
    assert planes["coronal"].pixel_mm == (8.0, 1.25) and planes["coronal"].shape == (10, 48)
    assert planes["sagittal"].pixel_mm == (8.0, 1.5) and planes["sagittal"].shape == (10, 64)


def test_acquisition_plane_is_the_stored_slices():
    image = Image.from_spacing(np.zeros((4, 5, 6)))
    assert acquisition_plane(plane_geometries(image.affine, image.shape)) == "axial"
    coronal_stack = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1.0]])  # k runs anterior
    assert acquisition_plane(plane_geometries(coronal_stack, (4, 5, 6))) == "coronal"


@pytest.mark.parametrize("codes", ORIENTATIONS, ids="".join)
def test_voxel_and_locate_are_inverse(tmp_path, codes):
    path, _ = _reoriented(tmp_path, codes)
    ours = read_image(path)
    for plane in plane_geometries(ours.affine, ours.shape).values():
        zyx = (3, 7, 5)
        index, row, col = plane.locate(zyx)
        assert plane.voxel(index, row, col) == zyx
        assert plane.slice(ours.array, index)[row, col] == ours.array[zyx]


def test_a_picture_can_be_shown_as_stored():
    image = Image(np.arange(12).reshape(1, 3, 4))  # a PNG: identity affine
    planes = plane_geometries(image.affine, image.shape, stored=True)
    np.testing.assert_array_equal(planes["axial"].slice(image.array, 0), image.array[0])
    assert planes["axial"].shape == (3, 4) and planes["coronal"].shape == (1, 4) and planes["sagittal"].shape == (1, 3)


@pytest.mark.parametrize("codes", ORIENTATIONS, ids="".join)
def test_the_centre_of_a_shown_pixel_is_the_voxel_centre(tmp_path, codes):
    path, _ = _reoriented(tmp_path, codes)
    ours = read_image(path)
    for plane in plane_geometries(ours.affine, ours.shape).values():
        assert plane.position(2, 3.5, 4.5) == tuple(float(v) for v in plane.voxel(2, 3, 4))


def test_stored_planes_show_the_painted_slice_as_stored_and_keep_names_and_markers_from_the_affine():
    coronal_stack = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1.0]])  # k runs anterior
    volume = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    planes = plane_geometries(coronal_stack, volume.shape, stored=True)
    assert acquisition_plane(planes) == "coronal"
    np.testing.assert_array_equal(planes["coronal"].slice(volume, 2), volume[2])  # row 0 on top, no flips
    # row index j runs superior on this affine, so the stored top row is inferior
    assert planes["coronal"].markers == {"top": "I", "bottom": "S", "left": "L", "right": "R"}


def test_a_double_oblique_short_axis_scan_gets_four_different_letters_in_every_plane():
    # the cardiac phantom's affine: both in-plane axes and the slice axis lie ~45 degrees from R (a short-axis scan)
    from sra_seg_core.phantoms import cardiac_case

    image, _ = cardiac_case(7, shape=(4, 40, 48))
    for stored in (False, True):
        planes = plane_geometries(image.affine, image.array.shape, stored=stored)
        for name, plane in planes.items():
            letters = [plane.markers[edge] for edge in ("top", "bottom", "left", "right")]
            assert len(set(letters)) == 4, (name, stored, plane.markers)
        assert planes["coronal"].markers["top"] + planes["coronal"].markers["bottom"] in ("SI", "IS")
