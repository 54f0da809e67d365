"""Which real images to label next: the "which 10 %" helper.

Three strategies, each answering with patients (a patient is labelled whole, as in the published protocol) or single
slices:

* ``random``: patients drawn at random with a seed — the published protocol's choice, and the baseline;
* ``diverse``: the classic core-set greedy (k-center) over per-slice features: repeatedly take the slice farthest, in
  cosine distance, from everything labelled or already suggested. In patient mode choosing a slice chooses its
  patient, and all of that patient's slices count as covered from then on;
* ``disagreement``: where the mean teacher and the student of a training run disagree most. The score of a slice is
  1 − Dice between their argmax maps (foreground classes only); a patient scores the mean over its slices.

Features for ``diverse`` (:func:`slice_features`): DINOv2 global (CLS) embeddings when DINOv2 weights exist — a file
named in the project settings (``settings["dinov2_weights"]``) or given on the command line, or timm's pretrained
weights (cached or downloadable). Without weights, ``auto`` falls back to intensity features (a 32-bin histogram and
an 8x8 layout of block means, centred on the set's mean) and says so in the result's warnings; an untrained encoder
is used only when asked for explicitly (tests, demos) and is then flagged as UNTRAINED. Real slices are taken from
each volume min-max normalised, like everything else the network sees.

Nothing here imports torch at module level: the app imports this module for :func:`labelling_progress` and
must start without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sra_seg_core.errors import ConfigError, EncoderWeightsError, InputError
from sra_seg_core.project import status

STRATEGIES = ("random", "diverse", "disagreement")
UNITS = ("patients", "slices")
FEATURES = ("auto", "dinov2", "intensity")
SETTINGS_WEIGHTS_KEY = "dinov2_weights"
INTENSITY_SIZE = 64  # slices are shrunk to this before intensity features: layout, not texture, matters
DINOV2_SIZE = 224  # DINOv2's own input size, so the slices are resized once

_FALLBACK = ("Diversity is measured on intensity histograms and layout, not in DINOv2 space: {}. For DINOv2 diversity "
             f"choose a DINOv2 weights file (the project setting '{SETTINGS_WEIGHTS_KEY}', or --dinov2-weights).")

Progress = Callable[[int, int, str], None]  # (done, total, what is being worked on)


# --- how far labelling has come ---------------------------------------------------------------------------------------
def target_count(total: int, fraction: float) -> int:
    """How many of ``total`` items make ``fraction`` of them: rounded, and at least 1 when there is any item."""
    check_fraction(fraction)
    return 0 if total <= 0 else max(1, round(fraction * total))


def check_fraction(fraction: float) -> None:
    if not 0 < fraction <= 1:
        raise ConfigError(f"the target fraction must be above 0 and at most 1 (0.1 = 10 %), got {fraction}")


@dataclass
class LabellingProgress:
    """How many real patients (or slices) are labelled, against the target fraction."""

    labelled: int
    total: int
    fraction: float
    unit: str = "patients"
    partly: int = 0   # patients started but not labelled whole (they do not count towards the target)

    @property
    def target(self) -> int:
        return target_count(self.total, self.fraction)

    @property
    def percent(self) -> float:
        return 100.0 * self.labelled / self.total if self.total else 0.0

    @property
    def remaining(self) -> int:
        return max(0, self.target - self.labelled)

    def summary(self) -> str:
        """e.g. ``labelled 1 of 12 patients (8 %) against a target of 10 %; 2 more partly labelled``."""
        text = (f"labelled {self.labelled} of {self.total} {self.unit} ({self.percent:.0f} %) against a target of "
                f"{100 * self.fraction:g} %")
        return text + (f"; {self.partly} more partly labelled" if self.partly else "")


def labelling_progress(project, fraction: float = 0.1, unit: str = "patients") -> LabellingProgress:
    """Labelled real patients (every real case approved, see :mod:`sra_seg_core.project.status`) or the done slices
    of labelled real cases; ``partly`` counts patients started but not labelled whole."""
    _check_choice("unit", unit, UNITS)
    real = [c for c in project.cases if c.role == "real"]
    if unit == "slices":
        done = sum(len(status.labelled_slices(project, c)) for c in real)
        return LabellingProgress(done, sum(len(c.slice_status) for c in real), fraction, unit)
    patients = {c.group for c in real}
    labelled = status.labelled_patients(project)
    partly = status.started_patients(project) - labelled
    return LabellingProgress(len(labelled), len(patients), fraction, unit, partly=len(partly))


# --- the strategies on plain data -------------------------------------------------------------------------------------
def random_by_patient(groups: Sequence[str], fraction: float, seed: int, *, already: Sequence[str] = ()) -> list[str]:
    """Patients drawn at random so that ``fraction`` of the distinct ``groups`` (at least 1) are labelled.

    ``already``: patients labelled before; they count towards the target and are never drawn. The patients are put in
    one seeded order (which depends on the set of patients, not on how they are listed) and the first ones not labelled
    are drawn, so labelling a drawn patient leaves the rest of the draw as it was, and a larger fraction extends a
    smaller one's draw.
    """
    patients = sorted(set(groups))
    done = set(already) & set(patients)
    need = max(0, target_count(len(patients), fraction) - len(done))
    order = [patients[i] for i in np.random.default_rng(seed).permutation(len(patients))]
    return [p for p in order if p not in done][:need]


def k_center_greedy(embeddings: np.ndarray, k: int, *, already: Sequence[int] = (), seed: int = 0,
                    groups: Sequence | None = None) -> list[int]:
    """Core-set selection: ``k`` row indices of ``embeddings`` ``(N, D)`` float, each the point farthest (in cosine
    distance) from the points chosen so far and those in ``already``.

    With nothing in ``already``, the first point is drawn at random with ``seed``. ``groups`` (one key per row, e.g.
    the patient): choosing a point chooses its whole group, so no other point of it is picked and all its points
    count as chosen. Fewer than ``k`` come back when the points run out.
    """
    return [index for index, _ in _greedy(embeddings, k, already, seed, groups)]


def _greedy(embeddings, k, already, seed, groups) -> Iterator[tuple[int, float | None]]:
    """k-center greedy picks with the distance of each to the chosen set when it was picked (None: random start)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {x.shape}")
    n = len(x)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    keys = np.arange(n) if groups is None else np.asarray(groups, dtype=object)
    if len(keys) != n:
        raise ValueError(f"groups has {len(keys)} entries for {n} embeddings")
    nearest = np.full(n, np.inf)  # cosine distance of each point to the chosen set
    available = np.ones(n, dtype=bool)

    def choose(members: np.ndarray) -> None:
        available[members] = False
        for start in range(0, len(members), 1024):  # bounded memory for big groups
            chunk = members[start:start + 1024]
            np.minimum(nearest, (1.0 - x @ x[chunk].T).min(axis=1), out=nearest)

    already = np.asarray(already, dtype=np.int64)
    if len(already):
        choose(already)
    rng = np.random.default_rng(seed)
    for _ in range(max(0, k)):
        if not available.any():
            return
        if np.isinf(nearest).all():
            index, distance = int(rng.choice(np.flatnonzero(available))), None
        else:
            index = int(np.argmax(np.where(available, nearest, -np.inf)))
            distance = float(max(nearest[index], 0.0))
        yield index, distance
        choose(np.flatnonzero(keys == keys[index]) if groups is not None else np.array([index]))


def disagreement(student_logits, teacher_logits):
    """Per-slice disagreement of two models: ``(B, K, H, W)`` logits (or probabilities) each -> ``(B,)`` float32 in
    [0, 1], 1 − the mean Dice over foreground classes between the two argmax maps.

    Classes absent from both maps are left out of the mean; a slice where both see only background scores 0.
    """
    import torch

    if student_logits.shape != teacher_logits.shape or student_logits.ndim != 4:
        raise ValueError(f"expected two (B, K, H, W) tensors of one shape, got {tuple(student_logits.shape)} and "
                         f"{tuple(teacher_logits.shape)}")
    classes = torch.arange(1, student_logits.shape[1], device=student_logits.device)[None, :, None, None]
    a = student_logits.argmax(dim=1, keepdim=True) == classes  # (B, K-1, H, W)
    b = teacher_logits.argmax(dim=1, keepdim=True) == classes
    overlap = (a & b).sum(dim=(2, 3)).float()
    size = (a.sum(dim=(2, 3)) + b.sum(dim=(2, 3))).float()
    present = size > 0
    dice = torch.where(present, 2 * overlap / size.clamp(min=1), torch.zeros_like(size))
    mean = dice.sum(dim=1) / present.sum(dim=1).clamp(min=1)
    return torch.where(present.any(dim=1), 1 - mean, torch.zeros_like(mean)).float()


# --- features of real slices ------------------------------------------------------------------------------------------
def intensity_features(slices: np.ndarray, *, bins: int = 32, grid: int = 8) -> np.ndarray:
    """Cheap appearance features of ``(N, H, W)`` float slices in [0, 1] -> ``(N, bins + grid²)`` float32.

    The square root of each slice's intensity histogram (so cosine compares like the Hellinger distance) and the
    ``grid`` x ``grid`` block means of the slice (where the bright and dark structures lie), centred on the set's mean
    so that cosine distance measures how slices differ rather than what they all share.
    """
    slices = np.asarray(slices, dtype=np.float32)
    if slices.ndim != 3:
        raise ValueError(f"expected slices (N, H, W), got shape {slices.shape}")
    n, h, w = slices.shape
    edges = np.linspace(0.0, 1.0, bins + 1)
    hist = np.stack([np.histogram(s, bins=edges)[0] for s in slices]).astype(np.float64) / max(1, h * w)
    cut = slices[:, : h - h % grid, : w - w % grid] if h >= grid and w >= grid else slices
    gh, gw = min(grid, cut.shape[1]), min(grid, cut.shape[2])
    blocks = cut.reshape(n, gh, cut.shape[1] // gh, gw, cut.shape[2] // gw).mean(axis=(2, 4)).reshape(n, -1)
    features = np.concatenate([np.sqrt(hist), blocks], axis=1)
    return (features - features.mean(axis=0, keepdims=True)).astype(np.float32)


@dataclass
class Features:
    """Per-slice features and what produced them (shown to the user with the suggestions)."""

    vectors: np.ndarray  # (N, D) float32
    kind: str  # "dinov2" | "intensity"
    description: str
    warnings: list[str] = field(default_factory=list)


def slice_features(volumes: Callable[[int], Iterator[tuple[str, np.ndarray]]], count: int, *, features: str = "auto",
                   weights_file=None, allow_untrained: bool = False, encoder_depth: int | None = None,
                   download: bool = True, cache_dir=None, device: str = "auto",
                   on_progress: Progress | None = None) -> Features:
    """Features of every slice of ``count`` volumes, in order.

    ``volumes(size)`` yields ``(case_id, slices (Z, size, size) float32 in [0, 1])`` one volume at a time, so only one
    volume is in memory. ``features``: ``dinov2`` (EncoderWeightsError without weights unless ``allow_untrained``),
    ``intensity``, or ``auto`` — DINOv2 if weights exist, else intensity features with a warning saying so.
    ``cache_dir`` keeps DINOv2 embeddings per volume (keyed by content and encoder) for the next call.
    """
    _check_choice("features", features, FEATURES)
    warnings: list[str] = []
    if features == "auto" and not (weights_file or download or allow_untrained):
        warnings.append(_FALLBACK.format("no DINOv2 weights file was given and downloading is off"))
    elif features != "intensity":
        try:
            return _dinov2_features(volumes, count, weights_file=weights_file, allow_untrained=allow_untrained,
                                    encoder_depth=encoder_depth, download=download, cache_dir=cache_dir,
                                    device=device, on_progress=on_progress)
        except EncoderWeightsError as err:
            if features == "dinov2":
                raise
            warnings.append(_FALLBACK.format(err.reason.split(";")[0]))
    stacks = []
    for done, (case_id, slices) in enumerate(volumes(INTENSITY_SIZE), 1):
        stacks.append(slices)
        if on_progress is not None:
            on_progress(done, count, case_id)
    vectors = intensity_features(np.concatenate(stacks)) if stacks else np.zeros((0, 1), np.float32)
    return Features(vectors, "intensity", "intensity histogram + 8x8 layout", warnings)


def _dinov2_features(volumes, count, *, weights_file, allow_untrained, encoder_depth, download, cache_dir, device,
                     on_progress) -> Features:
    from sra_seg_core.alignment import ENCODERS, build_bank, load_encoder
    from sra_seg_core.inference import resolve_device

    extra = {}
    if encoder_depth:
        if weights_file:
            raise ConfigError("--encoder-depth is for untrained smoke-test encoders only; leave it out with real "
                              "DINOv2 weights")
        extra, download = {"depth": encoder_depth}, False
    torch_device = resolve_device(device)
    encoder, info = load_encoder(ENCODERS["small"], weights_file=weights_file, allow_untrained=allow_untrained,
                                 download=download, device=torch_device, **extra)
    warnings = []
    if not info.pretrained:
        warnings.append("UNTRAINED DINOv2 encoder (random weights, allowed explicitly): the diversity is measured in "
                        "a random feature space, not DINOv2's; give DINOv2 weights for real suggestions")
    vectors = []
    for done, (case_id, slices) in enumerate(volumes(DINOV2_SIZE), 1):
        bank = build_bank(slices, encoder, info, cache_dir=cache_dir, device=torch_device)
        vectors.append(bank.cls.numpy())
        if on_progress is not None:
            on_progress(done, count, case_id)
    weights = "untrained" if not info.pretrained else info.weights
    return Features(np.concatenate(vectors) if vectors else np.zeros((0, info.embed_dim), np.float32), "dinov2",
                    f"DINOv2 {info.name} ({weights})", warnings)


# --- suggestions for a project ----------------------------------------------------------------------------------------
@dataclass
class Suggestion:
    """One patient (or slice) to label next.

    patient: the patient (the case group); cases: its real cases (slice mode: the one case); case / slice: where to
    look first (slice 0-based, or None: anywhere); score: the strategy's number (None for random picks); reason: why,
    in words; note: anything the user should know before labelling it.
    """

    patient: str
    cases: list[str]
    case: str
    slice: int | None
    score: float | None
    reason: str
    note: str = ""


@dataclass
class SuggestionResult:
    strategy: str
    unit: str
    fraction: float
    suggestions: list[Suggestion]
    progress: LabellingProgress  # patients
    slice_progress: LabellingProgress
    features: str = ""  # diverse: what the distances were measured on
    run: str = ""  # disagreement: the run folder used
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        progress = self.slice_progress if self.unit == "slices" else self.progress
        text = self.progress.summary()
        if self.unit == "slices":
            text += f"; {self.slice_progress.summary()}"
        if not progress.remaining:
            text += " — target reached; raise the fraction for more suggestions"
        return text

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("progress", "slice_progress"):
            item = getattr(self, key)
            data[key] |= {"target": item.target, "percent": round(item.percent, 2)}
        data["summary"] = self.summary()
        return data


@dataclass
class _RealSlices:
    """Every slice of the project's real cases, in manifest order."""

    cases: list  # CaseRecord, real only
    case_of: np.ndarray  # (N,) index into cases
    z: np.ndarray  # (N,) slice index in its case
    done: np.ndarray  # (N,) bool, marked done in a labelled case (training data)
    labelled: set  # patients labelled whole

    @classmethod
    def of(cls, project) -> _RealSlices:
        cases = [c for c in project.cases if c.role == "real"]
        case_of = np.concatenate([np.full(c.shape[0], i) for i, c in enumerate(cases)]) if cases else np.zeros(0, int)
        z = np.concatenate([np.arange(c.shape[0]) for c in cases]) if cases else np.zeros(0, int)
        done = np.zeros(len(z), dtype=bool)
        start = 0
        for c in cases:
            done[[start + z for z in status.labelled_slices(project, c)]] = True
            start += c.shape[0]
        return cls(cases, case_of, z, done, status.labelled_patients(project))

    @property
    def patient(self) -> np.ndarray:
        return np.array([self.cases[i].group for i in self.case_of], dtype=object)

    def labelled_patients(self) -> set[str]:
        return set(self.labelled)


@dataclass
class SuggestOptions:
    """What to suggest and how: one object for ``sra-seg project suggest``, the Which-10 % panel and
    :func:`suggest` (``suggest(project, **vars(options))``)."""

    strategy: str = "random"                 # one of STRATEGIES
    fraction: float = 0.1
    unit: str = "patients"                   # one of UNITS
    seed: int = 0
    run_dir: str | None = None               # disagreement: the run (None: the project's newest with a teacher)
    features: str = "auto"                   # diverse: one of FEATURES
    weights_file: str | None = None
    allow_untrained: bool = False
    encoder_depth: int | None = None
    download: bool = True
    device: str = "auto"

    def cli_args(self) -> list[str]:
        """The ``sra-seg project suggest`` flags that ask for exactly these options."""
        args = ["--strategy", self.strategy, "--fraction", f"{self.fraction:g}", "--unit", self.unit,
                "--seed", str(self.seed), "--features", self.features, "--device", self.device]
        for flag, value in (("--run", self.run_dir), ("--dinov2-weights", self.weights_file),
                            ("--encoder-depth", self.encoder_depth)):
            if value is not None:
                args += [flag, str(value)]
        return args + (["--allow-untrained-encoder"] if self.allow_untrained else []) + \
            ([] if self.download else ["--no-download"])

    @classmethod
    def from_cli(cls, args) -> SuggestOptions:
        return cls(strategy=args.strategy, fraction=args.fraction, unit=args.unit, seed=args.seed,
                   run_dir=None if args.run is None else str(args.run), features=args.features,
                   weights_file=args.dinov2_weights, allow_untrained=args.allow_untrained_encoder,
                   encoder_depth=args.encoder_depth, download=not args.no_download, device=args.device)


def suggest(project, strategy: str, *, fraction: float = 0.1, unit: str = "patients", seed: int = 0,
            run_dir=None, features: str = "auto", weights_file=None, allow_untrained: bool = False,
            encoder_depth: int | None = None, download: bool = True, device: str = "auto",
            on_progress: Progress | None = None) -> SuggestionResult:
    """What to label next in ``project`` so that ``fraction`` of the real patients (or slices) are labelled.

    Only reads the project (it may be open read-only). ``run_dir`` (``disagreement``): a run folder with
    ``checkpoints/latest.pt``; default the project's newest. ``weights_file`` (``diverse``): DINOv2 weights; default
    the file named in the project settings. Other arguments: see :func:`slice_features`.
    """
    _check_choice("strategy", strategy, STRATEGIES)
    _check_choice("unit", unit, UNITS)
    check_fraction(fraction)
    if strategy == "random" and unit == "slices":
        raise ConfigError("the random strategy draws whole patients, as the published protocol does; use "
                          "--unit patients, or the diverse or disagreement strategy for slices")
    table = _RealSlices.of(project)
    if not table.cases:
        raise InputError("the project has no real images to label; import some first", project.path)
    result = SuggestionResult(strategy, unit, fraction, [], labelling_progress(project, fraction),
                              labelling_progress(project, fraction, "slices"))
    need = (result.slice_progress if unit == "slices" else result.progress).remaining
    if strategy == "random":
        patients = random_by_patient([c.group for c in table.cases], fraction, seed,
                                     already=table.labelled_patients())
        result.suggestions = [_patient_suggestion(table, p, None, None, f"drawn at random (seed {seed})")
                              for p in patients]
    elif need and strategy == "diverse":
        _suggest_diverse(project, table, result, need, seed, on_progress, features=features,
                         weights_file=weights_file or project.settings.get(SETTINGS_WEIGHTS_KEY),
                         allow_untrained=allow_untrained, encoder_depth=encoder_depth, download=download,
                         device=device)
    elif need:
        _suggest_by_disagreement(project, table, result, need, run_dir, device, on_progress)
    return result


def _patient_suggestion(table: _RealSlices, patient: str, row: int | None, score: float | None,
                        reason: str) -> Suggestion:
    cases = [c for c in table.cases if c.group == patient]
    case = cases[0] if row is None else table.cases[table.case_of[row]]
    note = ("has reference labels, kept for validation: labelling it moves it from validation into training"
            if any(c.reference for c in cases) else "")
    return Suggestion(patient, [c.id for c in cases], case.id, None if row is None else int(table.z[row]), score,
                      reason, note)


def _slice_suggestion(table: _RealSlices, row: int, score: float | None, reason: str) -> Suggestion:
    case = table.cases[table.case_of[row]]
    note = "its case has a reference label, kept for validation" if case.reference else ""
    return Suggestion(case.group, [case.id], case.id, int(table.z[row]), score, reason, note)


def _volumes(project, table: _RealSlices) -> Callable[[int], Iterator[tuple[str, np.ndarray]]]:
    """Each real case as ``(case_id, (Z, size, size) float32)``, min-max normalised per volume."""
    from sra_seg_core.datasets import CaseRef, load_slices

    def volumes(size: int):
        for case in table.cases:
            ref = CaseRef(case.id, project.image_path(case.id), None, case.group, case.frame)
            yield case.id, load_slices([ref], size=size, labels=False).images

    return volumes


def _suggest_diverse(project, table, result, need, seed, on_progress, **options) -> None:
    cache = project.path / "runs" / ".cache" / "dinov2"  # shared with training runs (see AlignmentConfig.cache_dir)
    found = slice_features(_volumes(project, table), len(table.cases), cache_dir=cache, on_progress=on_progress,
                           **options)
    result.features, result.warnings = found.description, found.warnings
    where = f"in {found.kind} space"
    if result.unit == "patients":
        patients = table.patient
        labelled = table.labelled_patients()
        already = np.flatnonzero([p in labelled for p in patients])
        for row, distance in _greedy(found.vectors, need, already, seed, patients):
            case = table.cases[table.case_of[row]]
            reason = (f"slice {table.z[row] + 1} of {case.id} is the farthest {where} from every slice labelled or "
                      f"suggested before it (cosine distance {distance:.3f})" if distance is not None else
                      f"random starting point (seed {seed}): nothing is labelled yet")
            result.suggestions.append(_patient_suggestion(table, patients[row], row, distance, reason))
    else:
        for row, distance in _greedy(found.vectors, need, np.flatnonzero(table.done), seed, None):
            reason = (f"the farthest slice {where} from every slice labelled or suggested before it (cosine distance "
                      f"{distance:.3f})" if distance is not None else
                      f"random starting point (seed {seed}): nothing is labelled yet")
            result.suggestions.append(_slice_suggestion(table, row, distance, reason))


def _load_teacher_student(run_dir: Path, device: str):
    """The student and EMA teacher of a run's ``latest.pt``, both in eval mode, and the training slice size."""
    import copy

    from sra_seg_core.inference import load_checkpoint, read_checkpoint

    path = run_dir / "checkpoints" / "latest.pt"
    loaded = load_checkpoint(path, device)
    state = read_checkpoint(path)
    if "teacher" not in state:
        method = loaded.meta.get("method", "?")
        raise InputError(f"this checkpoint has no teacher (method {method}, stage {loaded.meta.get('stage', '?')}); "
                         "choose a run of mean-teacher, BCP or SRA-Seg that reached self-training", path)
    teacher = copy.deepcopy(loaded.model)
    try:
        teacher.load_state_dict(state["teacher"])
    except RuntimeError as exc:
        raise InputError(f"the teacher weights do not fit the student's network: {str(exc)[:200]}", path) from None
    return loaded, teacher.eval()


def _suggest_by_disagreement(project, table, result, need, run_dir, device, on_progress) -> None:
    from sra_seg_core.datasets import CaseRef, load_volume
    from sra_seg_core.inference import predict_probabilities

    if run_dir is None:
        from sra_seg_core.runs import list_runs

        offering = list_runs(project.runs_dir, offering="teacher")
        if not offering:
            raise InputError("no training run whose latest checkpoint holds a teacher in this project; train a "
                             "mean-teacher, BCP or SRA-Seg model into self-training first, or pass --run RUN_DIR",
                             project.runs_dir)
        run_dir = offering[0].path
    run_dir = Path(run_dir).expanduser().absolute()
    loaded, teacher = _load_teacher_student(run_dir, device)
    result.run = str(run_dir)
    scores = np.full(len(table.z), np.nan)
    # patients: every slice of the patients nobody has labelled; slices: every slice not marked done
    labelled = table.labelled_patients() if result.unit == "patients" else set()
    todo = [(i, rows) for i, c in enumerate(table.cases) if c.group not in labelled
            and len(rows := np.flatnonzero((table.case_of == i) & ~table.done))]
    for done, (i, rows) in enumerate(todo, 1):
        case = table.cases[i]
        ref = CaseRef(case.id, project.image_path(case.id), None, case.group, case.frame)
        volume = load_volume(ref, grey=loaded.grey)[0].array[table.z[rows]]
        options = dict(size=loaded.image_size, device=loaded.device, autocast=loaded.device.type == "cuda",
                       resize=loaded.resize)
        scores[rows] = disagreement(predict_probabilities(loaded.model, volume, **options),
                                    predict_probabilities(teacher, volume, **options)).cpu().numpy()
        if on_progress is not None:
            on_progress(done, len(todo), case.id)
    if result.unit == "slices":
        order = [r for r in np.argsort(-np.nan_to_num(scores, nan=-1.0), kind="stable") if not np.isnan(scores[r])]
        for row in order[:need]:
            reason = f"teacher and student disagree here: 1 − Dice {scores[row]:.3f} between their label maps"
            result.suggestions.append(_slice_suggestion(table, row, float(scores[row]), reason))
        return
    patients = table.patient
    ranked = []
    for patient in sorted({patients[r] for r in np.flatnonzero(~np.isnan(scores))}):
        rows = np.flatnonzero((patients == patient) & ~np.isnan(scores))
        worst = rows[np.argmax(scores[rows])]
        ranked.append((float(scores[rows].mean()), patient, worst, len(rows)))
    ranked.sort(key=lambda item: -item[0])
    for mean, patient, worst, n in ranked[:need]:
        case = table.cases[table.case_of[worst]]
        reason = (f"teacher and student disagree: mean 1 − Dice {mean:.3f} over {n} slices; most on slice "
                  f"{table.z[worst] + 1} of {case.id} ({scores[worst]:.3f})")
        result.suggestions.append(_patient_suggestion(table, patient, worst, mean, reason))


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
