"""The Review workspace's state and rules, without widgets: which cases a "Run model" scope offers, the engine
command, what a prediction run did (imported, problems, cancelled) and how it is summed up, and the metrics table of a
case as the viewer shows it.

A class the model did not predict has distances of 0 in the engine's tables (the published convention); a viewer
shows "no prediction" for them instead of a perfect 0.0 mm and leaves them out of the mean
(:meth:`sra_seg_core.metrics.ClassMetrics.shown`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from sra_seg_core import runs
from sra_seg_core.metrics import ClassMetrics
from sra_seg_core.project.status import is_labelled
from sra_seg_core.review import PredictOptions

# which cases "Run model" predicts: (key, text); the count is appended
SCOPES = (("unlabelled", "Real cases without labels"), ("real", "All real cases"),
          ("selected", "Cases selected in the table"), ("synthetic", "Synthetic cases"))
EMPTY_SCOPE = {"selected": "Select the cases to predict in the table first (Ctrl+click, Shift+click).",
               "unlabelled": "Every real case has labelled slices; choose “All real cases” to predict them.",
               "synthetic": "This project has no synthetic cases."}
NO_VALUE = "–"
NO_PREDICTION = "no prediction"
METRIC_COLUMNS = (("dice", "Dice %", "Overlap with the reference, in %"),
                  ("hd95_mm", "HD95 mm", "95th percentile Hausdorff distance to the reference, in mm"))
_CLASS_FIELDS = tuple(f.name for f in fields(ClassMetrics))


def scope_cases(project, key: str, selected: list[str]) -> list[str]:
    """The case ids a scope predicts; ``selected``: the cases selected in the table (for "selected")."""
    if project is None:
        return []
    if key == "unlabelled":
        return [c.id for c in project.cases if c.role == "real" and not is_labelled(project, c)]
    if key in ("real", "synthetic"):
        return [c.id for c in project.cases if c.role == key]
    return list(selected)


def model_choices(project) -> list[tuple[str, str, str]]:
    """(text, best.pt path, tooltip) of each run that offers a best checkpoint, newest first: the models offered."""
    choices = []
    for run in runs.list_runs(project.runs_dir, offering="best") if project is not None else []:
        dice = f"Dice {run.best_dice:.3f}" if run.best_dice is not None else "no validation Dice"
        state = "" if run.status == runs.FINISHED else f" · {run.status}"
        best = str(run.offers["best"])
        choices.append((f"{run.name}  ·  {dice}{state}", best, f"{best}\nmethod: {run.method}"))
    return choices


def predict_args(project_path: Path, output: Path, scope: str, cases: list[str], options: PredictOptions) -> list[str]:
    """The ``sra-seg`` arguments of a prediction run (read-only on the project; results go to ``output``)."""
    which = ["--role", scope] if scope in ("real", "synthetic") else ["--cases", *cases]
    return ["project", "predict", str(project_path), "--output", str(output), "--events", "-", *which,
            *options.cli_args()]


def replaced_slices(labels: np.ndarray, prediction: np.ndarray, slices) -> list[int]:
    """The slices (0-based) among ``slices`` whose approved labels accepting would replace: labelled, and not
    already equal to the prediction. labels, prediction: (Z, Y, X) class maps."""
    return [z for z in slices if labels[z].any() and not np.array_equal(labels[z], prediction[z])]


def accept_refusal(session) -> str:
    """Why the current case's prediction cannot be accepted ("" when it can; nothing to say without a case)."""
    if session.read_only:
        return "This project is open read-only: predictions cannot be accepted."
    if session.prediction() is None:
        return f"{session.case_id} has no prediction yet: run the model on it first."
    return ""


def accepted_message(case_id: str, slices: list[int] | None) -> str:
    what = f"slice {slices[0] + 1}" if slices is not None and len(slices) == 1 else "every slice"
    return f"Accepted the prediction of {case_id}, {what}: now approved labels, marked done."


@dataclass
class PredictionRun:
    """What one "Run model" did so far: the cases imported into the project, the problems met, whether the user
    cancelled it."""

    total: int
    imported: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cancelled: bool = False

    def status_text(self, code: int) -> str:
        done = len(self.imported)
        if self.cancelled:
            return f"Cancelled: {done} of {self.total} case(s) predicted and kept."
        if code in (0, 1) and done:   # 1: some cases failed, the others were predicted
            return f"Predicted {done} case(s); the most uncertain are listed first."
        return ""

    def error_text(self, code: int, error: str, stderr_tail: list[str]) -> str:
        """The problems to show (at most 8 listed), or why the run failed, or "" when all went well."""
        if self.problems:
            more = len(self.problems) - 8
            return "\n".join(self.problems[:8]) + (f"\n… and {more} more" if more > 0 else "")
        if code not in (0, 1) and not self.cancelled:
            tail = error or (stderr_tail[-1] if stderr_tail else "")
            return f"The model could not run: {tail or f'the process stopped with exit code {code}'}"
        return ""


@dataclass
class MetricRow:
    """One row of the metrics table: a class (or "Mean"), its shown values (None: nothing to show) and, per metric,
    whether the value is missing because the class was not predicted."""

    name: str
    values: dict[str, float | None]
    not_predicted: bool = False

    def text(self, metric: str) -> str:
        value = self.values.get(metric)
        if value is None:
            return NO_PREDICTION if self.not_predicted else NO_VALUE
        return f"{(100 if metric in ('dice', 'jaccard') else 1) * value:.1f}"


def _class_metrics(entry: dict) -> ClassMetrics:
    """A report's per-class entry (``asdict(ClassMetrics)`` plus its name) as the engine's type; reports written before
    the missing-prediction flag existed read as predicted."""
    return ClassMetrics(**{key: entry[key] for key in _CLASS_FIELDS if key in entry})


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def metric_rows(report: dict) -> list[MetricRow]:
    """The metrics table of a case's review report: one row per class, then "Mean" (the report's mean Dice; the
    distances averaged over the classes that have one, so a class not predicted does not pull them to 0)."""
    rows = []
    for entry in report.get("metrics") or []:
        metrics = _class_metrics(entry)
        values = {key: _finite(metrics.shown(key)) for key in ("dice", "jaccard", "hd95_mm", "asd_mm")}
        rows.append(MetricRow(entry["name"], values, metrics.missing_prediction))
    mean = {"dice": report.get("mean_dice")} | {
        key: _mean(row.values[key] for row in rows) for key in ("jaccard", "hd95_mm", "asd_mm")}
    return rows + [MetricRow("Mean", mean)] if rows else []


def _mean(values) -> float | None:
    finite = [v for v in values if v is not None]
    return sum(finite) / len(finite) if finite else None


def uncertainty_tip(report: dict | None) -> str:
    if not report:
        return "Not predicted yet"
    method = report.get("uncertainty_method")
    text = ("mean predictive entropy (0: certain, 1: every class equally likely)" if method == "entropy" else
            "mean variance of the class probabilities across flips (0: the flips agree)")
    where = " over the predicted structure" if report.get("foreground_pixels") else \
        "; the model predicted no structure in this case"
    return f"{text}{where}"


def status_tip(predicted: bool, done: int, slices: int) -> str:
    if not predicted:
        return f"Not predicted yet; {done} of {slices} slices done"
    if done == slices:
        return "Every slice done"
    return f"{done} of {slices} slices done" if done else "To review: no slice accepted or labelled yet"
