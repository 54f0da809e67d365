"""The reference U-Net."""

import torch

from sra_seg_core.config import ModelConfig
from sra_seg_core.model import UNet, build_model


def test_forward_returns_logits_and_the_16x16x256_bottleneck_at_256():
    model = UNet(1, 4).eval()
    logits, bottleneck = model(torch.zeros(2, 1, 256, 256))
    assert logits.shape == (2, 4, 256, 256)
    assert bottleneck.shape == (2, 256, 16, 16)


def test_parameter_count_matches_the_ssl4mis_unet():
    # SSL4MIS / BCP UNet(in_chns=1, class_num=4) has 1 813 764 parameters
    assert sum(p.numel() for p in UNet(1, 4).parameters()) == 1_813_764


def test_encoder_dropout_per_level_as_configured():
    model = UNet(1, 2)
    rates = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates[:5] == [0.05, 0.1, 0.2, 0.3, 0.5]
    assert all(r == 0.0 for r in rates[5:])  # decoder blocks have none


def test_encode_then_decode_equals_forward():
    torch.manual_seed(0)
    model = UNet(1, 3, channels=(4, 8, 16, 32, 64)).eval()
    x = torch.rand(1, 1, 64, 64)
    assert torch.allclose(model.decode(model.encode(x)), model(x)[0])


def test_build_model_uses_the_config_channels():
    model = build_model(ModelConfig(channels=(4, 8, 16, 32, 64)), num_classes=2)
    assert model.bottleneck_channels == 64 and model.num_classes == 2
