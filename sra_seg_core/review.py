"""Reviewing a model's predictions: how uncertain each case is, what is kept with a prediction, and which trained
models a project offers.

Uncertainty ranks cases (and the slices of a case) so the clinician looks at the doubtful ones first:

* without test-time augmentation: the predictive entropy of the softmax ``p`` at each pixel,
  ``H(x) = -sum_k p_k(x) log p_k(x)``, divided by ``log K`` so it lies in [0, 1] (1: all K classes equally likely);
* with test-time augmentation (T = 3 passes: identity, left-right flip, up-down flip, each flipped back): the variance
  across the passes of the softmax, ``Var_t p_tk(x) = mean_t p_tk(x)^2 - (mean_t p_tk(x))^2`` (population variance),
  averaged over the K classes; it lies in [0, 0.25] and is 0 when every pass agrees exactly.

Either pixel score is averaged over the *foreground* pixels: those whose argmax of the (mean over passes) softmax is
not background. Background far from the anatomy is certain and plentiful, so counting it would mostly measure how
small the structure is. Scores are taken at the network's input size (every slice resized to ``image_size``), so
cases of different sizes weigh their slices alike. A case or slice with no foreground pixel scores 0 and reports 0
foreground pixels, so "the model found nothing" stays visible on its own.

This module imports torch only inside :func:`predict_case`, so the app can read and store reports without it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sra_seg_core import io
from sra_seg_core.errors import InputError
from sra_seg_core.regular_files import load_json

ENTROPY = "entropy"
TTA_VARIANCE = "tta-variance"
REVIEW_SETTINGS_KEY = "review"        # project.settings["review"][case_id]: the report of the case's prediction
FLIPS = ((), (-1,), (-2,))            # test-time augmentation: identity, left-right, up-down


# --- uncertainty --------------------------------------------------------------------------------------------------
@dataclass
class PredictOptions:
    """How a model runs on project cases: one object for ``sra-seg project predict`` and the Review workspace."""

    checkpoint: str                 # a run's best.pt (or any SRA-Seg checkpoint)
    tta: bool = False               # average the identity and two flips; uncertainty from their spread
    device: str = "auto"
    batch_size: int = 16            # slices per forward pass

    def cli_args(self) -> list[str]:
        return ["--checkpoint", str(self.checkpoint), "--device", self.device, "--batch-size", str(self.batch_size),
                *(["--tta"] if self.tta else [])]

    @classmethod
    def from_cli(cls, args) -> PredictOptions:
        return cls(checkpoint=str(args.checkpoint), tta=args.tta, device=args.device, batch_size=args.batch_size)


@dataclass
class Uncertainty:
    """A case's uncertainty (see the module docstring).

    method:            ``entropy`` (one pass) or ``tta-variance`` (several passes).
    score:             mean over every foreground pixel of the case; 0 when there is none.
    per_slice:         the same mean per slice (0 for a slice without foreground), one value per slice.
    foreground_pixels: how many pixels were averaged, at the network's input size.
    """

    method: str
    score: float
    per_slice: list[float]
    foreground_pixels: int

    @classmethod
    def from_totals(cls, method: str, sums: np.ndarray, counts: np.ndarray) -> Uncertainty:
        """From per-slice sums of the pixel score over foreground pixels and per-slice pixel counts, both (Z,)."""
        sums, counts = np.asarray(sums, dtype=np.float64), np.asarray(counts, dtype=np.int64)
        per_slice = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        total = int(counts.sum())
        return cls(method, float(sums.sum() / total) if total else 0.0, per_slice.tolist(), total)

    @property
    def most_uncertain_slice(self) -> int:
        return int(np.argmax(self.per_slice)) if self.per_slice else 0


def uncertainty_method(passes: int) -> str:
    return ENTROPY if passes == 1 else TTA_VARIANCE


def pixel_uncertainty(passes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixel score and the foreground mask of softmax outputs.

    passes: (T, Z, K, H, W) float softmax probabilities, one (Z, K, H, W) block per pass (T = 1 without TTA).
    Returns ``score`` (Z, H, W) float64 (normalised entropy for T = 1, class-mean variance across passes for T > 1)
    and ``foreground`` (Z, H, W) bool (argmax of the mean over passes is not class 0).
    """
    passes = np.asarray(passes, dtype=np.float64)
    if passes.ndim != 5 or passes.shape[2] < 2:
        raise ValueError(f"passes must be (T, Z, K, H, W) with K >= 2 classes, got shape {passes.shape}")
    mean = passes.mean(axis=0)
    foreground = mean.argmax(axis=1) != 0
    if passes.shape[0] == 1:
        p = np.clip(mean, 1e-12, 1.0)
        score = -(mean * np.log(p)).sum(axis=1) / math.log(mean.shape[1])
    else:
        score = np.maximum((passes**2).mean(axis=0) - mean**2, 0.0).mean(axis=1)  # rounding can dip below 0
    return score, foreground


def slice_totals(passes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-slice sum of the pixel score over foreground pixels, (Z,) float64, and the foreground count, (Z,) int64.

    Totals of consecutive chunks of slices concatenate into the case's totals (see :meth:`Uncertainty.from_totals`).
    """
    score, foreground = pixel_uncertainty(passes)
    return np.where(foreground, score, 0.0).sum(axis=(1, 2)), foreground.sum(axis=(1, 2)).astype(np.int64)


def uncertainty(passes: np.ndarray) -> Uncertainty:
    """The :class:`Uncertainty` of a whole case given all its passes, (T, Z, K, H, W) softmax probabilities."""
    return Uncertainty.from_totals(uncertainty_method(len(passes)), *slice_totals(passes))


# --- predicting a case ----------------------------------------------------------------------------------------------
@dataclass
class CasePrediction:
    labels: np.ndarray          # (Z, Y, X) uint8 class values on the image's grid
    uncertainty: Uncertainty


def predict_case(loaded, image, *, tta: bool = False, batch_size: int = 16) -> CasePrediction:
    """Segment one image and score its uncertainty.

    loaded: a :class:`~sra_seg_core.inference.LoadedModel`; image: an :class:`~sra_seg_core.image.Image`, (Z, Y, X)
    any numeric dtype, min-max normalised here per volume as in training. With ``tta`` the label map is the argmax
    of the mean softmax over the three passes (as ``sra-seg predict --tta``). Slices go through in chunks of
    ``batch_size``, so memory stays bounded for long volumes.
    """
    import torch

    from sra_seg_core.datasets import normalise_minmax
    from sra_seg_core.inference import labels_to_native, predict_probabilities

    volume = normalise_minmax(image.array)
    flips = FLIPS if tta else FLIPS[:1]
    labels, sums, counts = [], [], []
    for start in range(0, volume.shape[0], batch_size):
        chunk = volume[start:start + batch_size]
        passes = []
        for axes in flips:
            # flipping before the resize to the input size equals flipping after it: the bilinear resize is symmetric
            x = np.ascontiguousarray(np.flip(chunk, axes)) if axes else chunk
            probs = predict_probabilities(loaded.model, x, size=loaded.image_size, device=loaded.device,
                                          batch_size=batch_size, autocast=loaded.device.type == "cuda",
                                          resize=loaded.resize)
            passes.append(probs.flip(axes) if axes else probs)
        stacked = torch.stack(passes)
        labels.append(labels_to_native(stacked.mean(dim=0), volume.shape[1:], loaded.resize))
        chunk_sums, chunk_counts = slice_totals(stacked.cpu().numpy())
        sums.append(chunk_sums)
        counts.append(chunk_counts)
    return CasePrediction(np.concatenate(labels),
                          Uncertainty.from_totals(uncertainty_method(len(flips)), np.concatenate(sums),
                                                  np.concatenate(counts)))


def case_report(case_id: str, prediction: CasePrediction, *, reference=None, class_names: dict[int, str],
                checkpoint: str = "") -> dict:
    """What is kept with a prediction, as JSON values (undefined numbers become null).

    reference:   the case's reference label (an :class:`~sra_seg_core.image.Image` on the image's grid) or None.
    class_names: label value -> name of the foreground classes to score, e.g. ``{1: "RV", 2: "Myo", 3: "LV"}``.
    With a reference, ``metrics`` lists per class ``label, name, dice, jaccard, hd95, asd`` (voxels) and ``hd95_mm,
    asd_mm`` (see :mod:`sra_seg_core.metrics`), and ``mean_dice`` is their mean Dice; without, both are null.
    """
    from sra_seg_core.metrics import case_metrics

    u = prediction.uncertainty
    report = {
        "case": case_id,
        "uncertainty": u.score,
        "uncertainty_method": u.method,
        "slice_uncertainty": u.per_slice,
        "foreground_pixels": u.foreground_pixels,
        "checkpoint": str(checkpoint),
        "metrics": None,
        "mean_dice": None,
    }
    if reference is not None:
        labels = sorted(class_names)
        scores = case_metrics(prediction.labels, reference.array, labels, reference.spacing_zyx)
        report["metrics"] = [{"label": m.label, "name": class_names[m.label]} | asdict(m) for m in scores]
        report["mean_dice"] = float(np.mean([m.dice for m in scores])) if scores else None
    return _json_values(report)


def _json_values(value):
    """NaN and infinity become None (JSON has neither); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _json_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_values(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- storing predictions in a project ----------------------------------------------------------------------------
def prediction_files(folder: str | Path, case_id: str) -> tuple[Path, Path]:
    """Where ``sra-seg project predict`` writes a case: ``<folder>/<case_id>.nii.gz`` and ``.json``."""
    folder = Path(folder)
    return folder / f"{case_id}.nii.gz", folder / f"{case_id}.json"


def import_prediction(project, case_id: str, folder: str | Path) -> dict:
    """Store the prediction ``sra-seg project predict`` wrote for ``case_id`` in ``folder`` in the (writable) project,
    and its report under ``project.settings["review"][case_id]``. Returns the report.

    Raises InputError when the files are missing or do not fit the case.
    """
    label_path, report_path = prediction_files(folder, case_id)
    try:
        report = load_json(report_path, follow_links=True)
    except FileNotFoundError:
        raise InputError(f"no prediction report for case {case_id!r}", report_path) from None
    except InputError as exc:
        raise InputError(f"the prediction report cannot be read: it {exc.reason}", report_path) from None
    if not isinstance(report, dict):
        raise InputError("the prediction report is not a JSON object", report_path)
    label = io.read_label(label_path, num_classes=project.num_classes)
    case = project.case(case_id)
    if label.shape != case.shape:
        raise InputError(f"the prediction has shape {label.shape} but case {case_id!r} has {case.shape}", label_path)
    project.save_prediction(case_id, label.array)
    report["imported"] = time.time()
    project.settings.setdefault(REVIEW_SETTINGS_KEY, {})[case_id] = report
    project.save()
    return report


def review_reports(project) -> dict[str, dict]:
    """The stored report of every case that still has a prediction, by case id."""
    stored = project.settings.get(REVIEW_SETTINGS_KEY, {})
    return {c.id: stored[c.id] for c in project.cases if c.prediction is not None and c.id in stored}
