"""Segmentation losses.

* :func:`soft_seg_loss` — SRA-Seg's loss for continuous (blended) targets: soft Dice + soft cross-entropy.
* :func:`bcp_mix_loss` — BCP's loss for hard copy-paste: Dice and CE computed separately inside and outside the box,
  the pseudo-labelled region weighted 0.5 (the baseline and the ``bcp`` method).
* :func:`consistency_loss` — the mean teacher's MSE between softmax outputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sra_seg_core.blend import one_hot

_CLAMP = 1e-6


def soft_dice_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """1 - mean over (sample, class) of 2 sum(p y) / (sum p + sum y + eps), background included.

    probs, target: (B, K, H, W) float, both already clamped to [1e-6, 1 - 1e-6].
    """
    inter = (probs * target).sum(dim=(2, 3))
    denom = probs.sum(dim=(2, 3)) + target.sum(dim=(2, 3))
    return 1 - (2 * inter / (denom + eps)).mean()


def soft_ce_loss(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-mean over pixels of sum_c y_c log p_c. probs, target (B, K, H, W), clamped."""
    return -(target * probs.log()).sum(dim=1).mean()


def soft_seg_loss(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """SRA-Seg's L = Dice + CE on soft targets. logits (B, K, H, W); target (B, K, H, W) in [0, 1] summing to 1.

    Computed in float32 whatever the autocast dtype. Returns (loss, {"dice": …, "ce": …}).
    """
    probs = logits.float().softmax(dim=1).clamp(_CLAMP, 1 - _CLAMP)
    target = target.float().clamp(_CLAMP, 1 - _CLAMP)
    dice, ce = soft_dice_loss(probs, target), soft_ce_loss(probs, target)
    return dice + ce, {"dice": dice, "ce": ce}


def _bcp_dice(probs: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BCP's masked Dice (squares in the denominator), averaged over classes including background."""
    target = one_hot(labels, probs.shape[1])
    m = mask[:, None]
    inter = (probs * target * m).sum(dim=(0, 2, 3))
    denom = (probs * probs * m).sum(dim=(0, 2, 3)) + (target * m).sum(dim=(0, 2, 3))
    return (1 - (2 * inter + 1e-10) / (denom + 1e-10)).mean()


def bcp_mix_loss(logits: torch.Tensor, outside_labels: torch.Tensor, inside_labels: torch.Tensor,
                 mask: torch.Tensor, *, outside_weight: float = 1.0,
                 inside_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """BCP ``mix_loss``: (Dice + CE) / 2, each the weighted sum of the term outside the box (mask = 1, labels
    ``outside_labels``) and inside it (mask = 0, ``inside_labels``).

    logits (B, K, H, W); labels (B, H, W) int64; mask (B, H, W) or (B, 1, H, W) in {0, 1}. The pseudo-labelled region
    gets weight 0.5 in BCP's stage 2 (``u_weight``), 1 in stage 1.
    """
    logits = logits.float()
    mask = mask.reshape(mask.shape[0], *mask.shape[-2:]).float()
    inside = 1 - mask
    probs = logits.softmax(dim=1)
    ce_out = F.cross_entropy(logits, outside_labels, reduction="none")
    ce_in = F.cross_entropy(logits, inside_labels, reduction="none")
    dice = (outside_weight * _bcp_dice(probs, outside_labels, mask)
            + inside_weight * _bcp_dice(probs, inside_labels, inside))
    ce = (outside_weight * (ce_out * mask).sum() / (mask.sum() + 1e-16)
          + inside_weight * (ce_in * inside).sum() / (inside.sum() + 1e-16))
    return (dice + ce) / 2, {"dice": dice, "ce": ce}


def consistency_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of softmax outputs (the mean teacher's consistency term)."""
    return F.mse_loss(student_logits.float().softmax(dim=1), teacher_logits.float().softmax(dim=1))


def sigmoid_rampup(current: float, length: float) -> float:
    """exp(-5 (1 - t)^2), t = current / length clipped to [0, 1] (Laine & Aila; SSL4MIS)."""
    if length <= 0:
        return 1.0
    t = min(max(current / length, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)
