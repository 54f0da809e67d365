"""``sra-seg assist scribble`` and ``sra-seg assist propose``: the engine on files, geometry kept, inputs safe."""

import numpy as np
import pytest
import torch

from sra_seg_core.cli import main
from sra_seg_core.image import Image
from sra_seg_core.io import read_image, write_image
from sra_seg_core.model import UNet

AFFINE = np.array([[0.0, 1.4, 0, -80], [-1.4, 0, 0, 60], [0, 0, 8.0, -20], [0, 0, 0, 1]])


@pytest.fixture
def files(tmp_path):
    """A 3-slice image of a bright disc (NIfTI, oblique affine) and scribbles on slice 1: disc = 2, corner = 255."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    disc = np.hypot(yy - 24, xx - 24) < 10
    volume = np.stack([30 + 150 * disc + rng.normal(0, 3, disc.shape) for _ in range(3)]).astype(np.float32)
    scribbles = np.zeros(volume.shape, np.uint8)
    scribbles[1, 23:26, 23:26] = 2
    scribbles[1, 2:5, 2:5] = 255
    image = write_image(Image(volume, AFFINE), tmp_path / "img.nii.gz")
    marks = write_image(Image(scribbles, AFFINE, meta={"label": True}), tmp_path / "marks.nii.gz")
    return image, marks, disc


def _checkpoint(path):
    torch.manual_seed(0)
    model = UNet(1, 4, (4, 8, 16, 32, 64), (0.0,) * 5)
    torch.save({"model": model.state_dict(), "num_classes": 4, "image_size": 32,
                "model_config": {"in_channels": 1, "channels": [4, 8, 16, 32, 64], "dropout": [0.0] * 5}}, path)
    return path


def test_scribble_writes_the_full_label_map_with_the_images_geometry(files, tmp_path):
    image, marks, disc = files
    assert main(["assist", "scribble", "--image", str(image), "--scribbles", str(marks),
                 "--output", str(tmp_path / "out.nii.gz")]) == 0
    out = read_image(tmp_path / "out.nii.gz")
    np.testing.assert_allclose(out.affine, AFFINE, atol=1e-5)
    assert ((out.array[1] == 2) == disc).mean() > 0.98
    assert not out.array[[0, 2]].any()  # 2-D: only the scribbled slice


def test_scribble_in_3d_labels_every_slice(files, tmp_path):
    image, marks, disc = files
    assert main(["assist", "scribble", "--image", str(image), "--scribbles", str(marks), "--3d",
                 "--output", str(tmp_path / "out.nii.gz")]) == 0
    out = read_image(tmp_path / "out.nii.gz").array
    assert all(((out[z] == 2) == disc).mean() > 0.95 for z in range(3))


def test_scribble_refuses_to_overwrite_its_input(files, capsys):
    image, marks, _ = files
    before = marks.read_bytes()
    assert main(["assist", "scribble", "--image", str(image), "--scribbles", str(marks),
                 "--output", str(marks)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "never overwritten" in err[0]
    assert marks.read_bytes() == before


def test_scribbles_on_another_grid_are_one_error_line(files, tmp_path, capsys):
    image, _, _ = files
    other = write_image(Image(np.zeros((3, 40, 48), np.uint8), AFFINE, meta={"label": True}), tmp_path / "o.nii.gz")
    assert main(["assist", "scribble", "--image", str(image), "--scribbles", str(other),
                 "--output", str(tmp_path / "out.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "o.nii.gz" in err and "shape" in err


def test_empty_scribbles_say_what_to_mark(files, tmp_path, capsys):
    image, _, _ = files
    empty = write_image(Image(np.zeros((3, 48, 48), np.uint8), AFFINE, meta={"label": True}), tmp_path / "e.nii.gz")
    assert main(["assist", "scribble", "--image", str(image), "--scribbles", str(empty),
                 "--output", str(tmp_path / "out.nii.gz")]) == 2
    assert "no scribbles" in capsys.readouterr().err


def test_propose_one_slice_fills_only_that_slice_and_writes_the_uncertainty(files, tmp_path):
    image, _, _ = files
    ckpt = _checkpoint(tmp_path / "c.pt")
    assert main(["assist", "propose", "--checkpoint", str(ckpt), "--image", str(image), "--slice", "1",
                 "--device", "cpu", "--output", str(tmp_path / "p.nii.gz"),
                 "--uncertainty", str(tmp_path / "u.nii.gz")]) == 0
    labels, uncertainty = read_image(tmp_path / "p.nii.gz"), read_image(tmp_path / "u.nii.gz")
    np.testing.assert_allclose(labels.affine, AFFINE, atol=1e-5)
    assert labels.shape == (3, 48, 48) and labels.array.max() <= 3
    assert not uncertainty.array[[0, 2]].any() and uncertainty.array[1].max() > 0


def test_propose_a_slice_outside_the_image_is_one_error_line(files, tmp_path, capsys):
    image, _, _ = files
    ckpt = _checkpoint(tmp_path / "c.pt")
    assert main(["assist", "propose", "--checkpoint", str(ckpt), "--image", str(image), "--slice", "3",
                 "--device", "cpu", "--output", str(tmp_path / "p.nii.gz")]) == 2
    assert "outside" in capsys.readouterr().err


def test_propose_without_a_checkpoint_is_one_error_line(files, tmp_path, capsys):
    image, _, _ = files
    assert main(["assist", "propose", "--checkpoint", str(tmp_path / "none.pt"), "--image", str(image),
                 "--output", str(tmp_path / "p.nii.gz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.pt" in err[0] and "not found" in err[0]
