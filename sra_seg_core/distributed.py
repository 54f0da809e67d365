"""One training run over several processes, launched by PyTorch's own ``torchrun`` (data-parallel, DDP semantics).

``torchrun --nproc_per_node N -m sra_seg_core train …`` starts N copies of the trainer with ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK`` in their environment (``--nnodes`` and a rendezvous endpoint extend it to several machines).
:func:`init_from_env` turns that into one process group — NCCL when training on CUDA, gloo on the CPU — and
``LOCAL_RANK`` picks the GPU. Without torchrun (or with one process) it returns :data:`SINGLE` and every helper here
is a no-op, so a plain run is exactly what it was.

How the run stays one run:

* **The global batch keeps its meaning.** Every rank draws the random numbers of the *whole* batch from the same
  seeds (indices, augmentation, the blend box), then keeps its own share: rank r of W takes rows
  ``[r·n/W, (r+1)·n/W)`` of each half (a and b) of the labelled and of the unlabelled part (:meth:`Context.rows`).
  The default 24 = 12 labelled (6 a + 6 b) + 12 synthetic (6 + 6) therefore gives each of 2 ranks 3 + 3 labelled and
  3 + 3 synthetic slices; a world size that does not divide every half is refused (:meth:`Context.check_batch`).
* **Gradients are averaged** over the ranks after the backward pass (:meth:`Context.average_gradients`), which is
  DDP's all-reduce done in one flat message per dtype once the backward has finished: the U-Net has about 2 M
  parameters (8 MB), so overlapping it with the backward buys little, and having no collective inside the backward
  lets an out-of-memory error on any rank be agreed on (:meth:`Context.any`) before anyone waits for it.
* **BatchNorm sees the global batch**: :func:`sync_batchnorm` makes the student's and the teacher's BatchNorm layers
  compute their batch statistics over all ranks with a differentiable all-reduce. (``torch.nn.SyncBatchNorm`` refuses
  CPU tensors, so it cannot serve the gloo runs; this one serves both.) The state dict is unchanged, so checkpoints
  load into a plain model.
* **Decisions are agreed**: stop requests and out-of-memory halving through :meth:`Context.any`; validation is split
  over the ranks and its Dice sums all-reduced, so every rank takes the same "best" decision.
* **Only rank 0 writes** config.yaml, run.json, events.jsonl and checkpoints; the run folder name is decided by
  rank 0 and broadcast (:meth:`Context.broadcast`); the DINOv2 encoder download and bank are made by rank 0 while the
  others wait (:meth:`Context.main_first`), then read from the cache.

With these, a 2-process CPU run's first iterations equal a 1-process run's within float tolerance when dropout is off.
Dropout masks are drawn by each rank for its own rows from a rank-specific seed (the same distribution, not the same
bits), and BCP's Dice, a ratio of sums over the batch, is computed over each rank's share, as DDP would.
"""

from __future__ import annotations

import datetime
import os
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from sra_seg_core.batch_split import check_split
from sra_seg_core.errors import ConfigError


@dataclass(frozen=True)
class Context:
    """Where this process stands in the run: ``rank`` of ``world_size``; ``device`` carries the collectives."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # --- the batch ---------------------------------------------------------------------------------------------
    def check_batch(self, labeled: int, unlabeled: int) -> None:
        """Refuse a world size that cannot split each half of the labelled and unlabelled batch evenly (the rule is
        :mod:`sra_seg_core.batch_split`'s, which the app checks too before it starts a run)."""
        check_split(labeled, unlabeled, self.world_size)

    def rows(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This rank's rows of each (global) tensor: ``[r·n/W, (r+1)·n/W)`` along dim 0 (n divisible by W)."""
        if not self.active:
            return tensors
        out = []
        for t in tensors:
            share = len(t) // self.world_size
            out.append(t[self.rank * share:(self.rank + 1) * share])
        return tuple(out)

    def items(self, sequence: list) -> list:
        """This rank's items of a list (round-robin), for work such as validation volumes."""
        return sequence[self.rank::self.world_size] if self.active else sequence

    def seed(self, seed: int) -> int:
        """A per-rank seed for draws that are made per rank (dropout), so ranks do not repeat each other's masks."""
        return (seed + 1_000_003 * self.rank) % (2**63 - 1)

    # --- collectives (no-ops in one process) --------------------------------------------------------------------
    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is True on any rank (one all-reduce)."""
        if not self.active:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item() > 0)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``values`` over ranks (a new tensor on the caller's device)."""
        if not self.active:
            return values
        t = values.detach().to(self.device, copy=True)
        torch.distributed.all_reduce(t)
        return t.to(values.device)

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mean over ranks of each scalar in ``values`` (keys identical on every rank)."""
        if not self.active or not values:
            return values
        keys = sorted(values)
        total = self.sum(torch.stack([values[k].detach().float() for k in keys])) / self.world_size
        return dict(zip(keys, total.unbind()))

    def average_gradients(self, *modules: nn.Module | None) -> None:
        """Replace each parameter's gradient by its mean over the ranks (DDP's all-reduce), one message per dtype."""
        if not self.active:
            return
        grads = [p.grad for m in modules if m is not None for p in m.parameters() if p.grad is not None]
        for dtype in sorted({g.dtype for g in grads}, key=str):
            group = [g for g in grads if g.dtype == dtype]
            flat = torch.cat([g.reshape(-1) for g in group]).to(self.device)
            torch.distributed.all_reduce(flat)
            flat /= self.world_size
            offset = 0
            for g in group:
                g.copy_(flat[offset:offset + g.numel()].view(g.shape))
                offset += g.numel()

    def broadcast(self, value):
        """Rank 0's ``value`` (any picklable object) on every rank."""
        if not self.active:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            # A barrier is an all-reduce here: gloo's and NCCL's own barriers differ in which device they use.
            self.any(False)

    @contextmanager
    def main_first(self):
        """Rank 0 runs the block first (a download, a cache fill); the others run it after, hitting the cache."""
        if not self.is_main:
            self.barrier()
        try:
            yield
        finally:
            if self.is_main:
                self.barrier()


SINGLE = Context()


def current() -> Context:
    """The context of the process group set up by :func:`init_from_env`, or :data:`SINGLE` outside torchrun."""
    return _current


_current = SINGLE


def init_from_env(device: torch.device, *, timeout_s: float = 1800.0) -> Context:
    """Join the process group torchrun described in the environment; returns :data:`SINGLE` outside torchrun.

    ``device`` is the resolved training device: CUDA selects NCCL and ``cuda:LOCAL_RANK``, anything else gloo (the
    collectives then run on the CPU). ``timeout_s`` bounds a collective that one rank never joins, so a rank that died
    inside a collective ends the job instead of hanging it forever.
    """
    global _current
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return SINGLE
    if torch.distributed.is_initialized():
        return _current
    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ConfigError(f"WORLD_SIZE={world} is set but {', '.join(missing)} is not: start distributed training "
                          "with torchrun (see docs/multi-gpu.md)")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) are visible: "
                              "lower --nproc_per_node to the number of GPUs per machine")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    torch.distributed.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    _current = Context(rank=rank, world_size=world, local_rank=local_rank, device=device)
    return _current


def shutdown() -> None:
    """Leave the process group (at the end of a run), so the next run in this process starts single again."""
    global _current
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _current = SINGLE


def training_device(device: torch.device, context: Context) -> torch.device:
    """The device this rank trains on: the resolved device, or ``cuda:LOCAL_RANK`` under torchrun on CUDA."""
    return context.device if context.active and device.type == "cuda" else device


# --- synchronised BatchNorm --------------------------------------------------------------------------------------
class _SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics are taken over the batch of every rank (same state dict).

    The mean and then the variance are each one differentiable all-reduce of per-channel sums (two passes, as
    stable as the one-process kernel's), in float32 whatever the input dtype; eval mode is plain BatchNorm.
    """

    world_size = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        xf = x.float()
        count = xf.numel() // xf.shape[1] * self.world_size
        mean = all_reduce(xf.sum(dim=(0, 2, 3))) / count
        centred = xf - mean[None, :, None, None]
        var = all_reduce((centred * centred).sum(dim=(0, 2, 3))) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), m)
                unbiased = var * (count / max(count - 1, 1))
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), m)
        out = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return out.to(x.dtype)


def sync_batchnorm(model: nn.Module, context: Context) -> nn.Module:
    """Make every BatchNorm2d of ``model`` synchronise its statistics over the ranks (in place; a no-op alone)."""
    if not context.active:
        return model
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            # Swapping the class keeps the very parameters and buffers (optimiser, EMA and checkpoints see no change).
            module.__class__ = _SyncBatchNorm2d
            module.world_size = context.world_size
    return model
