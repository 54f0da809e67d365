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

from sra_seg_core import __version__, distributed, runs
from sra_seg_core.atomic import atomic_write
from sra_seg_core.batch_split import batch_parts
from sra_seg_core.blend import bidirectional_mix, blend_alpha, mix, one_hot
from sra_seg_core.checkpoints import check_model_checkpoint, check_resumable
from sra_seg_core.config import RunConfig, save_config_file
from sra_seg_core.ema import EmaUpdater
from sra_seg_core.errors import ConfigError, TrainingError
from sra_seg_core.events import Event, EventSink, JsonLinesSink, fan_out
from sra_seg_core.graphs import capture_refusal, compile_for_training, mark_step
from sra_seg_core.inference import predict_volume, read_checkpoint, resolve_device
from sra_seg_core.losses import bcp_mix_loss, consistency_loss, sigmoid_rampup, soft_seg_loss
from sra_seg_core.model import UNet, build_model
from sra_seg_core.oom import IterationSnapshot, free_memory, is_out_of_memory, with_smaller_batches
from sra_seg_core.teacher import default_rounds, pseudo_labels

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
    # The reference protocol augments each slice at its own size before the zoom: the slices as loaded, (H_i, W_i).
    labeled_native: list[np.ndarray] | None = None
    labeled_native_labels: list[np.ndarray] | None = None
    unlabeled_native: list[np.ndarray] | None = None


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
    from sra_seg_core.protocol import config_choices

    choices = config_choices(config)
    opts = dict(size=d.image_size, num_classes=dataset.num_classes, grey=dataset.grey,
                binarize=dataset.binarize_labels, resize="zoom0" if choices.resize == "zoom0" else "linear")
    lab = ds.load_slices(labeled, labels=True, require_foreground=True, **opts)
    native = {}
    if choices.augment_native:
        native["labeled"] = ds.load_slices(labeled, labels=True, **{**opts, "size": None})
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
        if choices.augment_native:
            native["unlabeled"] = ds.load_slices(unlabeled_cases, labels=False, **{**opts, "binarize": False,
                                                                                  "size": None})
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
            "protocol": choices.name,
        },
        labeled_native=native["labeled"].images if native else None,
        labeled_native_labels=native["labeled"].labels if native else None,
        unlabeled_native=native["unlabeled"].images if "unlabeled" in native else None,
    )
    if len(lab) < config.labeled_batch:
        warnings.warn(f"only {len(lab)} labelled slices for a labelled batch of {config.labeled_batch}; "
                      "slices repeat within a batch")
    return data


# --- sampling --------------------------------------------------------------------------------------------------
class EpochSampler:
    """Indices for iteration i: consecutive chunks of per-epoch permutations, a pure function of (seed, i).

    The indices of all ``iterations`` are drawn at construction (epoch e's permutation from seed * 1000003 + e) and
    copied to the device once, so a step slices a device tensor and nothing crosses from the host during the run
    (ACDC's 60 000 iterations of 12: 5.8 MB). ``drop_last`` (the reference's TwoStreamBatchSampler): an epoch is
    n // per_batch whole batches and the slices left over are not seen that epoch; with fewer slices than one batch
    nothing could be dropped, so none is.
    """

    def __init__(self, n: int, per_batch: int, seed: int, device: torch.device, iterations: int, *,
                 drop_last: bool = False):
        self.n, self.per_batch, self.iterations = n, per_batch, iterations
        # slices an epoch uses: whole batches only when dropping the last incomplete one
        used = n // per_batch * per_batch if drop_last and n >= per_batch else n
        epochs = max(1, -(-iterations * per_batch // used))
        perms = [torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + e))[:used]
                 for e in range(epochs)]
        self.table = torch.cat(perms)[: iterations * per_batch].to(device)

    def indices(self, iteration: int) -> torch.Tensor:
        if not 0 <= iteration < self.iterations:
            raise IndexError(f"iteration {iteration} is outside the sampler's {self.iterations} iterations")
        return self.table[iteration * self.per_batch:(iteration + 1) * self.per_batch]


def _failure_text(exc: BaseException) -> str:
    """An out-of-memory error as one short line (kept instead of the exception, whose traceback holds the step's
    tensors)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


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
        self.ckpt_dir = self.run_dir / runs.CHECKPOINT_DIR
        self._external_emit = emit
        self._data = data
        self.stop_flag = threading.Event()
        self.dist = distributed.current()  # one process, or this rank of a torchrun job (see distributed.py)
        self.dist.check_batch(*batch_parts(self.config))
        self.device = distributed.training_device(resolve_device(self.config.train.device), self.dist)
        from sra_seg_core.protocol import config_choices

        self.protocol = config_choices(self.config)
        # The box corner range is the protocol's unless the config names it (the fives preset does).
        self.blend = replace(self.config.blend, corner_inclusive=self.protocol.corner_inclusive)
        self._reference_encoder = None
        self.encoder_info = None
        self.events_sink: JsonLinesSink | None = None
        self._validation = None  # the validation volumes on the device, prepared at the first validation
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
        if not self.dist.is_main:  # rank 0 writes for the whole run
            return
        runs.update_meta(self.run_dir, **updates)

    # --- set-up --------------------------------------------------------------------------------------------------
    def _setup_device(self) -> None:
        t = self.config.train
        if t.num_threads:
            torch.set_num_threads(t.num_threads)
        if self.device.type == "cuda":
            # deterministic (CUDA): cuDNN's deterministic algorithms and no autotuning, deterministic cuBLAS
            # workspaces, torch's deterministic implementations where they exist. Bilinear upsampling's backward has
            # none on CUDA (atomic adds), so even then two runs may differ in the last bits; it is warned, not refused.
            torch.backends.cudnn.benchmark = not t.deterministic
            torch.backends.cudnn.deterministic = t.deterministic
            if t.deterministic:
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        else:
            _keep_freed_memory()
        # Sync-free step (CUDA): pseudo-labels with a fixed number of labelling rounds, nothing read to the host
        # between progress events; on the CPU scipy's labelling is the faster exact path.
        self.sync_free = self.device.type == "cuda"
        self.cc_rounds = default_rounds(self.config.data.image_size, self.config.data.image_size)
        self.cc_converged = torch.ones((), dtype=torch.bool, device=self.device)
        refusal = capture_refusal(self.device) if t.cuda_graphs else None
        if refusal:
            self.warn(refusal)
        self.graphs = t.cuda_graphs and refusal is None
        self.autocast = self.device.type == "cuda" and t.amp in ("auto", "bf16") and self.protocol.amp_allowed
        # Channels-last is the faster layout on CUDA (tensor cores) and, with the model's plain-layout weight
        # gradient, on the CPU too (oneDNN's NHWC kernels); "auto" is therefore on everywhere.
        self.channels_last = t.channels_last in ("on", "auto")
        if t.compile or self.graphs:
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

    def _optimizer(self, params, lr: float | None = None) -> torch.optim.SGD:
        o = self.config.optim
        return torch.optim.SGD(params, lr=o.lr if lr is None else lr, momentum=o.momentum,
                               weight_decay=o.weight_decay, **self._sgd_kernels())

    def _sgd_kernels(self) -> dict:
        """One fused kernel for the whole SGD step on CUDA; the CPU keeps torch's default (bit-identical runs)."""
        return {"fused": True} if self.device.type == "cuda" else {}

    def _load_optimizer(self, optimizer: torch.optim.Optimizer, state: dict) -> None:
        optimizer.load_state_dict(state)
        for group in optimizer.param_groups:  # a saved group brings its own kernel choice (e.g. from a CPU run)
            group.update({"fused": None, "foreach": None} | self._sgd_kernels())

    def _prepare_alignment(self) -> None:
        """Resolve the DINOv2 encoder before any training, so missing weights fail in seconds, not hours."""
        if not self.config.uses_alignment:
            return
        if self.protocol.reference_sa:
            self._prepare_reference_sa()
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
            self.emit(Event("warning", encoder_pretrained=False, message=(
                f"DINOv2 encoder {name} is UNTRAINED (random weights, allowed by --allow-untrained-encoder): "
                "the similarity-alignment term has no pretrained semantics; results are not the method's")))

    def _prepare_reference_sa(self) -> None:
        """The released SA term's frozen ViT-B/16 ImageNet classifier (it sends no gradient; see alignment.py)."""
        from sra_seg_core.alignment import load_reference_encoder

        a = self.config.alignment
        extra = {"depth": a.encoder_depth} if a.encoder_depth else {}
        self._reference_encoder, self.encoder_info = load_reference_encoder(
            weights_file=a.weights_file, allow_untrained=a.allow_untrained, download=a.download and not extra,
            device=self.device, **extra)
        self._write_metadata(encoder={"name": self.encoder_info.name, "weights": self.encoder_info.weights,
                                      "pretrained": self.encoder_info.pretrained, "released_sa_term": True})
        if not self.encoder_info.pretrained:
            self.warn(f"the released SA encoder {self.encoder_info.name} is UNTRAINED (allowed by "
                      "--allow-untrained-encoder): the logged SA value has no ImageNet meaning (the term sends no "
                      "gradient, so training is the same either way)")

    def _reference_sa(self, real: torch.Tensor, synthetic: torch.Tensor, losses: dict) -> dict:
        """Add the released SA term (weight alignment.weight) to ``losses``; a no-op unless it is in use."""
        if self._reference_encoder is None:
            return losses
        from sra_seg_core.alignment import reference_sa_loss

        sa = reference_sa_loss(real, synthetic, self._reference_encoder)
        return {**losses, "sa": sa, "total": losses["total"] + self.config.alignment.weight * sa}

    # --- the run -----------------------------------------------------------------------------------------------------
    def run(self, *, resume: bool = False) -> RunResult:
        from sra_seg_core.run_lock import RunLock

        self.run_dir.mkdir(parents=True, exist_ok=True)
        # before any write: a second trainer must not touch a running run's files (rank 0 holds it for a torchrun job)
        lock = RunLock(self.run_dir) if self.dist.is_main else None
        self.ckpt_dir.mkdir(exist_ok=True)
        if self.dist.is_main:
            self.events_sink = JsonLinesSink(self.run_dir / runs.EVENTS_FILE)
            self._emit = fan_out(self.events_sink, self._external_emit)
        else:  # rank 0 reports for the whole run
            self._emit = lambda event: None
        try:
            with self._signals(), self._warnings_as_events():
                return self._run(resume)
        except BaseException as exc:
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                from sra_seg_core.errors import error_line

                self.emit(Event("error", message=error_line(exc), extra={"type": type(exc).__name__}))
                self._write_metadata(status="failed", error=error_line(exc), finished=time.time())
            raise
        finally:
            if self.events_sink is not None:
                self.events_sink.close()
            if lock is not None:
                lock.release()

    def _run(self, resume: bool) -> RunResult:
        c = self.config
        self._setup_device()
        state = self._load_latest() if resume else None
        if self.dist.is_main:
            save_config_file(c, self.run_dir / runs.CONFIG_FILE)  # a resume may have lengthened the schedule
        if not resume:
            self._write_metadata(version=__version__, method=c.train.method, created=time.time(), status="running",
                                 device=str(self.device), torch=torch.__version__, python=platform.python_version(),
                                 pid=os.getpid(), world_size=self.dist.world_size)
        else:
            self._write_metadata(status="running", resumed=time.time(), pid=os.getpid(),
                                 world_size=self.dist.world_size)
        self._prepare_alignment()
        self.emit(Event("stage", message="loading data", device=str(self.device)))
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
        best_path = self.ckpt_dir / runs.BEST
        result = RunResult(status, self.best.get(final, -1.0), best_path if best_path.exists() else None,
                           self.run_dir, dict(self.stage_totals))
        best = result.best_dice if result.best_dice >= 0 else None   # -1: never validated
        self._write_metadata(status=status, best_dice=best, finished=time.time(),
                             best_checkpoint=str(best_path) if result.best_path else None)
        said = f"best validation mean Dice {best:.4f}" if best is not None else "no validation yet"
        self.emit(Event("done", status=status, best_dice=best, kind="best" if result.best_path else None,
                        path=str(result.best_path) if result.best_path else None,
                        message=f"training {status}; {said}"))
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
            self._load_optimizer(self.optimizer, state["optimizer"])
        elif c.train.init_checkpoint:
            self._load_initial_weights(Path(c.train.init_checkpoint))
        self.emit(Event("stage", stage=stage, iteration=start, total=total,
                        message=self._stage_description(stage)))
        def make_step():
            lab = EpochSampler(len(self.data.labeled_images), c.labeled_batch, c.train.seed, self.device, total,
                               drop_last=self.protocol.drop_last)
            return lambda i, g: self._pretrain_step(lab.indices(i), g)

        self._loop(stage, start, total, make_step)

    def _pretrain_step(self, idx: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
        c, method = self.config, self.config.train.method
        images, labels = self._labelled_batch(idx, g)
        k = self.data.num_classes
        if method in ("supervised", "mean-teacher"):
            images, labels = self.dist.rows(images, labels)  # this rank's share of the global batch
            loss, parts = soft_seg_loss(self._forward(self.student, images)[0], one_hot(labels, k))
            return {"sup": loss, "total": loss}
        half = len(idx) // 2
        (ra, rb), (ya, yb) = (images[:half], images[half:]), (labels[:half], labels[half:])
        if method == "bcp":
            _, m = blend_alpha(half, *ra.shape[-2:], self.blend, generator=g)
            ra, rb, ya, yb, m = self.dist.rows(ra, rb, ya, yb, m)
            logits = self._forward(self.student, mix(ra, rb, m))[0]
            loss, _ = bcp_mix_loss(logits, ya, yb, m)
        else:  # sra-seg: real a soft-blended into real b
            alpha, _ = blend_alpha(half, *ra.shape[-2:], self.blend, generator=g)
            ra, rb, ya, yb, alpha = self.dist.rows(ra, rb, ya, yb, alpha)
            logits = self._forward(self.student, mix(ra, rb, alpha))[0]
            loss, _ = soft_seg_loss(logits, mix(one_hot(ya, k), one_hot(yb, k), alpha))
            return self._reference_sa(ra, ra, {"sup": loss, "total": loss})  # released: compute_sa_loss(img_a, img_a)
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
        init = state or self._load_checkpoint(self.ckpt_dir / runs.PRETRAIN_BEST, required=False)
        if init is None:
            self.warn("no stage-1 checkpoint (pretrain_iters = 0): stage 2 starts from random weights", stage)
            init = {"model": self.student.state_dict()}
        self.student.load_state_dict(init["model"])
        self.teacher.load_state_dict(init.get("teacher", init["model"]))
        if "optimizer" in init:  # the reference continues the stage-1 optimizer state (load_net_opt)
            self._load_optimizer(self.optimizer, init["optimizer"])
        self.projector = None
        if c.uses_alignment and not self.protocol.reference_sa:
            self._build_alignment_targets()
            if state and "projector" in state:
                self.projector.load_state_dict(state["projector"])
            if state and "projector_optimizer" in state:
                self._load_optimizer(self.projector_optimizer, state["projector_optimizer"])
        self.emit(Event("stage", stage=stage, iteration=start, total=total,
                        message=self._stage_description(stage)))
        def make_step():
            lab = EpochSampler(len(self.data.labeled_images), c.labeled_batch, c.train.seed, self.device, total,
                               drop_last=self.protocol.drop_last)
            unl = EpochSampler(len(self.data.unlabeled_images), c.train.batch_size - c.labeled_batch,
                               c.train.seed + 1, self.device, total)
            return lambda i, g: self._selftrain_step(lab.indices(i), unl.indices(i), i, g)

        self._loop(stage, start, total, make_step)

    def _selftrain_step(self, lidx, uidx, iteration: int, g) -> dict[str, torch.Tensor]:
        c, method, k = self.config, self.config.train.method, self.data.num_classes
        images, labels = self._labelled_batch(lidx, g)
        unl = self._unlabelled_batch(uidx, g)
        if method == "mean-teacher":
            return self._mean_teacher_step(images, labels, unl, iteration, g)
        lh, uh = len(lidx) // 2, len(uidx) // 2
        ra, rb, ya, yb = images[:lh], images[lh:], labels[:lh], labels[lh:]
        sa, sb = unl[:uh], unl[uh:]
        alpha, m = blend_alpha(lh, *ra.shape[-2:], self.blend, generator=g)  # (the teacher draws nothing from g)
        la, lb, ua, ub = lidx[:lh], lidx[lh:], uidx[:uh], uidx[uh:]
        # Every rank drew the whole batch's random numbers above; from here on each works on its share of it.
        ra, rb, ya, yb, sa, sb, alpha, m, la, lb, ua, ub = self.dist.rows(ra, rb, ya, yb, sa, sb, alpha, m,
                                                                          la, lb, ua, ub)
        with torch.no_grad():
            self.teacher.train(self.config.train.teacher_train_mode)
            # two teacher passes (train-mode BatchNorm sees each half alone, as the reference), one labelling pass
            teacher_logits = torch.cat([self._forward(self.teacher, sa)[0], self._forward(self.teacher, sb)[0]])
            sync_free = dict(rounds=self.cc_rounds, converged=self.cc_converged) if self.sync_free else {}
            pseudo = pseudo_labels(teacher_logits, largest_cc=c.train.pseudo_largest_cc, **sync_free)
            pa, pb = pseudo[:len(sa)], pseudo[len(sa):]
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
        losses = self._reference_sa(ra, sa, {"unsup": l1, "sup": l2, "total": l1 + l2})  # released: (img_a, uimg_a)
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
        def shrink(old: int, new: int) -> None:
            a.batch_size = new
            self.warn(f"out of memory building the DINOv2 bank at {old} images per batch; using {new}", "selftrain")

        def bank(images: torch.Tensor, with_tokens: bool):
            return with_smaller_batches(
                lambda b: build_bank(images[:, 0].cpu().numpy(), encoder, self.encoder_info, cache_dir=cache,
                                     tokens=with_tokens, batch_size=b, device=self.device),
                a.batch_size, self.device, on_retry=shrink)

        with self.dist.main_first():  # rank 0 fills the cache; the others then read it
            real = bank(self.data.labeled_images, tokens)
            syn = bank(self.data.unlabeled_images, False)
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
        self.projector_optimizer = self._optimizer(self.projector.parameters(), lr=o.lr / max(a.weight, 1e-8))

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
        return self.student.encode(self._layout(x))[-1]

    # --- shared pieces ----------------------------------------------------------------------------------------------
    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _autocast(self):
        """The step's one autocast region (bf16 on CUDA): weights are cast once per step, not once per forward."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)

    def _forward(self, model, x):
        """A training forward pass; the caller is inside :meth:`_autocast`."""
        return self._runner(model)(self._layout(x))

    def _runner(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` itself, or with ``train.compile`` / ``train.cuda_graphs`` its ``torch.compile`` wrapper (made on
        first use). Only the training forward passes go through the wrapper; validation and checkpoints use the
        plain module."""
        if not (self.config.train.compile or self.graphs):
            return model
        compiled = self._compiled.get(id(model))
        if compiled is None or compiled._orig_mod is not model:
            compiled = self._compiled[id(model)] = compile_for_training(model, graphs=self.graphs)
        return compiled

    def _labelled_batch(self, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Labelled slices ``idx``, augmented, at the training size: (B, 1, S, S) and (B, S, S) on the device."""
        if self.data.labeled_native is None:
            return self._augment(self.data.labeled_images[idx], self.data.labeled_labels[idx], g)
        return self._reference_batch(self.data.labeled_native, self.data.labeled_native_labels, idx, g, stream=0)

    def _unlabelled_batch(self, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        if self.data.unlabeled_native is None:
            return self._augment(self.data.unlabeled_images[idx], None, g)[0]
        return self._reference_batch(self.data.unlabeled_native, None, idx, g, stream=1)[0]

    def _reference_batch(self, images, labels, idx, g, *, stream: int):
        """The reference protocol: augment each native slice on the CPU, then the order-0 zoom (augment.py). The
        numpy stream is a function of the iteration's seed, so resuming stays exact."""
        from sra_seg_core.augment import reference_batch

        a = self.config.augment
        rng = np.random.default_rng([g.initial_seed(), stream])
        x, y = reference_batch(images, labels, idx.cpu().numpy(), self.config.data.image_size, rng,
                               augment=a.enabled, p_rot_flip=a.p_rot_flip, p_rotate=a.p_rotate,
                               max_angle=a.max_angle)
        return x.to(self.device), None if y is None else y.to(self.device)

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
        sizes; out of memory anywhere in an iteration (forward, backward, optimiser, EMA) puts the iteration's state
        back, halves the batch (say so in a warning event) and retries the same iteration."""
        c = self.config.train
        sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
        window_start, window_iters = time.time(), 0
        self.student.train()
        step = make_step()
        ema = EmaUpdater(self.teacher, self.student) if self.teacher is not None else None
        optimizers = [self.optimizer] + ([self.projector_optimizer] if self.projector is not None else [])
        snapshot = IterationSnapshot([m for m in (self.student, self.teacher, self.projector) if m is not None],
                                     optimizers)
        i = start
        while i < total:
            if self.dist.any(self.stop_flag.is_set()):  # every rank stops at the same iteration
                self._save_latest(stage, i)
                raise StopRequested
            seed = _iteration_seed(c.seed, stage, i)
            torch.manual_seed(self.dist.seed(seed))
            g = torch.Generator(self.device).manual_seed(seed)
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            snapshot.take()
            mark_step(self.graphs)
            failure = None
            try:
                with self._autocast():
                    losses = step(i, g)
                losses["total"].backward()
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc):
                    raise
                failure = _failure_text(exc)
            if self.dist.any(failure is not None):  # every rank retries the iteration smaller, or none does
                failure = failure or "out of memory in another process of this run"
            else:
                # gradients averaged over the ranks after the backward, not inside it, so that an out-of-memory
                # error is agreed on above before any rank waits for the others
                self.dist.average_gradients(self.student, self.projector)
                try:
                    for optimizer in optimizers:
                        optimizer.step()
                    if ema is not None:
                        ema.update(c.ema_decay)
                except (torch.OutOfMemoryError, RuntimeError) as exc:
                    if not is_out_of_memory(exc):
                        raise
                    failure = _failure_text(exc)
                if self.dist.any(failure is not None):
                    failure = failure or "out of memory in another process of this run"
            if failure is not None:  # outside the except block: the traceback and the step's tensors are released
                losses = None
                for optimizer in optimizers:
                    optimizer.zero_grad(set_to_none=True)
                snapshot.restore()
                free_memory(self.device)
                self._halve_batch(stage, failure)
                step = make_step()
                continue
            for name, value in losses.items():
                sums[name] += value.detach().float()
            window_iters += 1
            done = i + 1
            if any(done % every == 0 for every in (c.log_every, c.validate_every, c.checkpoint_every)) or done == total:
                self._check_finite(stage, done, sums)  # before anything is logged, kept as best or saved
            if done % c.log_every == 0 or done == total:
                self._emit_progress(stage, done, total, self.dist.mean(sums), window_iters, time.time() - window_start)
                sums.clear()
                window_start, window_iters = time.time(), 0
            if done % c.validate_every == 0 or done == total:
                self._validate(stage, done)
            if done % c.checkpoint_every == 0 or done == total:
                self._save_latest(stage, done)
            i = done

    def _check_finite(self, stage: str, done: int, sums: dict[str, torch.Tensor]) -> None:
        """A NaN or infinite loss since the last log poisons every weight: stop with an error. Checked only where
        the loop reports or saves, as one device sync, not every iteration."""
        if bool(torch.isfinite(sums["total"])):
            return
        bad = ", ".join(name for name, value in sums.items() if not bool(torch.isfinite(value)))
        raise TrainingError(f"training diverged in {stage} by iteration {done}: the loss ({bad}) became NaN or "
                            f"infinite; lower optim.lr (now {self.config.optim.lr:g}) or check the data for extreme "
                            "values. Nothing from the diverged iterations was saved", self.run_dir)

    def _halve_batch(self, stage: str, failure: str) -> None:
        """Out of memory (``failure``: the error's text): continue at half the batch, saved in config.yaml and
        run.json so that a resume continues with it, or explain what to do."""
        t = self.config.train
        labeled, unlabeled = self.config.labeled_batch, t.batch_size - self.config.labeled_batch
        w = self.dist.world_size  # under torchrun each rank's halves shrink, so the batch still splits evenly
        if labeled <= 2 * w and unlabeled <= 2 * w:
            raise ConfigError(f"out of {'GPU ' if self.device.type == 'cuda' else ''}memory even at batch size "
                              f"{t.batch_size}: lower data.image_size, or train on another device "
                              f"(--device cpu) [{failure[:200]}]")
        new_labeled = 2 * w * max(1, labeled // (4 * w))
        new_unlabeled = min(unlabeled, 2 * w * max(1, unlabeled // (4 * w))) if unlabeled else 0
        t.labeled_batch, t.batch_size = new_labeled, new_labeled + new_unlabeled
        message = (f"out of {'GPU ' if self.device.type == 'cuda' else ''}memory at batch size "
                   f"{labeled + unlabeled}; continuing at batch size {t.batch_size} "
                   f"({new_labeled} labelled + {new_unlabeled} unlabelled)")
        self.warn(message, stage)
        if self.dist.is_main:
            save_config_file(self.config, self.run_dir / runs.CONFIG_FILE)
        self._write_metadata(batch_size_reduced_to=t.batch_size, labeled_batch_reduced_to=t.labeled_batch,
                             batch_reduction_reason=message)

    def _check_labelling(self, stage: str) -> None:
        """At a progress event (the step's one host read): did the sync-free labelling settle within its rounds?
        If not, say so and give it twice the rounds from now on."""
        if not self.sync_free or bool(self.cc_converged):
            return
        self.warn(f"pseudo-label components did not settle within {self.cc_rounds} rounds on some masks; "
                  f"using {2 * self.cc_rounds} from now on", stage)
        self.cc_rounds *= 2
        self.cc_converged.fill_(True)

    def _emit_progress(self, stage, done, total, sums, n, seconds) -> None:
        self._check_labelling(stage)
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
        """Mean Dice per class over the validation volumes (the reference's selection criterion), computed on the
        device (:mod:`sra_seg_core.validation`); out of memory halves the validation batch."""
        from sra_seg_core.validation import DeviceValidation

        k = self.data.num_classes
        if self.protocol.resize == "zoom0":
            # the reference's order-0 zoom in and out, as predict_volume does it (host path, exact)
            from sra_seg_core.metrics import dice_score

            per_class = np.zeros(k - 1)
            for vol in self.data.val:
                pred = predict_volume(model, vol.image, size=self.config.data.image_size, device=self.device,
                                      autocast=self.autocast, resize=self.protocol.resize)
                for c in range(1, k):
                    per_class[c - 1] += dice_score(pred == c, vol.label == c)
            per_class /= len(self.data.val)
        else:
            if self._validation is None:
                self._validation = DeviceValidation(self.data.val, size=self.config.data.image_size, num_classes=k,
                                                    device=self.device)
                self._val_batch = 64 if self.device.type == "cuda" else 16

            def shrink(old: int, new: int) -> None:
                self._val_batch = new
                self.warn(f"out of memory in validation at {old} slices per batch; validating {new} at a time")

            per_class = with_smaller_batches(
                lambda b: self._validation.dice(model, batch_size=b, autocast=self.autocast),
                self._val_batch, self.device, on_retry=shrink)
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
            name = runs.BEST if final else runs.PRETRAIN_BEST
            extra = {"optimizer": self.optimizer.state_dict()} if not final else {}
            path = self._save(name, self._model_state(self.student, stage, done, mean) | extra)
            self.emit(Event("checkpoint", stage=stage, iteration=done, path=str(path), mean_dice=round(mean, 6),
                            kind="best" if final else "pretrain_best", message="best"))

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
        path = self._save(runs.LATEST, state)
        self._write_metadata(latest_stage=stage, latest_iteration=done, latest_has_teacher="teacher" in state)
        self.emit(Event("checkpoint", stage=stage, iteration=done, path=str(path), kind="latest", message="latest"))

    def _load_checkpoint(self, path: Path, required: bool = True) -> dict | None:
        if not path.exists():
            if required:
                raise ConfigError(f"cannot resume: {path} does not exist (was the run started?)")
            return None
        return check_model_checkpoint(read_checkpoint(path, map_location=self.device), path)

    def _load_initial_weights(self, path: Path) -> None:
        """Start the student from another run's weights (a fine-tune); they must fit this run's network."""
        weights = read_checkpoint(path, map_location=self.device).get("model")
        try:
            self.student.load_state_dict(weights)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(f"train.init_checkpoint {path}: its weights do not fit this run's network (same "
                              f"model.channels and classes needed): {str(exc)[:160]}") from None

    def _load_latest(self) -> dict:
        state = check_resumable(self._load_checkpoint(self.ckpt_dir / runs.LATEST), self.ckpt_dir / runs.LATEST)
        torch.set_rng_state(state["torch_rng"].cpu())
        meta = runs.read_meta(self.run_dir)
        if meta.batch_size_reduced_to is not None:  # an earlier out-of-memory: continue at the batch that fitted
            t = self.config.train
            t.batch_size, t.labeled_batch = meta.batch_size_reduced_to, meta.labeled_batch_reduced_to
        return state
