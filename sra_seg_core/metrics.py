"""Segmentation metrics as the published tables compute them: medpy's ``dc``, ``jc``, ``hd95`` and ``asd``.

The SSL4MIS / BCP / SRA-Seg evaluation scores every class of a case separately on the whole 3-D volume with
``medpy.metric.binary`` in voxel units. This module reproduces those numbers exactly (medpy is not a dependency) and
adds the same distances in millimetres, which the published tables leave out.

Definitions (medpy, surface connectivity 1)
-------------------------------------------
- surface of a mask: the mask minus its erosion by the face-connected cross; outside the array counts as background,
  so the first and last slice of a volume are all surface.
- ``d(A -> B)``: for every surface voxel of A, the Euclidean distance to the nearest surface voxel of B.
- ``dice = 2|P∩G| / (|P|+|G|)``, ``jaccard = |P∩G| / |P∪G|``.
- ``hd95``: the 95th percentile (linear interpolation) of ``d(P -> G)`` and ``d(G -> P)`` pooled.
- ``asd``: the mean of ``d(P -> G)`` only — medpy's ``asd`` is one-directional, and it is what the tables call ASD.
- ``assd``: the mean of both directions pooled (medpy's corrected ``assd``; medpy 0.4 averaged the two means instead).
- ``*_mm``: the same with distances in mm (``sampling`` = voxel size in array order).

Conventions
-----------
- A class absent from the prediction scores 0 for every metric, distances included (the published tables' rule,
  whether or not the ground truth has the class), and is marked ``missing_prediction`` (the CSV's ``missing_prediction``
  column is 1): a distance of 0 mm reads as perfect, so a viewer shows "no prediction" instead
  (:meth:`ClassMetrics.shown`) and its means leave those distances out (``summarise(..., missing="none")``).
- A class predicted but absent from the ground truth scores dice 0 and jaccard 0; its distances are NaN (medpy raises).
  Summaries leave NaNs out of means and count them.
- A (1, H, W) pair is scored as the 2-D image (H, W) by default (``flat_as_2d=True``, ours): a 3-D cross makes every
  pixel of a single slice a surface pixel. The released FIVES evaluation (``code/test_FIVES.py``) calls medpy on the
  (1, H, W) volume; ``flat_as_2d=False`` reproduces that (the reference protocol's scoring; ASD and HD95 differ).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sra_seg_core.atomic import atomic_write_text, split_suffix
from sra_seg_core.errors import InputError
from sra_seg_core.lazy import lazy_module

ndimage = lazy_module("scipy.ndimage")  # imported on first use (start-up time)

METRICS = ("dice", "jaccard", "hd95", "asd", "hd95_mm", "asd_mm")
CSV_COLUMNS = ("case", "label", *METRICS, "missing_prediction")
DISTANCE_METRICS = ("hd95", "asd", "hd95_mm", "asd_mm")

# File-name endings that mark a label or prediction file; stripped to find a case name ("patient001_frame01_gt").
CASE_SUFFIXES = ("_gt", "_pred", "_prediction", "_seg", "_label", "_labels", "_mask")

_DISTANCES = ("hd95", "asd", "assd")
_DISTANCE_KEYS = (*_DISTANCES, *(f"{name}_mm" for name in _DISTANCES))


@dataclass
class ClassMetrics:
    """One class of one case. dice and jaccard in [0, 1]; hd95 and asd in voxels; *_mm in millimetres."""

    label: int
    dice: float
    jaccard: float
    hd95: float
    asd: float
    hd95_mm: float
    asd_mm: float
    # absent from the prediction: the zeros above are the published convention, not a measurement
    missing_prediction: bool = False

    @classmethod
    def absent(cls, label: int) -> ClassMetrics:
        """The score of a class missing from the prediction: 0 for every metric (the published tables' convention)."""
        return cls(int(label), *(0.0 for _ in METRICS), missing_prediction=True)

    def shown(self, metric: str) -> float | None:
        """The value a viewer shows: None ("no prediction") for a distance of a missing class, else the value."""
        return None if self.missing_prediction and metric in DISTANCE_METRICS else float(getattr(self, metric))


# --- one binary mask pair ---------------------------------------------------------------------------------------------
def dice_score(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice alone, with the same convention (0 when the prediction is empty): the cheap validation criterion."""
    pred, gt = np.asarray(pred, dtype=bool), np.asarray(gt, dtype=bool)
    _check_same_shape(pred.shape, gt.shape)
    n_pred = np.count_nonzero(pred)
    return 2.0 * np.count_nonzero(pred & gt) / (n_pred + np.count_nonzero(gt)) if n_pred else 0.0


def binary_metrics(
    pred: np.ndarray, gt: np.ndarray, spacing_zyx: Sequence[float] = (1.0, 1.0, 1.0), *, flat_as_2d: bool = True
) -> dict[str, float]:
    """Overlap and surface-distance metrics of one binary prediction against its ground truth.

    pred, gt:    same shape, bool (anything non-zero is foreground): (Z, Y, X), or (1, H, W) / (H, W) scored as 2-D.
    spacing_zyx: voxel size in mm in array order (Z, Y, X); Z is unused for a 2-D image.
    flat_as_2d:  score a (1, H, W) pair as the 2-D image (H, W); False: as a 3-D volume, as the released FIVES code.
    Returns ``dice``, ``jaccard`` (fractions), ``hd95``, ``asd``, ``assd`` (voxels) and ``hd95_mm``, ``asd_mm``,
    ``assd_mm`` (mm), following the module's conventions for empty masks.
    """
    pred, gt = np.asarray(pred, dtype=bool), np.asarray(gt, dtype=bool)
    _check_same_shape(pred.shape, gt.shape)
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
    spacing = tuple(float(s) for s in spacing_zyx)
    if pred.ndim != 3 or len(spacing) != 3:
        raise ValueError(f"need (Z, Y, X) masks and 3 spacings, got shape {pred.shape} and spacing {spacing}")
    if pred.shape[0] == 1 and flat_as_2d:
        pred, gt, spacing = pred[0], gt[0], spacing[1:]

    n_pred = np.count_nonzero(pred)
    if n_pred == 0:
        return dict.fromkeys(("dice", "jaccard", *_DISTANCE_KEYS), 0.0)
    n_gt = np.count_nonzero(gt)
    overlap = np.count_nonzero(pred & gt)
    scores = {"dice": 2.0 * overlap / (n_pred + n_gt), "jaccard": overlap / (n_pred + n_gt - overlap)}
    if n_gt == 0:
        return scores | dict.fromkeys(_DISTANCE_KEYS, math.nan)

    # The bounding box of the union gives medpy's whole-array numbers bit for bit, with no margin: every surface voxel
    # of either mask lies inside it, and the voxels just outside it are background, as erosion assumes past an edge.
    box = ndimage.find_objects((pred | gt).view(np.uint8))[0]
    pred_surface, gt_surface = _surface(pred[box]), _surface(gt[box])
    voxels = _distance_scores(pred_surface, gt_surface, None)
    # With unit spacing scipy's arithmetic is identical, so the mm pass would repeat the voxel pass.
    mm = voxels if all(s == 1.0 for s in spacing) else _distance_scores(pred_surface, gt_surface, spacing)
    return scores | voxels | {f"{name}_mm": value for name, value in mm.items()}


def _check_same_shape(pred_shape: tuple[int, ...], gt_shape: tuple[int, ...]) -> None:
    if tuple(pred_shape) != tuple(gt_shape):
        raise InputError(
            f"the prediction has shape {tuple(pred_shape)} but the ground truth has shape {tuple(gt_shape)}; "
            "a prediction must be on the ground truth's voxel grid"
        )


def _surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face neighbour outside it (or on the array edge). Same shape, bool."""
    cross = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask ^ ndimage.binary_erosion(mask, structure=cross, iterations=1)


def _surface_distances(source: np.ndarray, target: np.ndarray, sampling: tuple[float, ...] | None) -> np.ndarray:
    """Distance from each ``source`` voxel (C order) to the nearest ``target`` voxel: (N,) float64, voxels or mm.

    Only the feature transform is taken from scipy and the distances are evaluated at the source voxels alone, with
    the same arithmetic as ``distance_transform_edt`` (offset * sampling, squared, summed over axes, square root).
    """
    nearest = ndimage.distance_transform_edt(~target, sampling=sampling, return_distances=False, return_indices=True)
    points = np.nonzero(source)
    offsets = (nearest[(slice(None), *points)] - np.stack(points).astype(np.int32)).astype(np.float64)
    if sampling is not None:
        offsets *= np.asarray(sampling, dtype=np.float64)[:, None]
    return np.sqrt(np.add.reduce(offsets * offsets, axis=0))


def _distance_scores(pred_surface: np.ndarray, gt_surface: np.ndarray, sampling) -> dict[str, float]:
    pred_to_gt = _surface_distances(pred_surface, gt_surface, sampling)
    pooled = np.concatenate([pred_to_gt, _surface_distances(gt_surface, pred_surface, sampling)])
    return {"hd95": float(np.percentile(pooled, 95)), "asd": float(pred_to_gt.mean()), "assd": float(pooled.mean())}


# --- label maps ---------------------------------------------------------------------------------------------------
def case_metrics(
    pred: np.ndarray, gt: np.ndarray, labels: Sequence[int], spacing_zyx: Sequence[float] = (1.0, 1.0, 1.0), *,
    flat_as_2d: bool = True,
) -> list[ClassMetrics]:
    """Per-class metrics of one case.

    pred, gt:    (Z, Y, X) integer label maps of the same shape ((1, H, W) for a 2-D image).
    labels:      the label values to score, e.g. (1, 2, 3) for ACDC's RV, Myo, LV.
    spacing_zyx: voxel size in mm in array order (``Image.spacing_zyx`` of the ground truth).
    flat_as_2d:  see :func:`binary_metrics`.
    Raises InputError naming both shapes when they differ.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    _check_same_shape(pred.shape, gt.shape)
    rows = []
    for label in labels:
        predicted = pred == label
        scores = binary_metrics(predicted, gt == label, spacing_zyx, flat_as_2d=flat_as_2d)
        rows.append(ClassMetrics(int(label), **{metric: scores[metric] for metric in METRICS},
                                 missing_prediction=not predicted.any()))
    return rows


# --- summaries ----------------------------------------------------------------------------------------------------
def _stats(values: np.ndarray) -> dict[str, float | int]:
    """Mean and population sd (ddof 0, numpy's default) of the non-NaN values, how many there were and how many NaN."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return {"mean": math.nan, "sd": math.nan, "n": 0, "nan": int(values.size)}
    return {"mean": float(finite.mean()), "sd": float(finite.std()), "n": int(finite.size),
            "nan": int(values.size - finite.size)}


def summarise(rows: Iterable[tuple[str, ClassMetrics]], missing: str = "zero") -> dict:
    """Mean and sd of every metric per class and overall.

    rows: (case name, ClassMetrics) pairs, e.g. ``[(case, m) for m in case_metrics(...)]`` over the cases.
    Returns ``{"cases": n, "labels": {label: {"cases": n, "missing": n, metric: stats}}, "overall": {"cases": n,
    metric: stats}}`` (``missing``: cases whose prediction lacks the class)
    where ``stats = {"mean", "sd", "n" (values used), "nan" (values left out)}``. "overall" first averages the classes
    of each case (ignoring NaN), then takes mean and sd over cases, as the papers do.
    missing: "zero" counts the distances of a class missing from the prediction as 0 (the published tables); "none"
    leaves them out like undefined ones (what a viewer showing "no prediction" averages).
    """
    if missing not in ("zero", "none"):
        raise ValueError(f"missing must be 'zero' or 'none', got {missing!r}")

    def value(m: ClassMetrics, metric: str) -> float:
        shown = m.shown(metric) if missing == "none" else getattr(m, metric)
        return math.nan if shown is None else shown

    table: dict[str, dict[int, ClassMetrics]] = {}
    for case, metrics in rows:
        table.setdefault(case, {})[metrics.label] = metrics
    labels = sorted({label for per_case in table.values() for label in per_case})
    per_label = {}
    for label in labels:
        present = [per_case[label] for per_case in table.values() if label in per_case]
        per_label[label] = {"cases": len(present), "missing": sum(m.missing_prediction for m in present)} | {
            metric: _stats(np.array([value(m, metric) for m in present], dtype=np.float64)) for metric in METRICS
        }
    overall = {"cases": len(table)}
    for metric in METRICS:
        case_means = [_stats(np.array([value(m, metric) for m in per_case.values()], dtype=np.float64))["mean"]
                      for per_case in table.values()]
        overall[metric] = _stats(np.array(case_means, dtype=np.float64))
    return {"cases": len(table), "labels": per_label, "overall": overall}


_HEADERS = {"dice": "Dice %", "jaccard": "Jaccard %", "hd95": "HD95 vox", "asd": "ASD vox", "hd95_mm": "HD95 mm",
            "asd_mm": "ASD mm"}
_PERCENT = ("dice", "jaccard")


def format_summary(summary: dict, label_names: dict[int, str] | None = None) -> str:
    """A plain-text table of :func:`summarise`'s result: mean ± sd per class, then the mean over classes.

    Dice and Jaccard are shown in %, distances with their unit (voxels as in the published tables, and mm).
    """
    label_names = label_names or {}

    def cell(metric: str, stats: dict) -> str:
        if stats["n"] == 0:
            return "n/a"
        scale = 100.0 if metric in _PERCENT else 1.0
        return f"{stats['mean'] * scale:.2f} ± {stats['sd'] * scale:.2f}"

    def line(name: str, entry: dict) -> list[str]:
        return [name, str(entry["cases"]), *(cell(metric, entry[metric]) for metric in METRICS)]

    body = [line(label_names.get(label, f"label {label}"), entry) for label, entry in summary["labels"].items()]
    body.append(line("mean", summary["overall"]))
    header = ["class", "cases", *(_HEADERS[m] for m in METRICS)]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def render(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    lines = [render(header), render(["-" * w for w in widths]), *map(render, body[:-1])]
    lines += [render(["-" * w for w in widths]), render(body[-1])]
    missing = sum(entry.get("missing", 0) for entry in summary["labels"].values())
    if missing:
        lines.append(f"{missing} class(es) were not predicted in their case: scored 0 for every metric, distances "
                     "included (the published convention; the CSV's missing_prediction column marks them).")
    left_out = sum(entry["hd95"]["nan"] for entry in summary["labels"].values())
    if left_out:
        lines.append(
            f"{left_out} predicted class(es) have no ground truth in their case: dice 0, distances undefined and "
            "left out of the distance means."
        )
    return "\n".join(lines)


def write_metrics_csv(path: str | os.PathLike, rows: Iterable[tuple[str, ClassMetrics]]) -> Path:
    """Write one line per (case, class), atomically; columns ``case,label,dice,jaccard,hd95,asd,hd95_mm,asd_mm,``
    ``missing_prediction``.

    Numbers are written at full precision (``repr``); an undefined distance is ``nan``; ``missing_prediction`` is 1
    for a class absent from the prediction (its zeros are the convention), else 0. Returns the path.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for case, metrics in rows:
        writer.writerow([case, *csv_values(metrics)])
    return atomic_write_text(path, buffer.getvalue())


def csv_values(metrics: ClassMetrics) -> list[str]:
    """The CSV cells of one class after the case column: label, the metrics at full precision, missing_prediction."""
    values = (repr(float(getattr(metrics, m))) for m in METRICS)
    return [str(metrics.label), *values, str(int(metrics.missing_prediction))]


# --- pairing prediction and ground-truth files --------------------------------------------------------------------
def case_name(path: str | os.PathLike) -> str:
    """The case a label file belongs to: its name without extension and without one of :data:`CASE_SUFFIXES`."""
    stem, _ = split_suffix(path)
    for suffix in CASE_SUFFIXES:
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def _folders_within(folder: Path) -> list[Path]:
    """``folder`` and every folder below it, leaving out hidden ones and what they hold."""
    below = (p for p in folder.rglob("*") if p.is_dir())
    return [folder, *sorted(p for p in below if not any(part.startswith(".") for part in p.relative_to(folder).parts))]


def _label_files(folder: Path, *, one_per_case: bool = False) -> dict[str, Path]:
    """Label files under ``folder`` (recursively) by case name.

    Label files are those ``sra_seg_core.io`` reads, as for :func:`~sra_seg_core.io.list_images`. When one case has
    several, a name with a label suffix wins (ACDC keeps ``patient001_frame01.nii.gz``, the image, beside
    ``patient001_frame01_gt.nii.gz``); any remaining tie is an error. ``one_per_case`` (predictions, which have no
    images beside them): every tie is an error, so one of two predictions of a case is never picked silently.
    """
    from sra_seg_core.io import list_images

    by_case: dict[str, list[Path]] = {}
    for sub in _folders_within(folder):
        for path in list_images(sub):
            by_case.setdefault(case_name(path), []).append(path)
    chosen = {}
    for case, paths in by_case.items():
        suffixed = paths if one_per_case else [p for p in paths if case_name(p) != split_suffix(p)[0]] or paths
        if len(suffixed) > 1:
            raise InputError(
                f"case {case!r} has several label files: {', '.join(str(p.relative_to(folder)) for p in suffixed)}; "
                "keep one per case or point at a narrower folder",
                folder,
            )
        chosen[case] = suffixed[0]
    return chosen


def label_files_by_case(folder: str | os.PathLike) -> dict[str, Path]:
    """Label files under ``folder`` (recursively) by case name, paired as :func:`match_pairs` pairs folders."""
    return _label_files(Path(folder))


def match_pairs(
    pred_path: str | os.PathLike,
    gt_path: str | os.PathLike,
    on_unmatched: Callable[[list[Path]], None] | None = None,
) -> list[tuple[str, Path, Path]]:
    """Pair prediction and ground-truth files: ``[(case, pred_file, gt_file)]`` sorted by case.

    Two files make one pair (named after the ground truth). Two folders are searched recursively and matched by case
    name (:func:`case_name`: identical names, or equal after dropping a suffix such as ``_gt`` or ``_pred``); files
    without a partner are passed to ``on_unmatched`` (once, if any). Raises InputError for a missing path, a file
    paired with a folder, or folders that share no case.
    """
    pred_path, gt_path = Path(pred_path), Path(gt_path)
    for path in (pred_path, gt_path):
        if not path.exists():
            raise InputError("does not exist", path)
    if pred_path.is_file() and gt_path.is_file():
        return [(case_name(gt_path), pred_path, gt_path)]
    if pred_path.is_file() != gt_path.is_file():
        raise InputError(f"cannot pair a file with a folder ({gt_path}); give two files or two folders", pred_path)
    preds, gts = _label_files(pred_path, one_per_case=True), _label_files(gt_path)
    cases = sorted(preds.keys() & gts.keys())
    if not cases:
        raise InputError(
            f"no prediction shares a case name with a ground-truth file in {gt_path} ({len(preds)} prediction and "
            f"{len(gts)} ground-truth files); name each prediction like its ground truth, e.g. case_pred.nii.gz for "
            "case_gt.nii.gz",
            pred_path,
        )
    unmatched = sorted([preds[c] for c in preds.keys() - gts.keys()] + [gts[c] for c in gts.keys() - preds.keys()])
    if unmatched and on_unmatched is not None:
        on_unmatched(unmatched)
    return [(case, preds[case], gts[case]) for case in cases]
