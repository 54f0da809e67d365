"""Label surfaces: closed meshes in world mm that enclose the label's volume."""

import numpy as np
import pytest

from sra_seg_core.surface import label_mesh, label_meshes, mesh_volume_mm3


def _ball(shape=(20, 40, 40), radius=8.0):
    z, y, x = np.indices(shape)
    c = np.array(shape) / 2
    return ((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= radius**2).astype(np.uint8)


def test_mesh_encloses_the_label_volume_in_mm3():
    labels = _ball() * 2
    affine = np.diag([0.5, 0.75, 3.0, 1.0])
    mesh = label_mesh(labels, 2, affine)
    voxel_mm3 = 0.5 * 0.75 * 3.0
    assert mesh.label == 2 and mesh.faces.dtype == np.int32
    assert mesh_volume_mm3(mesh) == pytest.approx(np.count_nonzero(labels) * voxel_mm3, rel=0.1)


def test_vertices_lie_in_world_coordinates():
    labels = np.zeros((5, 6, 7), np.uint8)
    labels[2, 3, 4] = 1
    affine = np.array([[2.0, 0, 0, 100], [0, 3.0, 0, -50], [0, 0, 4.0, 7], [0, 0, 0, 1]])
    centre = label_mesh(labels, 1, affine).vertices.mean(axis=0)
    np.testing.assert_allclose(centre, [100 + 2 * 4, -50 + 3 * 3, 7 + 4 * 2], atol=1e-4)


def test_a_label_touching_the_array_edge_gives_a_closed_surface():
    labels = np.ones((3, 4, 5), np.uint8)
    assert mesh_volume_mm3(label_mesh(labels, 1, np.eye(4))) == pytest.approx(60, rel=0.15)


def test_step_and_smoothing_make_coarser_meshes():
    labels = _ball()
    full = label_mesh(labels, 1, np.eye(4))
    assert len(label_mesh(labels, 1, np.eye(4), step=2).faces) < len(full.faces)
    assert label_mesh(labels, 1, np.eye(4), smooth_sigma=1.0) is not None


def test_absent_classes_have_no_mesh():
    labels = _ball()
    assert label_mesh(labels, 3, np.eye(4)) is None
    assert set(label_meshes(labels, np.eye(4), values=[1, 2, 3])) == {1}
