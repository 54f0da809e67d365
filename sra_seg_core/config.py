"""The one typed configuration tree for a training run.

The CLI (``--config``, ``--preset``, ``--set key=value``), the app's training form and a run's saved
``config.yaml`` all go through :class:`RunConfig`. Every number of the method is a field here; the numbers are the
reference implementation's (BCP-based SRA-Seg on ACDC), see ``SPEC.md``, but three defaults are ours:
``train.protocol="studio"`` (``"reference"`` is the released protocol, see ``protocol.py``), ``train.amp="auto"``
(bf16 on CUDA; the released code is fp32) and ``alignment.enabled=True`` with our DINOv2 loss (the released SA term
is off by default and sends no gradient).

Each field declares what it allows next to its default, ``lr: float = setting(0.01, gt=0, le=100)`` (see
:class:`Allowed`); :meth:`RunConfig.set` checks a value as it comes in and :meth:`RunConfig.validate` checks the whole
tree, however its values were set, so every way in refuses a bad value with one line naming the field, the value and
what is allowed. A new field with its range is one line; the fuzz test (``tests/robustness/test_config_fuzz.py``)
draws from it without a change.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from sra_seg_core.errors import ConfigError, one_line

METHODS = ("supervised", "mean-teacher", "bcp", "sra-seg")
# Listed here rather than imported: importing the I/O and dataset packages would slow every ``sra-seg`` start (a test
# checks that they agree with ``io.grey.GREY_RULES`` and ``datasets.discover.LAYOUTS``).
GREY_RULES = ("luminance", "green", "mean", "first")
LAYOUTS = ("auto", "acdc", "fives", "folder", "synthetic", "project")
SEED_MAX = 2**32 - 1        # numpy's seed range; torch's is wider
ITERS_MAX = 10**9
DEVICE_PATTERN = r"auto|cpu|cuda(:[0-9]{1,3})?"   # [0-9], not \d: that matches any script's digits
DEVICE_FORMS = "auto, cpu, cuda or cuda:K (K a GPU number)"


# --- what each field allows ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Allowed:
    """The values a setting takes beyond its type: bounds (``ge``/``gt``/``le``/``lt``), ``choices``, a step, odd
    numbers only, a ``pattern`` (a regular expression the whole text must match, described by ``means``), or for a
    tuple its ``length`` (the other rules then apply to each item). Floats must also be finite, always."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple | None = None
    multiple_of: int | None = None
    odd: bool = False
    pattern: str | None = None
    means: str | None = None
    length: int | None = None

    def describe(self) -> str:
        """What is allowed, in words, e.g. ``a number > 0 and <= 1``."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        if self.pattern is not None:
            return self.means or f"text matching {self.pattern}"
        parts = [f"{op} {bound:g}" for op, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
                 if bound is not None]
        if self.multiple_of:
            parts.append(f"a multiple of {self.multiple_of}")
        if self.odd:
            parts.append("odd")
        return " and ".join(parts) or "any value of its type"

    def problem(self, value) -> str | None:
        """None when ``value`` (already of the field's type) is allowed, else the rule it breaks in words, e.g.
        ``odd`` or ``>= 1``; for a tuple, prefixed with what it says about the entries."""
        if self.length is not None and isinstance(value, tuple) and len(value) != self.length:
            return f"a list of {self.length} entries (one per encoder level)"
        each = "a list whose every entry is " if isinstance(value, tuple) else ""
        for item in value if isinstance(value, tuple) else (value,):
            broken = self._broken(item)
            if broken:
                return each + broken
        return None

    def _broken(self, item) -> str | None:
        if item is None:
            return None
        if isinstance(item, float) and not math.isfinite(item):
            return "a finite number"
        if self.choices is not None and item not in self.choices:
            return self.describe()
        if self.pattern is not None and not (isinstance(item, str) and re.fullmatch(self.pattern, item)):
            return self.describe()
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            for op, bound, ok in ((">=", self.ge, lambda b: item >= b), (">", self.gt, lambda b: item > b),
                                  ("<=", self.le, lambda b: item <= b), ("<", self.lt, lambda b: item < b)):
                if bound is not None and not ok(bound):
                    return f"{op} {bound:g}"
            if self.multiple_of and item % self.multiple_of:
                return f"a multiple of {self.multiple_of}"
            if self.odd and item % 2 != 1:
                return "odd"
        return None

    def refusal(self, where: str, value) -> str | None:
        """The one-line message refusing ``value`` for the setting ``where``, or None when it is allowed."""
        broken = self.problem(value)
        if broken is None:
            return None
        rules = self.describe()
        return f"{where} must be {broken}, not {_shown(value)}" + (f" (allowed: {rules})" if rules not in broken
                                                                      else "")


def setting(default, **rules):
    """A config field with its allowed values, one line per field: ``lr: float = setting(0.01, gt=0)``. A field
    declared without it gets its type checked (and floats finite) only. ``rules`` are :class:`Allowed`'s fields."""
    return field(default=default, metadata={"allowed": Allowed(**rules)})


def allowed(section, name: str) -> Allowed:
    """The rules of field ``name`` of a config section (dataclass instance or class)."""
    return {f.name: f for f in dataclasses.fields(section)}[name].metadata.get("allowed", Allowed())


def check_value(where: str, value, **rules):
    """Check a command-line option that is not a config field by the same rules (``check_value("--batch-size", n,
    ge=1)``); returns ``value`` or raises ConfigError naming ``where``, the value and what is allowed."""
    refusal = Allowed(**rules).refusal(where, value)
    if refusal:
        raise ConfigError(refusal)
    return value


@dataclass
class DataConfig:
    root: str = ""                      # labelled real data: ACDC / FIVES / generic folder (--data)
    synthetic: str = ""                 # folder of synthetic images for the unlabelled stream (--synthetic)
    layout: str = setting("auto", choices=LAYOUTS)
    # synthetic | real (the BCP ceiling: the unlabelled real training cases)
    unlabeled: str = setting("synthetic", choices=("synthetic", "real"))
    labeled_fraction: float = setting(0.1, gt=0, le=1)  # of training patients (10 % of ACDC's 70 = 7)
    labeled_count: int | None = setting(None, ge=1)  # patients; overrides labeled_fraction
    # None: a prefix of the train order (the published protocol)
    labeled_seed: int | None = setting(None, ge=0, le=SEED_MAX)
    split_seed: int = setting(1337, ge=0, le=SEED_MAX)
    image_size: int = setting(256, ge=32, le=4096, multiple_of=16)  # the U-Net pools four times
    grey: str = setting("luminance", choices=GREY_RULES)  # colour -> grey rule for colour inputs
    # None: from the dataset (ACDC 4, FIVES 2); label maps are uint8
    num_classes: int | None = setting(None, ge=2, le=256)
    max_val_cases: int | None = setting(None, ge=1)  # validate on at most this many cases (None: all)


@dataclass
class ModelConfig:
    channels: tuple[int, ...] = setting((16, 32, 64, 128, 256), ge=1, le=4096, length=5)  # per encoder level
    dropout: tuple[float, ...] = setting((0.05, 0.1, 0.2, 0.3, 0.5), ge=0, lt=1, length=5)
    in_channels: int = setting(1, choices=(1,))  # the data loaders feed grey slices


@dataclass
class AugmentConfig:
    enabled: bool = True
    p_rot_flip: float = setting(0.5, ge=0, le=1)  # random quarter turn + flip
    p_rotate: float = setting(0.5, ge=0, le=1)  # otherwise: rotation within +-max_angle
    max_angle: float = setting(20.0, ge=0, le=180)  # degrees


@dataclass
class BlendConfig:
    hole_fraction: float = setting(2 / 3, gt=0, lt=1)  # zero box of floor(2H/3) x floor(2W/3)
    smoothing: str = setting("gaussian", choices=("gaussian", "box", "none"))  # gaussian (ACDC) | box (FIVES) | none
    kernel_size: int = setting(5, ge=1, le=63, odd=True)  # ACDC 5x5 Gaussian; FIVES 7x7 box
    sigma: float = setting(1.0, gt=0, le=100)  # pixels
    hard: bool = False                  # --hard-blend: the unsmoothed box (ablation)
    per_sample: bool = False            # the reference draws one box per batch
    corner_inclusive: bool | None = None  # box corner 0..H-h (True) or 0..H-h-1; None: by train.protocol


@dataclass
class AlignmentConfig:
    enabled: bool = True                # --no-sa turns the SA term off (sra-seg only)
    weight: float = setting(0.1, ge=0, le=1000)  # lambda_SA
    encoder: str = "vit_small_patch14_dinov2"
    # fewer ViT blocks: tests and smoke runs with an untrained encoder only
    encoder_depth: int | None = setting(None, ge=1, le=64)
    weights_file: str | None = None     # --dinov2-weights: official .pth or timm .safetensors
    download: bool = True               # try timm's pretrained download when no file is given
    allow_untrained: bool = False       # --allow-untrained-encoder (tests, demo): loudly flagged
    # pooled (global CLS) | tokens (REPA-style patch tokens)
    mode: str = setting("pooled", choices=("pooled", "tokens"))
    # mixed: region-pooled bottleneck of x1/x2 | unmixed: extra encoder pass on S
    source: str = setting("mixed", choices=("mixed", "unmixed"))
    projector_hidden: int = setting(512, ge=1, le=65536)
    real_anchor: bool = True            # also map real regions to their own embeddings (no collapse)
    cache_dir: str = ""                 # bank cache; "" = <run>/../.cache/dinov2 (shared by a project's runs)
    batch_size: int = setting(32, ge=1, le=65536)  # slices per encoder pass


@dataclass
class OptimConfig:
    lr: float = setting(0.01, gt=0, le=100)
    momentum: float = setting(0.9, ge=0, lt=1)
    weight_decay: float = setting(1e-4, ge=0, le=1)


@dataclass
class TrainConfig:
    method: str = setting("sra-seg", choices=METHODS)
    # studio (ours) | reference (the released protocol, not its random streams); see protocol.py
    protocol: str = setting("studio", choices=("studio", "reference"))
    seed: int = setting(1337, ge=0, le=SEED_MAX)
    pretrain_iters: int = setting(10_000, ge=0, le=ITERS_MAX)
    selftrain_iters: int = setting(50_000, ge=0, le=ITERS_MAX)
    batch_size: int = setting(24, ge=2, le=65536)  # half labelled real, half unlabelled
    labeled_batch: int | None = setting(None, ge=2, le=65536)  # None: batch_size // 2
    validate_every: int = setting(200, ge=1)
    ema_decay: float = setting(0.99, ge=0, lt=1)
    teacher_train_mode: bool = True     # the reference keeps the EMA teacher in train mode (BN batch stats, dropout)
    pseudo_largest_cc: bool = True
    # BCP: weight of the pseudo-labelled region in the hard mix loss
    unlabeled_weight: float = setting(0.5, ge=0, le=1000)
    consistency: float = setting(0.1, ge=0, le=1000)  # mean teacher: consistency weight ...
    # ... ramped up over this many "epochs" of 150 iterations (SSL4MIS)
    consistency_rampup: float = setting(200.0, ge=0, le=ITERS_MAX)
    device: str = setting("auto", pattern=DEVICE_PATTERN, means=DEVICE_FORMS)  # auto | cpu | cuda | cuda:k
    amp: str = setting("auto", choices=("auto", "bf16", "off"))  # auto (bf16 on CUDA) | bf16 | off
    channels_last: str = setting("auto", choices=("auto", "on", "off"))  # auto (on) | on | off
    compile: bool = False               # torch.compile the student (CUDA)
    cuda_graphs: bool = False  # CUDA: training forwards as CUDA graphs (compile reduce-overhead); else eager
    deterministic: bool = False  # CUDA: deterministic cuDNN/cuBLAS, no autotuning (slower); the CPU always is
    log_every: int = setting(10, ge=1)  # progress events
    checkpoint_every: int = setting(500, ge=1)  # latest.pt
    num_threads: int | None = setting(None, ge=1, le=4096)  # CPU threads (None: torch default)
    init_checkpoint: str = ""  # start stage 1 from these weights (the labelling assistant's fine-tune)


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
        value = _coerce(value, hint, f"{source}: {dotted}")
        _check_field(section, key, value, f"{source}: {dotted}")
        setattr(section, key, value)

    def copy(self) -> RunConfig:
        return copy.deepcopy(self)

    def validate(self, *, source: str = "config") -> RunConfig:
        """Check every field's type and allowed values (whoever set it: a file, --set, the app's form, or plain
        attribute assignment), then the rules between fields; returns self. ConfigError names the field."""
        for section_name in _sections(self):
            section = getattr(self, section_name)
            hints = typing.get_type_hints(type(section))
            for f in dataclasses.fields(section):
                where = f"{source}: {section_name}.{f.name}"
                value = getattr(section, f.name)
                _check_type(value, hints[f.name], where)
                _check_field(section, f.name, value, where)
        t = self.train
        checks = [
            (self.labeled_batch >= 2 and self.labeled_batch % 2 == 0,
             "train.labeled_batch must be an even number >= 2 (it is split into halves a and b)"),
            (t.method == "supervised" or (t.batch_size - self.labeled_batch) >= 2
             and (t.batch_size - self.labeled_batch) % 2 == 0,
             "the unlabelled part of the batch (batch_size - labeled_batch) must be an even number >= 2"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"{source}: {message} (batch_size {t.batch_size}, labeled_batch "
                                  f"{t.labeled_batch})")
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
    # FIVES as the released protocol: 56 labelled images (--labelnum 10), 8 validation images, the box corner from
    # 0..H-h-1 (FIVES_SA_BCP.py's np.random.randint; ACDC's range includes H-h).
    "fives": {"blend": {"smoothing": "box", "kernel_size": 7, "corner_inclusive": False},
              "data": {"layout": "fives", "grey": "luminance", "labeled_count": 56, "max_val_cases": 8},
              "train": {"pretrain_iters": 10_000, "selftrain_iters": 30_000}},
    # A few minutes on a 2-core CPU: the quick-start demo.
    "demo": {"data": {"image_size": 128},
             "train": {"pretrain_iters": 300, "selftrain_iters": 300, "batch_size": 8, "validate_every": 50,
                       "log_every": 5, "checkpoint_every": 100},
             "alignment": {"batch_size": 16}},
    # About an hour of training on a 2-core laptop CPU, chosen by measurement (benchmarks/laptop_schedule.py: one
    # thread's CPU seconds per iteration, 2 threads at 1.8x): 128 px batch 12 costs 0.21 s per stage-1 and 0.64 s per
    # stage-2 iteration, 8 300 iterations an hour; 70 % of that (data loading, the DINOv2 bank and checkpoints are
    # not in the timing) = 2 900 + 2 900. 96 px fits 12 100 and 128 px batch 8 11 000, but 128 px keeps the thin
    # myocardium two pixels wider and 12 slices per step average the gradient over more patients.
    "laptop": {"data": {"image_size": 128},
               "train": {"pretrain_iters": 2_900, "selftrain_iters": 2_900, "batch_size": 12, "validate_every": 100,
                         "log_every": 10, "checkpoint_every": 500, "num_threads": 2},
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


def _shown(value) -> str:
    """A value as the user would type it, on one line and short."""
    text = one_line(repr(value) if isinstance(value, str) else str(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _check_field(section, name: str, value, where: str) -> None:
    refusal = allowed(section, name).refusal(where, value)
    if refusal:
        raise ConfigError(refusal)


_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def _check_type(value, hint, where: str) -> None:
    """Refuse a value of the wrong type (set by attribute assignment, which :meth:`RunConfig.set` would coerce)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, tuple):
            raise ConfigError(f"{where} must be a list, not {_shown(value)}")
        for item in value:
            _check_type(item, typing.get_args(hint)[0], where)
        return
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str)}.get(hint, lambda v: True)(value)
    if not ok:
        raise ConfigError(f"{where} must be {_TYPE_WORDS.get(hint, hint)}, not {_shown(value)}")


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
            raise ConfigError(f"{where} must be a list, not {_shown(value)}")
        return tuple(_coerce(v, item, where) for v in value)
    try:
        if isinstance(value, (dict, list, tuple, set)) or (isinstance(value, bool) and hint in (int, float)):
            raise TypeError(value)   # bool is an int to Python, not a count or a rate to a user
        if hint is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if value in (0, 1):     # also True / False
                return bool(value)
            raise ValueError(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value.strip().replace("_", "")) if isinstance(value, str) else int(value)
        if hint is float:
            return float(value.strip().replace("_", "")) if isinstance(value, str) else float(value)
        if hint is str:
            if value is None:
                raise TypeError(value)
            return str(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where} must be {_TYPE_WORDS.get(hint, hint)}, not {_shown(value)}") from None
    return value
