"""The one typed configuration tree for a training run.

The CLI (``--config``, ``--preset``, ``--set key=value``), the app's training form and a run's saved
``config.yaml`` all go through :class:`RunConfig`. Every number of the method is a field here; the defaults are the
reference implementation's (BCP-based SRA-Seg on ACDC), see ``SPEC.md``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from sra_seg_core.errors import ConfigError

METHODS = ("supervised", "mean-teacher", "bcp", "sra-seg")


@dataclass
class DataConfig:
    root: str = ""                      # labelled real data: ACDC / FIVES / generic folder (--data)
    synthetic: str = ""                 # folder of synthetic images for the unlabelled stream (--synthetic)
    layout: str = "auto"                # auto | acdc | fives | folder
    unlabeled: str = "synthetic"        # synthetic | real (the BCP ceiling: the unlabelled real training cases)
    labeled_fraction: float = 0.1       # of training patients (10 % of ACDC's 70 = 7)
    labeled_count: int | None = None    # patients; overrides labeled_fraction
    labeled_seed: int | None = None     # None: a prefix of the train order (the published protocol)
    split_seed: int = 1337
    image_size: int = 256
    grey: str = "luminance"             # colour -> grey rule for colour inputs
    num_classes: int | None = None      # None: from the dataset (ACDC 4, FIVES 2)
    max_val_cases: int | None = None    # validate on at most this many cases (None: all)


@dataclass
class ModelConfig:
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    dropout: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)
    in_channels: int = 1


@dataclass
class AugmentConfig:
    enabled: bool = True
    p_rot_flip: float = 0.5             # random quarter turn + flip
    p_rotate: float = 0.5               # otherwise: rotation within +-max_angle
    max_angle: float = 20.0


@dataclass
class BlendConfig:
    hole_fraction: float = 2 / 3        # zero box of floor(2H/3) x floor(2W/3)
    smoothing: str = "gaussian"         # gaussian (ACDC) | box (FIVES) | none
    kernel_size: int = 5                # ACDC 5x5 Gaussian; FIVES 7x7 box
    sigma: float = 1.0
    hard: bool = False                  # --hard-blend: the unsmoothed box (ablation)
    per_sample: bool = False            # the reference draws one box per batch


@dataclass
class AlignmentConfig:
    enabled: bool = True                # --no-sa turns the SA term off (sra-seg only)
    weight: float = 0.1                 # lambda_SA
    encoder: str = "vit_small_patch14_dinov2"
    encoder_depth: int | None = None    # fewer ViT blocks: tests and smoke runs with an untrained encoder only
    weights_file: str | None = None     # --dinov2-weights: official .pth or timm .safetensors
    download: bool = True               # try timm's pretrained download when no file is given
    allow_untrained: bool = False       # --allow-untrained-encoder (tests, demo): loudly flagged
    mode: str = "pooled"                # pooled (global CLS) | tokens (REPA-style patch tokens)
    source: str = "mixed"               # mixed: region-pooled bottleneck of x1/x2 | unmixed: extra encoder pass on S
    projector_hidden: int = 512
    real_anchor: bool = True            # also map real regions to their own embeddings (no collapse)
    cache_dir: str = ""                 # bank cache; "" = <run>/../.cache/dinov2 (shared by a project's runs)
    batch_size: int = 32


@dataclass
class OptimConfig:
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4


@dataclass
class TrainConfig:
    method: str = "sra-seg"
    seed: int = 1337
    pretrain_iters: int = 10_000
    selftrain_iters: int = 50_000
    batch_size: int = 24                # half labelled real, half unlabelled
    labeled_batch: int | None = None    # None: batch_size // 2
    validate_every: int = 200
    ema_decay: float = 0.99
    teacher_train_mode: bool = True     # the reference keeps the EMA teacher in train mode (BN batch stats, dropout)
    pseudo_largest_cc: bool = True
    unlabeled_weight: float = 0.5       # BCP: weight of the pseudo-labelled region in the hard mix loss
    consistency: float = 0.1            # mean teacher: consistency weight ...
    consistency_rampup: float = 200.0   # ... ramped up over this many "epochs" of 150 iterations (SSL4MIS)
    device: str = "auto"                # auto | cpu | cuda | cuda:k
    amp: str = "auto"                   # auto (bf16 on CUDA) | bf16 | off
    channels_last: str = "auto"         # auto (on) | on | off
    compile: bool = False               # torch.compile the student (CUDA)
    cuda_graphs: bool = False           # CUDA: training forwards as CUDA graphs (compile reduce-overhead); else eager
    deterministic: bool = False         # CUDA: deterministic cuDNN/cuBLAS, no autotuning (slower); the CPU always is
    log_every: int = 10                 # progress events
    checkpoint_every: int = 500         # latest.pt
    num_threads: int | None = None      # CPU threads (None: torch default)


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # --- (de)serialisation ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return _to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> RunConfig:
        config = cls()
        config.update(data, source=source)
        return config

    def update(self, data: dict, *, source: str = "config") -> RunConfig:
        """Merge a nested dict of values into this config (unknown keys are an error naming ``source``)."""
        for section, values in data.items():
            if not hasattr(self, section) or not dataclasses.is_dataclass(getattr(self, section)):
                raise ConfigError(f"{source}: unknown section '{section}' (known: {', '.join(_sections(self))})")
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: section '{section}' must be a table of values")
            for key, value in values.items():
                self.set(f"{section}.{key}", value, source=source)
        return self

    def set(self, dotted: str, value, *, source: str = "--set") -> None:
        """Set ``section.key`` to ``value`` (a typed value, or a string parsed to the field's type)."""
        section_name, _, key = dotted.partition(".")
        section = getattr(self, section_name, None)
        if section is None or not dataclasses.is_dataclass(section) or not key:
            raise ConfigError(f"{source}: unknown setting '{dotted}' (use section.key, sections: "
                              f"{', '.join(_sections(self))})")
        fields = {f.name: f for f in dataclasses.fields(section)}
        if key not in fields:
            raise ConfigError(f"{source}: unknown setting '{dotted}' (known in [{section_name}]: "
                              f"{', '.join(fields)})")
        hint = typing.get_type_hints(type(section))[key]
        setattr(section, key, _coerce(value, hint, f"{source}: {dotted}"))

    def copy(self) -> RunConfig:
        return copy.deepcopy(self)

    def validate(self) -> RunConfig:
        """Check values that would otherwise fail deep inside training; returns self."""
        t, d, b, a = self.train, self.data, self.blend, self.alignment
        checks = [
            (t.method in METHODS, f"train.method must be one of {', '.join(METHODS)}, not '{t.method}'"),
            (t.batch_size >= 2, "train.batch_size must be at least 2"),
            (self.labeled_batch >= 2 and self.labeled_batch % 2 == 0,
             "train.labeled_batch must be an even number >= 2 (it is split into halves a and b)"),
            (t.method == "supervised" or (t.batch_size - self.labeled_batch) >= 2
             and (t.batch_size - self.labeled_batch) % 2 == 0,
             "the unlabelled part of the batch (batch_size - labeled_batch) must be an even number >= 2"),
            (t.pretrain_iters >= 0 and t.selftrain_iters >= 0, "iteration counts must be >= 0"),
            (t.validate_every >= 1, "train.validate_every must be >= 1"),
            (0.0 <= t.ema_decay < 1.0, "train.ema_decay must be in [0, 1)"),
            (d.image_size >= 32 and d.image_size % 16 == 0, "data.image_size must be a multiple of 16, >= 32"),
            (d.unlabeled in ("synthetic", "real"), "data.unlabeled must be 'synthetic' or 'real'"),
            (d.labeled_count is not None or 0.0 < d.labeled_fraction <= 1.0,
             "data.labeled_fraction must be in (0, 1]"),
            (b.smoothing in ("gaussian", "box", "none"), "blend.smoothing must be gaussian, box or none"),
            (b.kernel_size >= 1 and b.kernel_size % 2 == 1, "blend.kernel_size must be odd"),
            (0.0 < b.hole_fraction < 1.0, "blend.hole_fraction must be in (0, 1)"),
            (a.mode in ("pooled", "tokens"), "alignment.mode must be pooled or tokens"),
            (a.source in ("mixed", "unmixed"), "alignment.source must be mixed or unmixed"),
            (len(self.model.channels) == len(self.model.dropout) == 5,
             "model.channels and model.dropout need 5 entries (one per encoder level)"),
            (t.amp in ("auto", "bf16", "off"), "train.amp must be auto, bf16 or off"),
            (t.channels_last in ("auto", "on", "off"), "train.channels_last must be auto, on or off"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    # --- derived values -------------------------------------------------------------------------------------------
    @property
    def labeled_batch(self) -> int:
        return self.train.labeled_batch or self.train.batch_size // 2

    @property
    def uses_alignment(self) -> bool:
        return self.train.method == "sra-seg" and self.alignment.enabled

    @property
    def two_stage(self) -> bool:
        return self.train.method != "supervised"


# --- presets -----------------------------------------------------------------------------------------------------
PRESETS: dict[str, dict] = {
    # The paper's schedules.
    "acdc": {"blend": {"smoothing": "gaussian", "kernel_size": 5, "sigma": 1.0},
             "train": {"pretrain_iters": 10_000, "selftrain_iters": 50_000}},
    "fives": {"blend": {"smoothing": "box", "kernel_size": 7},
              "data": {"layout": "fives", "grey": "luminance"},
              "train": {"pretrain_iters": 10_000, "selftrain_iters": 30_000}},
    # A few minutes on a 2-core CPU: the quick-start demo.
    "demo": {"data": {"image_size": 128},
             "train": {"pretrain_iters": 300, "selftrain_iters": 300, "batch_size": 8, "validate_every": 50,
                       "log_every": 5, "checkpoint_every": 100},
             "alignment": {"batch_size": 16}},
    # Seconds: tests and smoke runs.
    "tiny": {"data": {"image_size": 64},
             "model": {"channels": (4, 8, 16, 32, 64)},
             "train": {"pretrain_iters": 4, "selftrain_iters": 4, "batch_size": 4, "validate_every": 2,
                       "log_every": 1, "checkpoint_every": 2},
             "alignment": {"projector_hidden": 32, "batch_size": 8, "encoder_depth": 2}},
}


def preset(name: str) -> RunConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    return RunConfig.from_dict(PRESETS[name], source=f"preset {name}")


# --- files -------------------------------------------------------------------------------------------------------
def _one_line(exc: Exception) -> str:
    """A parser's error as one line: YAML's spans several (the offending text with a caret under it)."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"{getattr(exc, 'problem', None) or type(exc).__name__} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


def load_config_file(path: str | Path, base: RunConfig | None = None) -> RunConfig:
    """Read a YAML (.yaml/.yml), TOML (.toml) or JSON config file on top of ``base`` (default values)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", path) from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:  # each parser has its own error type; all mean "not a valid file"
        raise ConfigError(f"not a valid {path.suffix.lstrip('.') or 'YAML'} config: {_one_line(exc)}", path) from None
    if not isinstance(data, dict):
        raise ConfigError("a config file must hold a table of sections (data, train, blend, …)", path)
    config = (base or RunConfig()).copy()
    return config.update(data, source=str(path))


def save_config_file(config: RunConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomic)."""
    import yaml

    from sra_seg_core.atomic import atomic_write_text

    return atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


# --- helpers -----------------------------------------------------------------------------------------------------
def _sections(config) -> list[str]:
    return [f.name for f in dataclasses.fields(config)]


def _to_plain(value):
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _coerce(value, hint, where: str):
    """Convert ``value`` (possibly a string from --set) to the annotated type ``hint``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        return _coerce(value, options[0], where)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").replace("[", "").replace("]", "").split(",")
                     if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, item, where) for v in value)
    try:
        if hint is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(str(value).replace("_", "")) if isinstance(value, str) else int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}") from None
    return value
