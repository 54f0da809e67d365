"""Graph capture of the training forward passes (``train.cuda_graphs``), and where it cannot be had.

With the switch on, on a CUDA device, the student's and teacher's training forwards go through
``torch.compile(mode="reduce-overhead")``: inductor's fused kernels replayed as CUDA graphs (cudagraph trees), so an
iteration launches a few graphs instead of some two thousand kernels. Dropout draws from the default CUDA generator,
whose seed and offset the graphs read from the device at replay, so the per-iteration seeding keeps working; the run is
reproducible run to run but not bit-identical to the eager run (fused kernels sum in another order).

Where capture is impossible — no CUDA device — the switch is refused with a reason and training runs eagerly; a part
of the model that inductor cannot compile runs eagerly (``suppress_errors``) instead of stopping the run.
"""

from __future__ import annotations

import torch


def capture_refusal(device: torch.device) -> str | None:
    """Why CUDA graphs cannot be used on ``device`` (None when they can)."""
    if device.type != "cuda":
        return f"train.cuda_graphs needs a CUDA device; training on {device.type} runs eagerly"
    return None


def compile_for_training(model: torch.nn.Module, *, graphs: bool) -> torch.nn.Module:
    """``torch.compile`` of ``model``; with ``graphs`` in reduce-overhead mode (CUDA graphs)."""
    if graphs:
        import torch._dynamo

        torch._dynamo.config.suppress_errors = True
        return torch.compile(model, mode="reduce-overhead")
    return torch.compile(model)


def mark_step(graphs: bool) -> None:
    """Tell the cudagraph trees a new iteration begins (the previous one's graph outputs may be overwritten)."""
    if graphs:
        torch.compiler.cudagraph_mark_step_begin()
