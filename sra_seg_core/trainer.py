"""The SRA-Seg trainer: one loop for every method, so a comparison is apples to apples.

Methods (``train.method``):

* ``supervised``  — labelled slices only, no mixing, ``pretrain_iters + selftrain_iters`` iterations.
* ``mean-teacher`` — stage 1 supervised; stage 2 supervised + EMA-teacher consistency on the unlabelled stream.
* ``bcp``         — BCP: stage 1 hard copy-paste of real into real; stage 2 bidirectional hard copy-paste between real
  and unlabelled images with pseudo-labels, the pseudo-labelled region weighted 0.5.
* ``sra-seg``     — stage 1 soft-blended real into real; stage 2 bidirectional soft blending with synthetic images,
  soft Dice + CE on blended targets, plus lambda_SA times the DINOv2 similarity-alignment loss
  (``--no-sa`` drops it, ``--hard-blend`` uses the unsmoothed box).

Determinism: every random draw of iteration i (batch indices, augmentation, the mask, dropout) comes from seeds derived
from (seed, stage, i), so a run stopped at any iteration and resumed from ``latest.pt`` continues exactly as if it had
never stopped, and a run is reproducible on the CPU.

The run folder holds ``config.yaml`` (resolved), ``run.json`` (metadata, including whether the encoder was untrained),
``events.jsonl`` and ``checkpoints/{latest,best,pretrain_best}.pt``, each written atomically.
"""

from __future__ import annotations

import ctypes
import errno
import json
import math
import os
import platform
import resource
import signal
import sys
import threading
import time
import warnings
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from sra_seg_core import __version__, distributed
from sra_seg_core.atomic import atomic_write, atomic_write_json
from sra_seg_core.blend import bidirectional_mix, blend_alpha, mix, one_hot
from sra_seg_core.config import RunConfig, save_config_file
from sra_seg_core.errors import ConfigError
from sra_seg_core.events import Event, EventSink, JsonLinesSink, fan_out
from sra_seg_core.inference import predict_volume, read_checkpoint, resolve_device
from sra_seg_core.losses import bcp_mix_loss, consistency_loss, sigmoid_rampup, soft_seg_loss
from sra_seg_core.model import UNet, build_model
from sra_seg_core.teacher import ema_update, pseudo_labels

STAGES = ("pretrain", "selftrain")
_STAGE_SALT = {"pretrain": 1, "selftrain": 2}


# --- data held on the device -------------------------------------------------------------------------------------
@dataclass
class ValVolume:
    case_id: str
    image: np.ndarray       # (Z, Y, X) float32 in [0, 1]
    label: np.ndarray       # (Z, Y, X) uint8


@dataclass
class TrainData:
    """Everything the loop reads, prepared once: slices already normalised and resized, on the device."""

    labeled_images: torch.Tensor            # (N, 1, S, S) float32
    labeled_labels: torch.Tensor            # (N, S, S) int64
    unlabeled_images: torch.Tensor | None   # (M, 1, S, S) float32
    val: list[ValVolume]
    num_classes: int
    class_names: list[str]
    grey: str = "luminance"
    summary: dict = field(default_factory=dict)


def prepare_data(config: RunConfig, device: torch.device) -> TrainData:
    """Discover, split and load the data named by ``config.data``; see :mod:`sra_seg_core.datasets`."""
    from sra_seg_core import datasets as ds

    d = config.data
    if not d.root:
        raise ConfigError("no training data given: pass --data DIR (an ACDC, FIVES or image/label folder)")
    dataset = ds.discover(d.root, d.layout, num_classes=d.num_classes)
    splits = ds.split_cases(dataset, seed=d.split_seed)
    if dataset.layout == "project":  # the clinician chose what to label: train on all of it
        labeled = splits["train"]
    else:
        labeled = ds.select_labelled(splits["train"], fraction=d.labeled_fraction, count=d.labeled_count,
                                     seed=d.labeled_seed)
    opts = dict(size=d.image_size, num_classes=dataset.num_classes, grey=dataset.grey,
                binarize=dataset.binarize_labels)
    lab = ds.load_slices(labeled, labels=True, **opts)
    unlabeled_cases: list = []
    if config.train.method != "supervised":
        if d.unlabeled == "real":
            chosen = {c.case_id for c in labeled}
            pool = dataset.predefined["unlabelled"] if dataset.layout == "project" else splits["train"]
            unlabeled_cases = [replace(c, label=None) for c in pool if c.case_id not in chosen]
            source = f"{len(unlabeled_cases)} unlabelled real training cases"
        elif dataset.layout == "project" and not d.synthetic:
            unlabeled_cases = dataset.predefined["synthetic"]
            source = f"{len(unlabeled_cases)} synthetic cases of the project"
        else:
            if not d.synthetic:
                raise ConfigError(f"method {config.train.method} needs unlabelled images: pass --synthetic DIR "
                                  "(or --set data.unlabeled=real for real unlabelled cases)")
            synthetic = ds.discover_synthetic(d.synthetic)
            unlabeled_cases = synthetic.cases
            source = f"synthetic folder {d.synthetic}"
        if not unlabeled_cases:
            raise ConfigError("the unlabelled stream is empty: no synthetic or unlabelled real images were found")
        unl = ds.load_slices(unlabeled_cases, labels=False, **{**opts, "binarize": False})
    val_cases = splits["val"][: d.max_val_cases] if d.max_val_cases else splits["val"]
    if not val_cases:
        raise ConfigError("no validation cases: the data set is too small to hold out a validation split")
    val = []
    for case in val_cases:
        image, label = ds.load_volume(case, num_classes=dataset.num_classes, grey=dataset.grey,
                                      binarize=dataset.binarize_labels)
        if label is None:
            raise ConfigError(f"validation case {case.case_id} has no label file")
        val.append(ValVolume(case.case_id, image.array.astype(np.float32), label.array.astype(np.uint8)))
    to = dict(device=device)
    data = TrainData(
        labeled_images=torch.from_numpy(lab.images)[:, None].to(**to),
        labeled_labels=torch.from_numpy(lab.labels).long().to(**to),
        unlabeled_images=torch.from_numpy(unl.images)[:, None].to(**to) if unlabeled_cases else None,
        val=val, num_classes=dataset.num_classes, class_names=list(dataset.class_names), grey=dataset.grey,
        summary={
            "layout": dataset.layout,
            "labeled_cases": [c.case_id for c in labeled],
            "labeled_groups": sorted({c.group for c in labeled}),
            "labeled_slices": len(lab),
            "unlabeled_slices": len(unl) if unlabeled_cases else 0,
            "unlabeled_source": source if unlabeled_cases else None,
            "val_cases": [v.case_id for v in val],
            "test_cases": [c.case_id for c in splits["test"]],
        },
    )
    if len(lab) < config.labeled_batch:
        warnings.warn(f"only {len(lab)} labelled slices for a labelled batch of {config.labeled_batch}; "
                      "slices repeat within a batch")
    return data


# --- sampling --------------------------------------------------------------------------------------------------
class EpochSampler:
    """Indices for iteration i: consecutive chunks of per-epoch permutations, a pure function of (seed, i)."""

    def __init__(self, n: int, per_batch: int, seed: int, device: torch.device):
        self.n, self.per_batch, self.seed, self.device = n, per_batch, seed, device
        self._cache: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k >= epoch - 1}
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cache[epoch] = torch.randperm(self.n, generator=g).to(self.device)
        return self._cache[epoch]

    def indices(self, iteration: int) -> torch.Tensor:
        start = iteration * self.per_batch
        parts, need = [], self.per_batch
        while need:
            epoch, offset = divmod(start, self.n)
            take = min(need, self.n - offset)
            parts.append(self._perm(epoch)[offset:offset + take])
            start, need = start + take, need - take
        return torch.cat(parts)


def _is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


def _iteration_seed(seed: int, stage: str, iteration: int) -> int:
    return (seed * 7_919 + _STAGE_SALT[stage] * 100_003_003 + iteration) % (2**63 - 1)


def _keep_freed_memory() -> None:
    """Keep freed memory in the process (glibc on Linux; elsewhere nothing to do).

    A CPU training step allocates and frees the same few hundred MB of activations every iteration. glibc serves
    blocks above its mmap threshold with fresh mappings and unmaps them when freed, so each iteration page-faults its
    activations in again (about 100 000 minor faults per 6 x 256² U-Net step, measured with getrusage); with mmap off
    and trimming off the blocks are reused from the heap. The process keeps its peak memory until it exits.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, …)
        return
    m_trim_threshold, m_mmap_max = -1, -4
    mallopt(m_mmap_max, 0)
    mallopt(m_trim_threshold, 2**31 - 1)


# --- the trainer -----------------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    status: str                 # finished | stopped
    best_dice: float
    best_path: Path | None
    run_dir: Path
    iterations: dict[str, int]


class StopRequested(Exception):
    pass


class Trainer:
    """Trains one run described by a :class:`RunConfig` into ``run_dir``; see the module docstring."""

    def __init__(self, config: RunConfig, run_dir: str | Path, *, emit: EventSink | None = None,
                 data: TrainData | None = None):
        self.config = config.copy().validate()
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self._external_emit = emit
        self._data = data
        self.stop_flag = threading.Event()
        self.dist = distributed.current()  # one process, or this rank of a torchrun job (see distributed.py)
        self.dist.check_batch(self.config.labeled_batch,
                              self.config.train.batch_size - self.config.labeled_batch if self.config.two_stage else 0)
        self.device = distributed.training_device(resolve_device(self.config.train.device), self.dist)
        self.encoder_info = None
        self.events_sink: JsonLinesSink | None = None
        self._t0 = time.time()

    # --- events / metadata ------------------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        self._emit(event)

    def warn(self, message: str, stage: str = "") -> None:
        self.emit(Event("warning", stage=stage, message=message))

    def request_stop(self) -> None:
        """Ask the loop to save ``latest.pt`` and return at the end of the current iteration (thread/signal safe)."""
        self.stop_flag.set()

    @contextmanager
    def _signals(self):
        """SIGINT/SIGTERM -> save and stop cleanly (only possible from the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, lambda *_: self.request_stop())
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextmanager
    def _warnings_as_events(self):
        """The engine's own ``warnings.warn`` calls (skipped files, small data) become ``warning`` events."""
        engine = str(Path(__file__).parent)
        with warnings.catch_warnings():
            original = warnings.showwarning

            def show(message, category, filename, lineno, file=None, line=None):
                if str(filename).startswith(engine):
                    self.warn(str(message))
                else:
                    original(message, category, filename, lineno, file, line)

            warnings.showwarning = show
            yield

    def _write_metadata(self, **updates) -> None:
        if not self.dist.is_main:
            return
        path = self.run_dir / "run.json"
        meta = json.loads(path.read_text()) if path.exists() else {}
        meta.update(updates)
        atomic_write_json(path, meta)

    # --- set-up --------------------------------------------------------------------------------------------------
    def _setup_device(self) -> None:
        t = self.config.train
        if t.num_threads:
            torch.set_num_threads(t.num_threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = not t.deterministic
            torch.backends.cudnn.deterministic = t.deterministic
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        else:
            _keep_freed_memory()
        self.autocast = self.device.type == "cuda" and t.amp in ("auto", "bf16")
        # Channels-last is the faster layout on CUDA (tensor cores) and, with the model's plain-layout weight
        # gradient, on the CPU too (oneDNN's NHWC kernels); "auto" is therefore on everywhere.
        self.channels_last = t.channels_last in ("on", "auto")
        if t.compile:
            import torch._inductor.config as inductor_config

            # Dropout draws its masks through the eager generator: the same seeds give the same run as without compile.
            inductor_config.fallback_random = True
        self._compiled: dict[int, torch.nn.Module] = {}

    def _new_model(self) -> UNet:
        model = build_model(self.config.model, self.data.num_classes).to(self.device)
        distributed.sync_batchnorm(model, self.dist)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def _optimizer(self, params) -> torch.optim.SGD:
        o = self.config.optim
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)

    def _prepare_alignment(self) -> None:
        """Resolve the DINOv2 encoder before any training, so missing weights fail in seconds, not hours."""
        if not self.config.uses_alignment:
            return
        from sra_seg_core.alignment import load_encoder, resolve_encoder_name

        a = self.config.alignment
        name = resolve_encoder_name(a.encoder)
        weights = Path(a.weights_file).expanduser().resolve() if a.weights_file else None
        extra = {"depth": a.encoder_depth} if a.encoder_depth else {}
        if extra and weights:
            raise ConfigError("alignment.encoder_depth is for untrained smoke-test encoders only; leave it unset "
                              "with real DINOv2 weights")
        with self.dist.main_first():  # one download into the shared cache, not one per rank
            self._encoder, self.encoder_info = load_encoder(
                name, weights_file=weights, allow_untrained=a.allow_untrained, download=a.download and not extra,
                device="cpu", **extra)
        self._write_metadata(encoder={"name": self.encoder_info.name, "weights": self.encoder_info.weights,
                                      "pretrained": self.encoder_info.pretrained})
        if not self.encoder_info.pretrained:
            self.warn(f"DINOv2 encoder {name} is UNTRAINED (random weights, allowed by --allow-untrained-encoder): "
                      "the similarity-alignment term has no pretrained semantics; results are not the method's")

    # --- the run -----------------------------------------------------------------------------------------------------
    def run(self, *, resume: bool = False) -> RunResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_dir.mkdir(exist_ok=True)
        if self.dist.is_main:
            self.events_sink = JsonLinesSink(self.run_dir / "events.jsonl")
            self._emit = fan_out(self.events_sink, self._external_emit)
        else:  # rank 0 reports for the whole run
            self._emit = lambda event: None
        try:
            with self._signals(), self._warnings_as_events():
                return self._run(resume)
        except BaseException as exc:
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                from sra_seg_core.cli import error_line

                self.emit(Event("error", message=error_line(exc), extra={"type": type(exc).__name__}))
                self._write_metadata(status="failed", error=error_line(exc), finished=time.time())
            raise
        finally:
            if self.events_sink is not None:
                self.events_sink.close()

    def _run(self, resume: bool) -> RunResult:
        c = self.config
        self._setup_device()
        state = self._load_latest() if resume else None
        if not resume:
            if self.dist.is_main:
                save_config_file(c, self.run_dir / "config.yaml")
            self._write_metadata(version=__version__, method=c.train.method, created=time.time(), status="running",
                                 device=str(self.device), torch=torch.__version__, python=platform.python_version(),
                                 pid=os.getpid(), world_size=self.dist.world_size)
        else:
            self._write_metadata(status="running", resumed=time.time(), pid=os.getpid(),
                                 world_size=self.dist.world_size)
        self._prepare_alignment()
        self.emit(Event("stage", message="loading data", extra={"device": str(self.device)}))
        self.data = self._data or prepare_data(c, self.device)
        self._write_metadata(data=self.data.summary, num_classes=self.data.num_classes,
                             class_names=self.data.class_names)
        self.stage_totals = ({"pretrain": c.train.pretrain_iters + c.train.selftrain_iters} if not c.two_stage
                             else {"pretrain": c.train.pretrain_iters, "selftrain": c.train.selftrain_iters})
        self._t0 = time.time()
        self.best = dict(state["best"]) if state else {"pretrain": -1.0, "selftrain": -1.0}
        if state and state["stage"] == "pretrain" and state["iteration"] >= self.stage_totals["pretrain"]:
            state = None if c.two_stage else state  # stage 1 was complete: stage 2 starts from its best weights
            start_stage = "selftrain" if c.two_stage else "pretrain"
        else:
            start_stage = state["stage"] if state else "pretrain"
        status = "finished"
        try:
            if start_stage == "pretrain":
                self._stage_pretrain(state)
                state = None
            if c.two_stage:
                self._stage_selftrain(state)
        except StopRequested:
            status = "stopped"
        final = "selftrain" if c.two_stage else "pretrain"
        best_path = self.ckpt_dir / "best.pt"
        result = RunResult(status, self.best.get(final, -1.0), best_path if best_path.exists() else None,
                           self.run_dir, dict(self.stage_totals))
        self._write_metadata(status=status, best_dice=result.best_dice, finished=time.time(),
                             best_checkpoint=str(best_path) if result.best_path else None)
        self.emit(Event("done", status=status, best_dice=result.best_dice,
                        path=str(result.best_path) if result.best_path else None,
                        message=f"training {status}; best validation mean Dice {result.best_dice:.4f}"))
        return result

    # --- stage 1 ---------------------------------------------------------------------------------------------------
    def _stage_pretrain(self, state: dict | None) -> None:
        c, stage = self.config, "pretrain"
        total, start = self.stage_totals[stage], state["iteration"] if state else 0
        torch.manual_seed(c.train.seed)  # the initial weights are part of the seeded run
        self.student = self._new_model()
        self.teacher = None
        self.projector = None
        self.optimizer = self._optimizer(self.student.parameters())
        if state:
            self.student.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        self.emit(Event("stage", stage=stage, iteration=start, total=total,
                        message=self._stage_description(stage)))
        def make_step():
            lab = EpochSampler(len(self.data.labeled_images), c.labeled_batch, c.train.seed, self.device)
            return lambda i, g: self._pretrain_step(lab.indices(i), g)

        self._loop(stage, start, total, make_step)

    def _pretrain_step(self, idx: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
        c, method = self.config, self.config.train.method
        images, labels = self._augment(self.data.labeled_images[idx], self.data.labeled_labels[idx], g)
        k = self.data.num_classes
        if method in ("supervised", "mean-teacher"):
            images, labels = self.dist.rows(images, labels)  # this rank's share of the global batch
            loss, parts = soft_seg_loss(self._forward(self.student, images)[0], one_hot(labels, k))
            return {"sup": loss, "total": loss}
        half = len(idx) // 2
        (ra, rb), (ya, yb) = (images[:half], images[half:]), (labels[:half], labels[half:])
        if method == "bcp":
            _, m = blend_alpha(half, *ra.shape[-2:], c.blend, generator=g)
            ra, rb, ya, yb, m = self.dist.rows(ra, rb, ya, yb, m)
            logits = self._forward(self.student, mix(ra, rb, m))[0]
            loss, _ = bcp_mix_loss(logits, ya, yb, m)
        else:  # sra-seg: real a soft-blended into real b
            alpha, _ = blend_alpha(half, *ra.shape[-2:], c.blend, generator=g)
            ra, rb, ya, yb, alpha = self.dist.rows(ra, rb, ya, yb, alpha)
            logits = self._forward(self.student, mix(ra, rb, alpha))[0]
            loss, _ = soft_seg_loss(logits, mix(one_hot(ya, k), one_hot(yb, k), alpha))
        return {"sup": loss, "total": loss}

    # --- stage 2 ---------------------------------------------------------------------------------------------------
    def _stage_selftrain(self, state: dict | None) -> None:
        c, stage = self.config, "selftrain"
        total, start = self.stage_totals[stage], state["iteration"] if state else 0
        self.student = self._new_model()
        self.teacher = self._new_model()
        self._compiled.clear()  # stage 1's student is gone
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.optimizer = self._optimizer(self.student.parameters())
        self.dist.barrier()  # rank 0 may still be writing pretrain_best.pt
        init = state or self._load_checkpoint(self.ckpt_dir / "pretrain_best.pt", required=False)
        if init is None:
            self.warn("no stage-1 checkpoint (pretrain_iters = 0): stage 2 starts from random weights", stage)
            init = {"model": self.student.state_dict()}
        self.student.load_state_dict(init["model"])
        self.teacher.load_state_dict(init.get("teacher", init["model"]))
        if "optimizer" in init:  # the reference continues the stage-1 optimizer state (load_net_opt)
            self.optimizer.load_state_dict(init["optimizer"])
        self.projector = None
        if c.uses_alignment:
            self._build_alignment_targets()
            if state and "projector" in state:
                self.projector.load_state_dict(state["projector"])
            if state and "projector_optimizer" in state:
                self.projector_optimizer.load_state_dict(state["projector_optimizer"])
        self.emit(Event("stage", stage=stage, iteration=start, total=total,
                        message=self._stage_description(stage)))
        def make_step():
            lab = EpochSampler(len(self.data.labeled_images), c.labeled_batch, c.train.seed, self.device)
            unl = EpochSampler(len(self.data.unlabeled_images), c.train.batch_size - c.labeled_batch,
                               c.train.seed + 1, self.device)
            return lambda i, g: self._selftrain_step(lab.indices(i), unl.indices(i), i, g)

        self._loop(stage, start, total, make_step)

    def _selftrain_step(self, lidx, uidx, iteration: int, g) -> dict[str, torch.Tensor]:
        c, method, k = self.config, self.config.train.method, self.data.num_classes
        images, labels = self._augment(self.data.labeled_images[lidx], self.data.labeled_labels[lidx], g)
        unl, _ = self._augment(self.data.unlabeled_images[uidx], None, g)
        if method == "mean-teacher":
            return self._mean_teacher_step(images, labels, unl, iteration, g)
        lh, uh = len(lidx) // 2, len(uidx) // 2
        ra, rb, ya, yb = images[:lh], images[lh:], labels[:lh], labels[lh:]
        sa, sb = unl[:uh], unl[uh:]
        alpha, m = blend_alpha(lh, *ra.shape[-2:], c.blend, generator=g)  # (the teacher draws nothing from g)
        la, lb, ua, ub = lidx[:lh], lidx[lh:], uidx[:uh], uidx[uh:]
        # Every rank drew the whole batch's random numbers above; from here on each works on its share of it.
        ra, rb, ya, yb, sa, sb, alpha, m, la, lb, ua, ub = self.dist.rows(ra, rb, ya, yb, sa, sb, alpha, m,
                                                                          la, lb, ua, ub)
        with torch.no_grad():
            self.teacher.train(self.config.train.teacher_train_mode)
            pa = pseudo_labels(self._forward(self.teacher, sa)[0], largest_cc=c.train.pseudo_largest_cc)
            pb = pseudo_labels(self._forward(self.teacher, sb)[0], largest_cc=c.train.pseudo_largest_cc)
        if method == "bcp":
            w = c.train.unlabeled_weight
            out1 = self._forward(self.student, mix(sa, ra, m))[0]
            out2 = self._forward(self.student, mix(rb, sb, m))[0]
            l1, _ = bcp_mix_loss(out1, pa, ya, m, outside_weight=w, inside_weight=1.0)
            l2, _ = bcp_mix_loss(out2, yb, pb, m, outside_weight=1.0, inside_weight=w)
            return {"unsup": l1, "sup": l2, "total": l1 + l2}
        pair = bidirectional_mix(ra, rb, sa, sb, one_hot(ya, k), one_hot(yb, k), one_hot(pa, k), one_hot(pb, k),
                                 alpha)
        out1, f1 = self._forward(self.student, pair.x1)
        out2, f2 = self._forward(self.student, pair.x2)
        l1, _ = soft_seg_loss(out1, pair.y1)   # mostly synthetic, pseudo-labelled outside the box
        l2, _ = soft_seg_loss(out2, pair.y2)   # mostly real, labelled outside the box
        losses = {"unsup": l1, "sup": l2, "total": l1 + l2}
        if self.projector is not None:
            sa_loss = self._alignment_loss(f1, f2, alpha, la, lb, ua, ub, sa, sb)
            losses["sa"] = sa_loss
            losses["total"] = losses["total"] + c.alignment.weight * sa_loss
        return losses

    def _mean_teacher_step(self, images, labels, unl, iteration: int, g) -> dict[str, torch.Tensor]:
        c = self.config.train
        noise = (torch.randn(unl.shape, generator=g, device=unl.device) * 0.1).clamp(-0.2, 0.2)
        half, uhalf = len(images) // 2, len(unl) // 2  # this rank's share of each half of the global batch
        images = torch.cat(self.dist.rows(images[:half], images[half:]))
        labels = torch.cat(self.dist.rows(labels[:half], labels[half:]))
        unl = torch.cat(self.dist.rows(unl[:uhalf], unl[uhalf:]))
        noise = torch.cat(self.dist.rows(noise[:uhalf], noise[uhalf:]))
        with torch.no_grad():
            self.teacher.train(c.teacher_train_mode)
            t_logits = self._forward(self.teacher, unl + noise)[0]
        logits = self._forward(self.student, torch.cat([images, unl]))[0]
        sup, _ = soft_seg_loss(logits[: len(images)], one_hot(labels, self.data.num_classes))
        weight = c.consistency * sigmoid_rampup(iteration // 150, c.consistency_rampup)
        cons = consistency_loss(logits[len(images):], t_logits)
        return {"sup": sup, "unsup": cons, "total": sup + weight * cons}

    # --- similarity alignment --------------------------------------------------------------------------------------
    def _build_alignment_targets(self) -> None:
        """Embed the labelled real slices and the unlabelled slices once (cached on disk), pick each unlabelled
        slice's nearest real slice, then drop the encoder: it never runs inside the loop."""
        from sra_seg_core.alignment import Projector, build_bank, nearest

        a = self.config.alignment
        cache = Path(a.cache_dir) if a.cache_dir else self.run_dir.parent / ".cache" / "dinov2"
        tokens = a.mode == "tokens"
        self.emit(Event("stage", stage="selftrain", message="building the DINOv2 real bank"))
        t0 = time.time()
        encoder = self._encoder.to(self.device)  # kept on the CPU through stage 1, on the device only for this
        with self.dist.main_first():  # rank 0 fills the cache; the others then read it
            real = build_bank(self.data.labeled_images[:, 0].cpu().numpy(), encoder, self.encoder_info,
                              cache_dir=cache, tokens=tokens, batch_size=a.batch_size, device=self.device)
            syn = build_bank(self.data.unlabeled_images[:, 0].cpu().numpy(), encoder, self.encoder_info,
                             cache_dir=cache, tokens=False, batch_size=a.batch_size, device=self.device)
        del encoder
        self.real_bank = real.to(self.device)
        self.nearest_real = nearest(self.real_bank, syn.cls.to(self.device))[0]
        self._encoder = None  # frees the ViT; the banks are all the loop needs
        self.emit(Event("stage", stage="selftrain", message="DINOv2 banks ready",
                        extra={"seconds": round(time.time() - t0, 2), "real": len(real.cls), "synthetic": len(syn.cls),
                               "encoder_weights": self.encoder_info.weights}))
        torch.manual_seed(self.config.train.seed + 1)
        self.projector = Projector(self.student.bottleneck_channels, self.encoder_info.embed_dim, mode=a.mode,
                                   hidden=a.projector_hidden).to(self.device)
        # The projector's only loss is lambda_SA * L_SA; dividing the learning rate by lambda_SA gives it the same
        # effective step as the network's on its unit-weighted loss.
        o = self.config.optim
        self.projector_optimizer = torch.optim.SGD(self.projector.parameters(), lr=o.lr / max(a.weight, 1e-8),
                                                   momentum=o.momentum, weight_decay=o.weight_decay)

    def _alignment_loss(self, f1, f2, alpha, la, lb, ua, ub, sa, sb) -> torch.Tensor:
        from sra_seg_core.alignment import alignment_loss

        a = self.config.alignment
        bank, near = self.real_bank, self.nearest_real
        tokens = a.mode == "tokens"

        def target(rows):
            return bank.tokens[rows].float() if tokens else bank.cls[rows]

        def project(features, weights):
            out = self.projector(features.float(), weights)
            return out if tokens else (out, None)

        if a.source == "unmixed":
            f_syn = self._forward_encoder(torch.cat([sa, sb]))
            z_syn, w_syn = project(f_syn, None)
        else:
            z1, w1 = project(f1, alpha)
            z2, w2 = project(f2, 1 - alpha)
            z_syn = torch.cat([z1, z2])
            w_syn = torch.cat([w1, w2]) if tokens else None
        loss = alignment_loss(z_syn, target(near[torch.cat([ua, ub])]), w_syn)
        if a.real_anchor:
            r1, rw1 = project(f1, 1 - alpha)
            r2, rw2 = project(f2, alpha)
            loss = loss + alignment_loss(torch.cat([r1, r2]), target(torch.cat([la, lb])),
                                         torch.cat([rw1, rw2]) if tokens else None)
        return loss

    def _forward_encoder(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            return self.student.encode(self._layout(x))[-1]

    # --- shared pieces ----------------------------------------------------------------------------------------------
    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _forward(self, model, x):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            return self._runner(model)(self._layout(x))

    def _runner(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` itself, or with ``train.compile`` its ``torch.compile`` wrapper (made on first use). Only the
        training forward passes go through the wrapper; validation and checkpoints use the plain module."""
        if not self.config.train.compile:
            return model
        compiled = self._compiled.get(id(model))
        if compiled is None or compiled._orig_mod is not model:
            compiled = self._compiled[id(model)] = torch.compile(model)
        return compiled

    def _augment(self, images, labels, g):
        a = self.config.augment
        if not a.enabled:
            return images, labels
        from sra_seg_core.augment import random_augment

        return random_augment(images, labels, generator=g, p_rot_flip=a.p_rot_flip, p_rotate=a.p_rotate,
                              max_angle=a.max_angle)

    def _stage_description(self, stage: str) -> str:
        c = self.config
        m = c.train.method
        if stage == "pretrain":
            return {"supervised": "supervised training on the labelled slices",
                    "mean-teacher": "stage 1: supervised pre-training",
                    "bcp": "stage 1: copy-paste pre-training (real into real)",
                    "sra-seg": "stage 1: soft-blend pre-training (real into real)"}[m]
        sa = ("with similarity alignment" if c.uses_alignment else "without similarity alignment")
        return {"mean-teacher": "stage 2: mean teacher with consistency on the unlabelled images",
                "bcp": "stage 2: bidirectional copy-paste with pseudo-labels",
                "sra-seg": f"stage 2: bidirectional {'hard' if c.blend.hard else 'soft'} blending {sa}"}[m]

    def _loop(self, stage: str, start: int, total: int, make_step) -> None:
        """Iterations ``start .. total-1`` of a stage. ``make_step()`` builds the step function for the current batch
        sizes; out of memory halves the batch (say so in a warning event) and retries the same iteration."""
        c = self.config.train
        sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
        window_start, window_iters = time.time(), 0
        self.student.train()
        step = make_step()
        i = start
        while i < total:
            if self.dist.any(self.stop_flag.is_set()):  # every rank stops at the same iteration
                self._save_latest(stage, i)
                raise StopRequested
            seed = _iteration_seed(c.seed, stage, i)
            torch.manual_seed(self.dist.seed(seed))
            g = torch.Generator(self.device).manual_seed(seed)
            self.optimizer.zero_grad(set_to_none=True)
            if self.projector is not None:
                self.projector_optimizer.zero_grad(set_to_none=True)
            out_of_memory = None
            try:
                losses = step(i, g)
                losses["total"].backward()
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not _is_out_of_memory(exc):
                    raise
                out_of_memory = exc
            if self.dist.any(out_of_memory is not None):  # every rank halves at the same iteration
                self._halve_batch(stage, out_of_memory)
                step = make_step()
                continue
            self.dist.average_gradients(self.student, self.projector)
            self.optimizer.step()
            if self.projector is not None:
                self.projector_optimizer.step()
            if self.teacher is not None:
                ema_update(self.teacher, self.student, c.ema_decay)
            for name, value in losses.items():
                sums[name] += value.detach().float()
            window_iters += 1
            done = i + 1
            if done % c.log_every == 0 or done == total:
                self._emit_progress(stage, done, total, self.dist.mean(sums), window_iters, time.time() - window_start)
                sums.clear()
                window_start, window_iters = time.time(), 0
            if done % c.validate_every == 0 or done == total:
                self._validate(stage, done)
            if done % c.checkpoint_every == 0 or done == total:
                self._save_latest(stage, done)
            i = done

    def _halve_batch(self, stage: str, exc: BaseException) -> None:
        """Out of memory: free what the failed step held and continue at half the batch, or explain what to do."""
        t = self.config.train
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        labeled, unlabeled = self.config.labeled_batch, t.batch_size - self.config.labeled_batch
        w = self.dist.world_size  # under torchrun each rank's halves shrink, so the batch still splits evenly
        if labeled <= 2 * w and unlabeled <= 2 * w:
            raise ConfigError(f"out of {'GPU ' if self.device.type == 'cuda' else ''}memory even at batch size "
                              f"{t.batch_size}: lower data.image_size, or train on another device "
                              "(--device cpu)") from exc
        new_labeled = 2 * w * max(1, labeled // (4 * w))
        new_unlabeled = min(unlabeled, 2 * w * max(1, unlabeled // (4 * w))) if unlabeled else 0
        t.labeled_batch, t.batch_size = new_labeled, new_labeled + new_unlabeled
        message = (f"out of {'GPU ' if self.device.type == 'cuda' else ''}memory at batch size "
                   f"{labeled + unlabeled}; continuing at batch size {t.batch_size} "
                   f"({new_labeled} labelled + {new_unlabeled} unlabelled)")
        self.warn(message, stage)
        self._write_metadata(batch_size_reduced_to=t.batch_size, batch_reduction_reason=message)

    def _emit_progress(self, stage, done, total, sums, n, seconds) -> None:
        losses = {k: round(float(v) / n, 6) for k, v in sums.items()}
        rate = n / seconds if seconds > 0 else None
        left = total - done + (self.stage_totals.get("selftrain", 0) if stage == "pretrain" and
                               self.config.two_stage else 0)
        self.emit(Event("progress", stage=stage, iteration=done, total=total, losses=losses,
                        lr=self.optimizer.param_groups[0]["lr"], throughput=round(rate, 4) if rate else None,
                        eta_s=round(left / rate, 1) if rate else None, memory_mb=round(self._memory_mb(), 1)))

    def _memory_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 1024 if platform.system() != "Darwin" else rss / 2**20

    # --- validation and checkpoints ---------------------------------------------------------------------------------
    def validate(self, model: torch.nn.Module) -> tuple[dict[str, float], float]:
        """Mean Dice per class over the validation volumes (the reference's selection criterion)."""
        from sra_seg_core.metrics import dice_score

        k = self.data.num_classes
        per_class = np.zeros(k - 1)
        for vol in self.dist.items(self.data.val):  # each rank a share of the volumes; sums all-reduced below
            pred = predict_volume(model, vol.image, size=self.config.data.image_size, device=self.device,
                                  autocast=self.autocast)
            for c in range(1, k):
                per_class[c - 1] += dice_score(pred == c, vol.label == c)
        per_class = self.dist.sum(torch.from_numpy(per_class)).numpy() / len(self.data.val)
        names = self.data.class_names[1:] if len(self.data.class_names) == k else [str(c) for c in range(1, k)]
        return {n: round(float(v), 6) for n, v in zip(names, per_class)}, float(per_class.mean())

    def _validate(self, stage: str, done: int) -> None:
        dice, mean = self.validate(self.student)
        self.student.train()
        improved = mean > self.best[stage]
        if improved:
            self.best[stage] = mean
        self.emit(Event("validation", stage=stage, iteration=done, total=self.stage_totals[stage], dice=dice,
                        mean_dice=round(mean, 6), best_dice=round(self.best[stage], 6)))
        if improved:
            final = stage == "selftrain" or not self.config.two_stage
            name = "best.pt" if final else "pretrain_best.pt"
            extra = {"optimizer": self.optimizer.state_dict()} if not final else {}
            path = self._save(name, self._model_state(self.student, stage, done, mean) | extra)
            self.emit(Event("checkpoint", stage=stage, iteration=done, path=str(path), mean_dice=round(mean, 6),
                            message="best"))

    def _model_state(self, model, stage: str, iteration: int, dice: float | None) -> dict:
        """What inference needs: weights plus plain descriptions (loadable with weights_only=True)."""
        c = self.config
        return {
            "format": "sra-seg-checkpoint", "version": 1,
            "model": {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
            "model_config": {"in_channels": c.model.in_channels, "channels": list(c.model.channels),
                             "dropout": list(c.model.dropout)},
            "num_classes": self.data.num_classes, "class_names": list(self.data.class_names),
            "image_size": c.data.image_size, "grey": self.data.grey,
            "meta": {"method": c.train.method, "stage": stage, "iteration": iteration, "dice": dice,
                     "sa": c.uses_alignment,
                     "encoder_weights": self.encoder_info.weights if self.encoder_info else None,
                     "time": time.time()},
            "config": c.to_dict(),
        }

    def _save(self, name: str, state: dict) -> Path:
        def write(tmp: Path) -> None:
            try:
                torch.save(state, tmp)
            except RuntimeError as exc:  # torch's zip writer reports a full disk or a failed write as RuntimeError
                raise OSError(errno.EIO, f"could not write the checkpoint ({str(exc)[:200]})") from exc

        if not self.dist.is_main:
            return self.ckpt_dir / name
        return atomic_write(self.ckpt_dir / name, write)

    def _save_latest(self, stage: str, done: int) -> None:
        state = self._model_state(self.student, stage, done, None)
        state.update(stage=stage, iteration=done, best=dict(self.best), optimizer=self.optimizer.state_dict(),
                     torch_rng=torch.get_rng_state())
        if self.teacher is not None:
            state["teacher"] = {k: v.detach().clone() for k, v in self.teacher.state_dict().items()}
        if self.projector is not None:
            state["projector"] = self.projector.state_dict()
            state["projector_optimizer"] = self.projector_optimizer.state_dict()
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        path = self._save("latest.pt", state)
        self.emit(Event("checkpoint", stage=stage, iteration=done, path=str(path), message="latest"))

    def _load_checkpoint(self, path: Path, required: bool = True) -> dict | None:
        if not path.exists():
            if required:
                raise ConfigError(f"cannot resume: {path} does not exist (was the run started?)")
            return None
        return read_checkpoint(path, map_location=self.device)

    def _load_latest(self) -> dict:
        state = self._load_checkpoint(self.ckpt_dir / "latest.pt")
        if state.get("format") != "sra-seg-checkpoint" or "stage" not in state:
            raise ConfigError(f"{self.ckpt_dir / 'latest.pt'} is not a resumable SRA-Seg checkpoint")
        torch.set_rng_state(state["torch_rng"].cpu())
        return state
