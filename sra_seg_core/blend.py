"""Soft edge blending: the mixing of SRA-Seg (and, with ``hard=True``, BCP's copy-paste).

A mask ``m`` is 1 everywhere except a zero box of floor(f*H) x floor(f*W) (f = 2/3) at a random position; the blending
weight is ``alpha = smooth(m)`` — a 5x5 Gaussian (sigma 1) for ACDC or a 7x7 box filter for FIVES, both with zero
padding as in the released code, so alpha also dips slightly at the image border. Images *and* labels are blended with
the same alpha, so the targets are continuous::

    x1 = S_a * alpha + R_a * (1 - alpha),   y1 = P_a * alpha + Y_a * (1 - alpha)
    x2 = R_b * alpha + S_b * (1 - alpha),   y2 = Y_b * alpha + P_b * (1 - alpha)

(S synthetic, R real, Y one-hot labels, P one-hot pseudo-labels). Everything is batched tensors on the training
device; the app's blend preview calls these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def box_mask(batch: int, height: int, width: int, *, hole_fraction: float = 2 / 3, per_sample: bool = False,
             corner_inclusive: bool = False, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """The binary mask m: (B, 1, H, W) float32, 1 outside a zero box of floor(f*H) x floor(f*W).

    The box's top-left corner is uniform in [0, H - h) x [0, W - w) (the released FIVES code's
    ``np.random.randint(0, H - h)``), or with ``corner_inclusive`` in [0, H - h] x [0, W - w] (the released ACDC code's
    ``torch.randint(0, H - h + 1)``; the reference protocol's default). With ``per_sample=False`` (the reference) one
    box is drawn and shared by the whole batch.
    """
    device = generator.device if generator is not None and device is None else device
    h, w = int(height * hole_fraction), int(width * hole_fraction)
    n = batch if per_sample else 1
    extra = 1 if corner_inclusive else 0
    top = torch.randint(0, max(height - h + extra, 1), (n,), generator=generator, device=device)
    left = torch.randint(0, max(width - w + extra, 1), (n,), generator=generator, device=device)
    rows = torch.arange(height, device=device)[None, :, None]
    cols = torch.arange(width, device=device)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + h)
              & (cols >= left[:, None, None]) & (cols < left[:, None, None] + w))
    mask = (~inside).float()[:, None]
    return mask.expand(batch, 1, height, width) if not per_sample else mask


def smoothing_kernel(kind: str = "gaussian", size: int = 5, sigma: float = 1.0, device=None) -> torch.Tensor:
    """A normalised (1, 1, size, size) float32 kernel: ``gaussian`` (sigma in pixels) or ``box``."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 1, got {size}")
    if kind == "box":
        kernel = torch.ones(size, size, device=device)
    elif kind == "gaussian":
        r = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
        g = torch.exp(-(r**2) / (2 * sigma**2))
        kernel = g[:, None] * g[None, :]
    else:
        raise ValueError(f"unknown smoothing kind {kind!r} (gaussian, box or none)")
    return (kernel / kernel.sum())[None, None]


def smooth_mask(mask: torch.Tensor, kind: str = "gaussian", size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    """alpha = mask convolved with the kernel, zero padding; ``kind='none'`` returns the mask (hard blending)."""
    if kind == "none" or size == 1:
        return mask
    kernel = smoothing_kernel(kind, size, sigma, device=mask.device).to(mask.dtype)
    return F.conv2d(mask, kernel, padding=size // 2)


def blend_alpha(batch: int, height: int, width: int, config=None, *, generator: torch.Generator | None = None,
                device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, m), each (B, 1, H, W), from a :class:`~sra_seg_core.config.BlendConfig` (defaults: ACDC)."""
    from sra_seg_core.config import BlendConfig

    c = config or BlendConfig()
    m = box_mask(batch, height, width, hole_fraction=c.hole_fraction, per_sample=c.per_sample,
                 corner_inclusive=bool(c.corner_inclusive), generator=generator, device=device)
    alpha = m if c.hard else smooth_mask(m, c.smoothing, c.kernel_size, c.sigma)
    return alpha, m


def mix(a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """a * alpha + b * (1 - alpha), for images (B, 1, H, W) or one-hot / soft labels (B, K, H, W)."""
    return a * alpha + b * (1 - alpha)


def one_hot(labels: torch.Tensor, num_classes: int, dtype=torch.float32) -> torch.Tensor:
    """(B, H, W) integer class indices -> (B, K, H, W) one-hot (values outside 0..K-1 give an all-zero pixel).

    A comparison with the class indices rather than ``F.one_hot``, which reads the labels' minimum and maximum back
    to the host to check them on every device but CUDA; same values and the same (channels-last) memory layout.
    """
    classes = torch.arange(num_classes, device=labels.device)
    return (labels.long()[..., None] == classes).permute(0, 3, 1, 2).to(dtype)


@dataclass
class MixedPair:
    """The two bidirectionally mixed inputs with their soft targets and the weight map that made them."""

    x1: torch.Tensor      # (B, 1, H, W): synthetic outside the box, real inside
    y1: torch.Tensor      # (B, K, H, W)
    x2: torch.Tensor      # real outside, synthetic inside
    y2: torch.Tensor
    alpha: torch.Tensor   # (B, 1, H, W)


def bidirectional_mix(real_a, real_b, syn_a, syn_b, label_a, label_b, pseudo_a, pseudo_b,
                      alpha: torch.Tensor) -> MixedPair:
    """SRA-Seg's two mixing directions. Images (B, 1, H, W); labels and pseudo-labels one-hot (B, K, H, W)."""
    return MixedPair(
        x1=mix(syn_a, real_a, alpha), y1=mix(pseudo_a, label_a, alpha),
        x2=mix(real_b, syn_b, alpha), y2=mix(label_b, pseudo_b, alpha),
        alpha=alpha,
    )

