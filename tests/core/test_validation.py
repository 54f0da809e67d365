"""Validation on the device gives today's numbers: the per-volume predict_volume + dice_score loop."""

import numpy as np
import pytest
import torch

from sra_seg_core.inference import predict_volume
from sra_seg_core.metrics import dice_score
from sra_seg_core.model import UNet
from sra_seg_core.phantoms import cardiac_case
from sra_seg_core.trainer import ValVolume
from sra_seg_core.validation import DeviceValidation


def volumes():
    out = []
    for seed, shape in ((1, (3, 40, 48)), (2, (4, 64, 64)), (3, (2, 56, 40))):
        image, label = cardiac_case(seed, shape=shape)
        a = image.array.astype(np.float32)
        out.append(ValVolume(str(seed), (a - a.min()) / (a.max() - a.min()), label.array.astype(np.uint8)))
    return out


def per_volume_loop(model, vols, size, k):
    per_class = np.zeros(k - 1)
    for vol in vols:
        pred = predict_volume(model, vol.image, size=size, device=torch.device("cpu"))
        for c in range(1, k):
            per_class[c - 1] += dice_score(pred == c, vol.label == c)
    return per_class / len(vols)


@pytest.mark.parametrize("batch_size", [3, 16])  # 3: batches that straddle volumes
def test_device_validation_equals_the_per_volume_loop(batch_size):
    torch.manual_seed(0)
    model = UNet(1, 4, channels=(4, 8, 8, 8, 8))
    with torch.no_grad():  # a model that predicts some of every class, so no Dice is trivially 0
        model.out_conv.bias.copy_(torch.tensor([0.0, 0.05, 0.1, 0.0]))
    vols = volumes()
    expected = per_volume_loop(model, vols, 32, 4)
    got = DeviceValidation(vols, size=32, num_classes=4, device=torch.device("cpu")).dice(model,
                                                                                         batch_size=batch_size)
    assert got.tolist() == expected.tolist()
    assert model.training  # handed back in the mode it came in


def test_device_validation_scores_a_perfect_prediction_one():
    class Oracle(torch.nn.Module):
        def __init__(self, labels):
            super().__init__()
            self.labels = labels

        def forward(self, x):
            return torch.nn.functional.one_hot(self.labels, 4).permute(0, 3, 1, 2).float() * 10, None

    vol = volumes()[1]  # 64 x 64: predicted at its own size, so nearest resizing is the identity
    labels = torch.from_numpy(vol.label).long()
    got = DeviceValidation([vol], size=64, num_classes=4, device=torch.device("cpu")).dice(Oracle(labels))
    present = [c for c in range(1, 4) if (vol.label == c).any()]
    assert all(got[c - 1] == 1.0 for c in present)
