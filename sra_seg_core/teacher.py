"""The EMA teacher's pseudo-labels.

Pseudo-labels come from the teacher's prediction on the *unmixed* unlabelled images: argmax, then the largest connected
component of each foreground class (8-connectivity, as ``skimage.measure.label`` in the reference), one-hot. The EMA
update itself lives in :mod:`sra_seg_core.ema`.

Ties: when two components of a mask are equally large, the one whose first pixel comes first in raster order (row by
row, top left first) is kept — scipy's labelling numbers components in that order and ``argmax`` takes the first
maximum; the device-side labelling roots every component at its smallest flat index, which gives the same order. The
CPU and the GPU therefore keep the same pixels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from sra_seg_core.ema import ema_update  # noqa: F401  (the public name it always had)

_EIGHT = np.ones((3, 3), dtype=bool)
CHECK_EVERY = 8  # rounds between convergence checks in the exact (host-checked) mode


def _largest_component_cpu(mask: torch.Tensor) -> torch.Tensor:
    out = np.zeros(mask.shape, dtype=bool)
    arr = mask.numpy()
    # 8-connectivity in a slice; a volume's (Z, Y, X) sample is 26-connected, the same rule in 3-D
    structure = _EIGHT if arr.ndim == 3 else np.ones((3,) * (arr.ndim - 1), dtype=bool)
    for i in range(arr.shape[0]):
        labels, n = ndimage.label(arr[i], structure=structure)
        if n > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            out[i] = labels == sizes.argmax()
        else:
            out[i] = arr[i]
    return torch.from_numpy(out)


def default_rounds(height: int, width: int) -> int:
    """The fixed number of rounds the sync-free labelling runs for an H x W mask: 2 log2(HW) + 8.

    The min-label scheme below (hooking + pointer jumping, as FastSV) halves the depth of its trees every round; the
    serpentine test shape, the worst case of plain label propagation (one long path, 254 passes of the old loop), needs
    well under this. A mask that still changes after these rounds is reported through ``converged``.
    """
    return 2 * math.ceil(math.log2(max(height * width, 2))) + 8


def _sv_round(f: torch.Tensor, fg: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """One round of min-label connected components on a (B, H*W + 1) float32 parent array (the last column is the
    background sentinel H*W, which every background pixel points at). Parents only ever decrease, to the smallest
    flat index of the component."""
    b, h, w = shape
    n = h * w
    sentinel = float(n)
    pointer = f.long()
    grand = torch.gather(f, 1, pointer)                      # f[f[u]]
    # smallest grandparent among the 8 neighbours and the pixel itself (max-pool of the negation; +inf padding)
    near = -F.max_pool2d(-grand[:, :n].view(b, 1, h, w), 3, stride=1, padding=1).view(b, n)
    near = torch.where(fg, near, sentinel)
    near = torch.cat([near, grand[:, n:]], dim=1)
    hooked = f.scatter_reduce(1, pointer, near, reduce="amin")   # hook my parent's tree onto the smaller label
    return torch.minimum(torch.minimum(hooked, near), grand)     # aggressive hooking, then pointer jumping


def component_roots(mask: torch.Tensor, *, rounds: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """8-connected components of a batch of masks on the mask's device, in one batched pass.

    mask: (B, H, W) bool. Returns ``roots`` (B, H*W) int64 — for a foreground pixel the smallest flat index (row-major)
    of its component, for a background pixel H*W — and ``converged``, a 0-d bool tensor on the device.

    ``rounds=None`` is exact: it runs blocks of :data:`CHECK_EVERY` rounds and reads one flag to the host between
    blocks. With a number of rounds nothing is read to the host (a training step on the GPU must not wait), and
    ``converged`` says whether the labelling settled within them (``default_rounds`` is ample for every test shape).
    """
    b, h, w = mask.shape
    n = h * w
    fg = mask.reshape(b, n)
    index = torch.arange(n, device=mask.device, dtype=torch.float32).expand(b, n)
    f = torch.cat([torch.where(fg, index, float(n)), torch.full((b, 1), float(n), device=mask.device)], dim=1)
    while True:
        previous = f
        for _ in range(CHECK_EVERY if rounds is None else max(rounds, 1)):
            previous, f = f, _sv_round(f, fg, (b, h, w))
        # a round that changes nothing is a fixed point: every pixel then points at its component's smallest index
        converged = (previous == f).all()
        if rounds is not None or bool(converged):  # the host read happens only in the exact mode
            break
    return f[:, :n].long(), converged


def largest_of_roots(roots: torch.Tensor, n: int) -> torch.Tensor:
    """(B, N) roots from :func:`component_roots` -> (B, N) bool, the largest component of each sample (the first in
    raster order on a tie; nothing for an empty sample)."""
    counts = torch.zeros(roots.shape[0], n + 1, device=roots.device, dtype=torch.long)
    counts.scatter_add_(1, roots, torch.ones_like(roots))
    counts[:, n] = 0
    best = counts.argmax(dim=1, keepdim=True)  # documented: the first maximum, i.e. the smallest root
    return (roots == best) & (roots < n)


def _largest_component_torch(mask: torch.Tensor, rounds: int | None = None,
                             converged: torch.Tensor | None = None) -> torch.Tensor:
    b, h, w = mask.shape
    roots, done = component_roots(mask, rounds=rounds)
    if converged is not None:
        converged.logical_and_(done)
    return largest_of_roots(roots, h * w).view(b, h, w)


def largest_component(mask: torch.Tensor, *, rounds: int | None = None,
                      converged: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H, W) bool -> (B, H, W) bool keeping the largest 8-connected component of each sample (all of an empty one).
    On the CPU a sample may also be a volume, (B, Z, Y, X), whose largest 26-connected component is kept.

    On the CPU this is scipy's labelling unless ``rounds`` is given; on CUDA, or with ``rounds``, the device-side
    labelling of :func:`component_roots`, so pseudo-labels never leave the GPU. ``converged`` (a 0-d bool tensor) is
    and-ed with whether the fixed rounds sufficed.
    """
    if mask.device.type == "cpu" and rounds is None:
        return _largest_component_cpu(mask)
    return _largest_component_torch(mask, rounds, converged)


@torch.no_grad()
def pseudo_labels(logits: torch.Tensor, *, largest_cc: bool = True, rounds: int | None = None,
                  converged: torch.Tensor | None = None) -> torch.Tensor:
    """(B, K, H, W) teacher logits -> (B, H, W) int64 class map (argmax, largest component per foreground class).
    On the CPU (B, K, Z, Y, X) volumes work too, with 3-D components (whole-case proposals use that).

    All B x (K - 1) class masks are labelled in one batched call. ``rounds``/``converged``: see
    :func:`largest_component` (the sync-free GPU step passes both).
    """
    hard = logits.argmax(dim=1)
    if not largest_cc:
        return hard
    k = logits.shape[1]
    classes = torch.arange(1, k, device=hard.device).view(1, k - 1, *[1] * (hard.ndim - 1))
    masks = hard[:, None] == classes                                        # (B, K-1, H, W) or (B, K-1, Z, Y, X)
    keep = largest_component(masks.flatten(0, 1), rounds=rounds, converged=converged).view_as(masks)
    # classes are disjoint, so the kept class map is the sum of class x kept mask (no boolean indexing: no sync)
    return (keep.long() * classes).sum(dim=1)
