"""The assistant that learns while the user labels: a short fine-tune from the last checkpoint on the done slices.

Every ``every`` newly done slices (:func:`fine_tune_due`), the app starts ``sra-seg train`` (:func:`fine_tune_args`
on :func:`fine_tune_config`) as a background child process — the same command and run-folder format as any
training, so its output is a normal run (``config.yaml``, ``run.json``, ``events.jsonl``, ``checkpoints/best.pt``)
that Review and the proposals can use. The fine-tune is supervised (the done slices only, a few hundred
iterations), starts from the last model's weights (``train.init_checkpoint``) with that model's network and input
size, and runs at low priority (:func:`lower_priority`) so the window and the user's labelling never wait for it.
Launching, pausing and stopping it is the app's job machinery, as for every run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sra_seg_core.config import RunConfig
from sra_seg_core.errors import InputError

DEFAULT_EVERY = 5          # newly done slices between fine-tunes
# per fine-tune: 2 minutes of a 128 px model on a shared 2-core CPU. Chosen by measurement on the cardiac phantoms
# (the fine-tune row of benchmarks/assist.py: the 1-patient model once a second patient is labelled): 400 iterations
# scored the same mean Dice on the unseen patients as 200, 0.911, for a third more time.
DEFAULT_ITERATIONS = 200
NICENESS = 10              # POSIX niceness of the fine-tune process (0 normal, 19 lowest)
RUN_PREFIX = "assistant"   # run folder names: runs/assistant-YYYYmmdd-HHMMSS
CONFIG_NAME = "fine_tune.yaml"


def fine_tune_due(done_slices: int, done_at_last: int, every: int = DEFAULT_EVERY) -> bool:
    """Whether enough slices were marked done since the last fine-tune (``done_at_last`` slices then) for another.

    A slice un-marked since then counts against the new ones, so toggling one slice back and forth never triggers.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    return done_slices - done_at_last >= every


def latest_model(runs_dir: str | Path) -> Path | None:
    """The newest checkpoint of any run under ``runs_dir`` (``best.pt``, or ``latest.pt`` of a run that has no best
    yet), or None: what the next proposal and the next fine-tune start from."""
    candidates = []
    for run in Path(runs_dir).glob("*/checkpoints"):
        for name in ("best.pt", "latest.pt"):
            path = run / name
            if path.is_file():
                candidates.append(path)
                break
    return max(candidates, key=lambda p: (p.stat().st_mtime, str(p)), default=None)


def fine_tune_config(checkpoint: str | Path, data_root: str | Path, *, iterations: int = DEFAULT_ITERATIONS,
                     num_threads: int | None = None) -> RunConfig:
    """The run config of a fine-tune of ``checkpoint`` on the labelled data at ``data_root`` (a project folder).

    Network, input size and optimiser come from the checkpoint's own run config, so its weights fit; training is
    supervised for ``iterations`` iterations with validation every ``iterations // 4``.
    """
    from sra_seg_core.inference import read_checkpoint

    checkpoint = Path(checkpoint).expanduser().resolve()
    state = read_checkpoint(checkpoint)
    if "model_config" not in state:
        raise InputError("not an SRA-Seg checkpoint (no model config inside), so it cannot be fine-tuned", checkpoint)
    saved = state.get("config") or {}
    config = RunConfig()
    for section in ("model", "optim", "augment"):
        if isinstance(saved.get(section), dict):
            config.update({section: saved[section]}, source=f"{checkpoint} (its run config)")
    mc = state["model_config"]
    config.model.channels, config.model.dropout = tuple(mc["channels"]), tuple(mc["dropout"])
    config.model.in_channels = int(mc["in_channels"])
    config.data.root = str(Path(data_root).expanduser().resolve())
    config.data.image_size = int(state["image_size"])
    config.data.num_classes = int(state["num_classes"])
    config.train.method = "supervised"
    config.train.pretrain_iters, config.train.selftrain_iters = int(iterations), 0
    config.train.validate_every = max(1, iterations // 4)
    config.train.checkpoint_every = max(1, iterations // 4)
    config.train.log_every = max(1, iterations // 20)
    config.train.init_checkpoint = str(checkpoint)
    config.train.num_threads = num_threads
    batch = int(saved.get("train", {}).get("batch_size", 8)) if isinstance(saved.get("train"), dict) else 8
    config.train.batch_size = max(4, min(batch, 8) // 2 * 2)
    config.alignment.enabled = False
    return config.validate()


def fine_tune_args(config_path: str | Path, run_dir: str | Path, data_root: str | Path) -> list[str]:
    """The ``sra-seg`` arguments that run a fine-tune config (the same command the Train workspace launches)."""
    return ["train", "--data", str(data_root), "--out", str(run_dir), "--config", str(config_path), "--quiet"]


def lower_priority(pid: int, niceness: int = NICENESS) -> None:
    """Make process ``pid`` yield the CPU to the window: POSIX niceness (threads it starts later inherit it)."""
    if hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, niceness)
        except OSError:  # it ended already, or the platform refuses: it then runs at normal priority
            pass


def describe_model(checkpoint: str | Path) -> dict:
    """What the panel says about the model that proposes: its run, status, validation Dice, how many labelled slices
    it learned from and, for a fine-tune, which checkpoint it started from. Missing facts are None."""
    checkpoint = Path(checkpoint)
    run = checkpoint.parent.parent
    try:
        meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        meta = {}
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    started_from = None
    try:
        import yaml

        saved = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
        started_from = (saved.get("train") or {}).get("init_checkpoint") or None
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        pass
    return {"run": run.name, "checkpoint": str(checkpoint), "status": meta.get("status"),
            "best_dice": meta.get("best_dice"), "labelled_slices": data.get("labeled_slices"),
            "method": meta.get("method"), "started_from": started_from}
