"""The EMA teacher and its pseudo-labels.

The teacher's weights are the exponential moving average of the student's (decay 0.99, every iteration), including the
BatchNorm running statistics, as the reference's ``update_model_ema`` does over the whole ``state_dict``. Pseudo-labels
come from the teacher's prediction on the *unmixed* unlabelled images: argmax, then the largest connected component of
each foreground class (8-connectivity, as ``skimage.measure.label`` in the reference), one-hot.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, decay: float = 0.99) -> None:
    """teacher <- decay * teacher + (1 - decay) * student, over parameters and floating buffers; integer buffers
    (BatchNorm's ``num_batches_tracked``) are copied."""
    t_state, s_state = teacher.state_dict(), student.state_dict()
    floats = [k for k, v in t_state.items() if v.is_floating_point()]
    torch._foreach_lerp_([t_state[k] for k in floats], [s_state[k].detach() for k in floats], 1.0 - decay)
    for k, v in t_state.items():
        if not v.is_floating_point():
            v.copy_(s_state[k])


_EIGHT = np.ones((3, 3), dtype=bool)


def _largest_component_cpu(mask: torch.Tensor) -> torch.Tensor:
    out = np.zeros(mask.shape, dtype=bool)
    arr = mask.numpy()
    for i in range(arr.shape[0]):
        labels, n = ndimage.label(arr[i], structure=_EIGHT)
        if n > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            out[i] = labels == sizes.argmax()
        else:
            out[i] = arr[i]
    return torch.from_numpy(out)


def _largest_component_torch(mask: torch.Tensor) -> torch.Tensor:
    """Connected components on the device, without a host round-trip per pixel: label propagation (3x3 max) with
    pointer jumping; each pixel ends with the largest flat index (+1) of its component."""
    b, h, w = mask.shape
    n = h * w
    idx = torch.arange(1, n + 1, device=mask.device, dtype=torch.float32).view(1, 1, h, w).expand(b, 1, h, w)
    fg = mask[:, None].float()
    labels = idx * fg
    while True:
        grown = torch.nn.functional.max_pool2d(labels, 3, stride=1, padding=1) * fg
        # pointer jumping: adopt the label of the pixel my label points at (labels only ever grow)
        flat = grown.view(b, n)
        pointer = (flat.long() - 1).clamp(min=0)
        jumped = torch.maximum(flat, torch.gather(flat, 1, pointer) * (flat > 0)).view(b, 1, h, w)
        if torch.equal(jumped, labels):
            break
        labels = jumped
    flat = labels.view(b, n).long()
    counts = torch.zeros(b, n + 1, device=mask.device, dtype=torch.long)
    counts.scatter_add_(1, flat, torch.ones_like(flat))
    counts[:, 0] = 0
    best = counts.argmax(dim=1, keepdim=True)
    return ((flat == best) & (flat > 0)).view(b, h, w)


def largest_component(mask: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool -> (B, H, W) bool keeping the largest 8-connected component of each sample (all of an empty one).

    On the CPU this is scipy's labelling; on CUDA a device-side propagation, so pseudo-labels never leave the GPU.
    """
    if mask.device.type == "cpu":
        return _largest_component_cpu(mask)
    return _largest_component_torch(mask)


@torch.no_grad()
def pseudo_labels(logits: torch.Tensor, *, largest_cc: bool = True) -> torch.Tensor:
    """(B, K, H, W) teacher logits -> (B, H, W) int64 class map (argmax, largest component per foreground class)."""
    hard = logits.argmax(dim=1)
    if not largest_cc:
        return hard
    out = torch.zeros_like(hard)
    for c in range(1, logits.shape[1]):
        keep = largest_component(hard == c)
        out[keep] = c
    return out
