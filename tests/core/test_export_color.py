"""PNG label export: a colour-mapped picture beside each raw class-index mask."""

import numpy as np
import SimpleITK as sitk

from sra_seg_core.export import colour_labels, export_project, hex_rgb
from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.project import Project


def test_colour_labels_paints_each_class_its_colour_on_black():
    labels = np.array([[0, 1], [3, 7]], np.uint8)
    rgb = colour_labels(labels, {1: (255, 0, 0), 3: (0, 0, 255)})
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 1].tolist() == [255, 0, 0]
    assert rgb[1, 0].tolist() == [0, 0, 255] and rgb[1, 1].tolist() == [0, 0, 0]  # no colour: black


def test_png_export_writes_raw_and_colour_masks(tmp_path):
    write_image(Image.from_spacing(np.zeros((2, 6, 5), np.int16)), tmp_path / "scan.nii.gz")
    labels = np.zeros((2, 6, 5), np.uint8)
    labels[1, 2:4, 1:3] = 2
    with Project.create(tmp_path / "proj") as project:
        case = project.import_image(tmp_path / "scan.nii.gz", case_id="c")
        project.save_label(case.id, labels)
        export_project(project, tmp_path / "out", png_masks=True, nifti=False, metrics_csv=False)
        myo = hex_rgb(project.classes[1].color)
    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out/png/c/c_z001.png")))
    colour = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out/png_color/c/c_z001.png")))
    np.testing.assert_array_equal(raw, labels[1])
    assert colour.shape == (6, 5, 3) and colour[2, 1].tolist() == list(myo) and colour[0, 0].tolist() == [0, 0, 0]
