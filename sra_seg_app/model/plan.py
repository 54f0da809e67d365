"""The Plan panel's state and rules, without widgets: the choices offered, the options they make, the runs that can
score disagreement, the remembered DINOv2 weights, the labelling-progress texts and the texts of a suggestion.

Suggestions come from ``sra-seg project suggest`` in a child process; its typed result (the done event) is what
:func:`suggestion_rows` and :func:`summary_text` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sra_seg_core import runs
from sra_seg_core.selection import SETTINGS_WEIGHTS_KEY, SuggestOptions, labelling_progress

STRATEGIES = (("diverse", "Diverse (cover the variety)", "Patients whose images differ most from everything "
                                                           "labelled or suggested: the core-set greedy"),
              ("random", "Random (published protocol)", "Patients drawn at random, as the paper's 10 % subset is"),
              ("disagreement", "Teacher–student disagreement", "Where a trained run's mean teacher and student "
                                                                 "disagree most: the model is unsure there"))
UNITS = (("patients", "Whole patients"), ("slices", "Single slices"))
FEATURES = (("auto", "Auto — DINOv2 if weights exist"), ("dinov2", "DINOv2 only"),
            ("intensity", "Intensity histogram"))
UNREADABLE = ("Could not suggest: the engine's answer was unreadable. Try again; if it persists, run "
              "`sra-seg project suggest` in a terminal to see why.")
NOTHING_LEFT = "Nothing to suggest: the target is reached. Raise the target to get more."


def suggest_options(strategy: str, fraction: float, unit: str, features: str, run_dir: str | None) -> SuggestOptions:
    """The engine's typed options; a choice the strategy does not use is left at its default (random draws whole
    patients, as the published protocol does)."""
    return SuggestOptions(strategy=strategy, fraction=fraction, unit="patients" if strategy == "random" else unit,
                          features=features if strategy == "diverse" else "auto",
                          run_dir=run_dir if strategy == "disagreement" else None)


def suggest_args(project_path: Path, options: SuggestOptions) -> list[str]:
    return ["project", "suggest", str(project_path), *options.cli_args(), "--events", "-"]


def teacher_runs(project) -> list[runs.Run]:
    """The project's runs that offer a teacher (disagreement needs one), newest first."""
    return runs.list_runs(project.runs_dir, offering="teacher") if project is not None else []


def weights_file(project) -> str | None:
    """The DINOv2 weights file named in the project settings (what ``project suggest`` uses), or None."""
    return project.settings.get(SETTINGS_WEIGHTS_KEY) if project is not None else None


def set_weights_file(project, path: str | None) -> None:
    """Remember (or, with None, forget) the weights file in the project settings. Raises SraSegError if they cannot
    be saved."""
    if path is None:
        project.settings.pop(SETTINGS_WEIGHTS_KEY, None)
    else:
        project.settings[SETTINGS_WEIGHTS_KEY] = str(Path(path).expanduser().absolute())
    project.save()


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


@dataclass
class ProgressView:
    """The labelling progress as the panel shows it: bar value and maximum, its caption, the note under it."""

    value: int
    maximum: int
    caption: str
    note: str


def progress_view(project, fraction: float) -> ProgressView:
    """Labelled real patients (every slice done, see project/status.py) against the target ``fraction``."""
    if project is None:
        return ProgressView(0, 1, "no project open", "")
    progress = labelling_progress(project, fraction)
    slices = labelling_progress(project, fraction, "slices")
    caption = (f"labelled {progress.labelled} of {progress.total} patients ({progress.percent:.0f} %) — target "
               f"{round(100 * fraction)} %")
    if progress.total == 0:
        note = "No real images yet: import some to start labelling."
    elif progress.remaining:
        note = (f"{progress.remaining} more patient{_plural(progress.remaining, '', 's')} to reach the target of "
                f"{progress.target}.")
    else:
        note = f"Target of {progress.target} patient{_plural(progress.target, '', 's')} reached."
    if progress.partly:   # started but not labelled whole: they do not count yet
        note += (f" {progress.partly} more patient{_plural(progress.partly, ' is', 's are')} partly labelled: a "
                 "patient counts once every slice of it is done.")
    return ProgressView(progress.labelled, max(progress.total, 1), caption,
                        f"{note} {slices.labelled} of {slices.total} real slices are labelled and done.")


def suggestion_rows(result: dict) -> list[tuple[str, str, str, dict]]:
    """(title, score, tooltip, the suggestion) per suggestion of a ``project suggest`` result, in its order."""
    rows = []
    for n, s in enumerate(result["suggestions"], 1):
        where = s["patient"] if result["unit"] == "patients" else f"{s['case']} · slice {s['slice'] + 1}"
        score = "" if s["score"] is None else f"{s['score']:.3f}"
        rows.append((f"{n}. {where}", score, s["reason"] + (f"\nNote: {s['note']}" if s["note"] else ""), s))
    return rows


def summary_text(result: dict) -> str:
    measured = {"diverse": f"Distances measured on {result.get('features')}.",
                "disagreement": "Score: 1 − Dice between the teacher's and the student's label maps."}
    return (f"{result['summary'][0].upper()}{result['summary'][1:]}. "
            f"{measured.get(result['strategy'], '')}").strip()


def details_text(suggestion: dict) -> str:
    reason = suggestion["reason"]
    text = f"{reason[0].upper()}{reason[1:]}.\nCases: {', '.join(suggestion['cases'])}."
    if suggestion["note"]:
        text += f"\nNote: {suggestion['note']}."
    return text + "\nDouble-click to open it."


def failure_text(code: int, error: str, stderr_tail: list[str]) -> str:
    tail = "\n".join(stderr_tail[-3:])
    return f"Could not suggest: {error or tail or f'the engine stopped with code {code}'}"
