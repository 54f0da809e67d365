"""Running out of memory, wherever it happens: recognising it, undoing a half-done iteration, freeing, retrying.

A training iteration changes state in place — BatchNorm running statistics (the student's in its forward, the
teacher's in its train-mode forward), the weights and momentum (optimiser step), the teacher (EMA). If it fails half
way, retrying it at a smaller batch from that state would count the failed batch twice. :class:`IterationSnapshot`
copies every such tensor before the iteration (a few MB for this U-Net, two multi-tensor copies) and puts it back when
the iteration fails, so the retry starts from exactly where the failed one did.

Memory can only be given back once nothing refers to it: the exception's traceback holds the failed step's frames and
with them its activations, so callers drop the exception (leave the ``except`` block) before :func:`free_memory`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

T = TypeVar("T")

# CUDA's own text, cuBLAS and cuDNN (which report allocation failures as status codes, not OutOfMemoryError), the CPU
# allocator, and MPS.
_MARKERS = ("out of memory", "can't allocate memory", "cublas_status_alloc_failed", "cudnn_status_alloc_failed",
            "cudnn_status_not_enough_workspace", "failed to allocate", "mps backend out of memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure of the device or host (torch.OutOfMemoryError or its text)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in _MARKERS)


def free_memory(device: torch.device) -> None:
    """Collect what no longer has a reference and hand the CUDA allocator's cached blocks back."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


class IterationSnapshot:
    """Copies of the tensors an iteration changes in place, taken by :meth:`take`, put back by :meth:`restore`.

    modules: every state-dict tensor (parameters and buffers); optimizers: their per-parameter state (momentum). A
    parameter that had no optimiser state at :meth:`take` (the first step creates the momentum) loses it again.
    """

    def __init__(self, modules: Sequence[torch.nn.Module], optimizers: Sequence[torch.optim.Optimizer]):
        self.module_tensors = [t.detach() for m in modules for t in m.state_dict(keep_vars=True).values()]
        self.optimizers = list(optimizers)
        self._saved: list[torch.Tensor] = []
        self._had_state: list[set[int]] = []

    def _live(self) -> list[torch.Tensor]:
        tensors = list(self.module_tensors)
        for opt in self.optimizers:
            for state in opt.state.values():
                tensors.extend(v for v in state.values() if isinstance(v, torch.Tensor))
        return tensors

    @torch.no_grad()
    def take(self) -> None:
        live = self._live()
        if len(self._saved) != len(live) or any(a.shape != b.shape for a, b in zip(self._saved, live)):
            self._saved = [torch.empty_like(t) for t in live]
        torch._foreach_copy_(self._saved, live)
        self._had_state = [{id(p) for p in opt.state} for opt in self.optimizers]

    @torch.no_grad()
    def restore(self) -> None:
        for opt, had in zip(self.optimizers, self._had_state):
            for p in [p for p in opt.state if id(p) not in had]:
                del opt.state[p]
        live = self._live()
        torch._foreach_copy_(live, self._saved[: len(live)])


def with_smaller_batches(fn: Callable[[int], T], batch: int, device: torch.device, *,
                         on_retry: Callable[[int, int], None] | None = None) -> T:
    """``fn(batch)``; when it runs out of memory, free and call it again at half the batch, down to 1 (then the
    error propagates). ``on_retry(old, new)`` is told each time. For work without in-place state: validation, the
    DINOv2 bank."""
    while True:
        try:
            return fn(batch)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if batch <= 1 or not is_out_of_memory(exc):
                raise
        free_memory(device)  # the exception (and the frames it held) is gone by here
        if on_retry is not None:
            on_retry(batch, max(1, batch // 2))
        batch = max(1, batch // 2)
