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


def test_the_cpu_channels_last_convolution_has_nn_conv2d_gradients_and_state_dict():
    """model.Conv2d computes its weight gradient from plain-layout copies on the CPU (a faster oneDNN kernel); the
    values must be nn.Conv2d's, for input, weight and bias, in both memory layouts, and checkpoints interchangeable."""
    from sra_seg_core.model import Conv2d

    torch.manual_seed(0)
    ours, reference = Conv2d(5, 7, 3, padding=1), torch.nn.Conv2d(5, 7, 3, padding=1)
    reference.load_state_dict(ours.state_dict())
    assert list(ours.state_dict()) == list(reference.state_dict()) == ["weight", "bias"]
    for layout in (torch.channels_last, torch.contiguous_format):
        ours.to(memory_format=layout)
        reference.to(memory_format=layout)
        x = torch.randn(3, 5, 12, 10).contiguous(memory_format=layout)
        grad_out = torch.randn(3, 7, 12, 10)
        results = []
        for conv in (ours, reference):
            conv.zero_grad()
            xi = x.clone().requires_grad_(True)
            out = conv(xi)
            out.backward(grad_out)
            results.append((out.detach(), xi.grad, conv.weight.grad, conv.bias.grad))
        for mine, theirs in zip(*results):
            assert mine.shape == theirs.shape
            assert torch.allclose(mine, theirs, atol=1e-5, rtol=1e-4), layout
        if layout is torch.channels_last:  # the optimizer sees a gradient in the parameter's own layout
            assert ours.weight.grad.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():  # inference takes nn.Conv2d's path
        assert torch.allclose(ours(x), reference(x), atol=1e-6)
