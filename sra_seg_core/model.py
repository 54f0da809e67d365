"""The reference 2-D U-Net (SSL4MIS / BCP ``UNet``), returning logits and the bottleneck feature map.

Encoder channels 16-32-64-128-256 with dropout 0.05/0.1/0.2/0.3/0.5 per level, each level two 3x3 convs with
BatchNorm + LeakyReLU (dropout between them), max-pool down; decoder: 1x1 conv, bilinear x2 upsampling
(align_corners=True), concatenation with the skip, two 3x3 convs; a 3x3 output conv. At 256x256 input the bottleneck is
(256, 16, 16), the same grid as DINOv2's patch tokens at 224 — which the alignment loss relies on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _PlainLayoutWeightGrad(torch.autograd.Function):
    """A convolution whose weight gradient is computed from plain (NCHW) copies of its input and output gradient.

    On the CPU, oneDNN's channels-last forward and input-gradient kernels are its fastest, but its AVX2 weight-gradient
    kernel for channels-last data is 2-3x slower than the one for plain data at this U-Net's 16-64 channels; the
    copies cost less than that (benchmarks/speed.py). Same maths as ``F.conv2d``; the sums run in another order.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(x, weight)
        ctx.geometry = (list(stride), list(padding), list(dilation), False, [0, 0], groups)
        ctx.bias_sizes = None if bias is None else list(bias.shape)
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        backward = torch.ops.aten.convolution_backward
        grad_x = grad_w = grad_b = None
        if need_x:
            grad_x = backward(grad, x, weight, None, *ctx.geometry, [True, False, False])[0]
        if need_w or need_b:
            _, grad_w, grad_b = backward(grad.contiguous(), x.contiguous(), weight.contiguous(), ctx.bias_sizes,
                                         *ctx.geometry, [False, need_w, need_b])
            if grad_w is not None:
                grad_w = grad_w.contiguous(memory_format=torch.channels_last)
        return grad_x, grad_w, grad_b, None, None, None, None


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state dict) that trains faster channels-last on the CPU; see
    :class:`_PlainLayoutWeightGrad`. Everywhere else — CUDA, plain layout, no gradient, torch.compile — it is
    ``nn.Conv2d``."""

    def _conv_forward(self, input, weight, bias):
        if (input.device.type == "cpu" and weight.requires_grad and torch.is_grad_enabled()
                and self.padding_mode == "zeros" and not isinstance(self.padding, str) and self.kernel_size != (1, 1)
                and weight.is_contiguous(memory_format=torch.channels_last) and not torch.compiler.is_compiling()):
            return _PlainLayoutWeightGrad.apply(input, weight, bias, self.stride, self.padding, self.dilation,
                                                self.groups)
        return super()._conv_forward(input, weight, bias)


class ConvBlock(nn.Sequential):
    # In-place LeakyReLU: BatchNorm's backward needs its input, not its output, so the activation can overwrite it
    # (one activation-sized buffer less per layer, less memory traffic).
    def __init__(self, cin: int, cout: int, dropout: float):
        super().__init__(
            Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(inplace=True),
            nn.Dropout(dropout),
            Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(inplace=True),
        )


class UpBlock(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.conv1x1 = nn.Conv2d(cin, cskip, 1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = ConvBlock(2 * cskip, cout, 0.0)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(self.conv1x1(x))], dim=1))


class UNet(nn.Module):
    """``forward(x (B, in, H, W)) -> (logits (B, K, H, W), bottleneck (B, C5, H/16, W/16))``; H, W multiples of 16."""

    def __init__(self, in_channels: int = 1, num_classes: int = 4,
                 channels=(16, 32, 64, 128, 256), dropout=(0.05, 0.1, 0.2, 0.3, 0.5)):
        super().__init__()
        c, p = list(channels), list(dropout)
        self.num_classes = num_classes
        self.bottleneck_channels = c[4]
        self.inc = ConvBlock(in_channels, c[0], p[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), ConvBlock(c[i], c[i + 1], p[i + 1])) for i in range(4)
        )
        self.ups = nn.ModuleList(UpBlock(c[i + 1], c[i], c[i]) for i in reversed(range(4)))
        self.out_conv = Conv2d(c[0], num_classes, 3, padding=1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of the five encoder levels, finest first; the last is the bottleneck."""
        features = [self.inc(x)]
        for down in self.downs:
            features.append(down(features[-1]))
        return features

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for up, skip in zip(self.ups, reversed(features[:-1])):
            x = up(x, skip)
        return self.out_conv(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encode(x)
        return self.decode(features), features[-1]


def build_model(config, num_classes: int) -> UNet:
    """The U-Net described by a :class:`~sra_seg_core.config.ModelConfig`."""
    return UNet(config.in_channels, num_classes, config.channels, config.dropout)
