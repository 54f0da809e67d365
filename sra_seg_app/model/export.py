"""The Export workspace's state and rules, without widgets: which cases have something to export, the chosen options
as saved in the project settings, whether an output folder may be used as it is, the engine command, and the
summary of a finished export.

The export itself runs as ``sra-seg project export`` in a child process (:class:`~sra_seg_app.model.jobs.EngineRun`);
its typed result is :meth:`sra_seg_core.export.ExportReport.to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from sra_seg_core.export import ExportOptions
from sra_seg_core.project.status import has_label_data, is_labelled

SOURCES = {  # key: (button, what it writes)
    "approved": ("Approved", "The labels you drew or accepted, saved as <case>."),
    "prediction": ("Predictions", "The model's masks, saved as <case>_pred."),
    "both": ("Both", "Approved labels as <case>, predictions as <case>_pred."),
}
FORMATS = {  # key (an ExportOptions field): (button, tooltip, files it writes)
    "nifti": ("NIfTI", "Label maps on the scan's voxel grid (its affine is kept)", "nifti/<case>.nii.gz"),
    "png_masks": ("PNG masks", "One PNG per slice; pixel value = class index (0 = background)",
                  "png/<case>/<case>_z###.png"),
    "png_overlays": ("Overlays", "One colour PNG per slice: the scan with coloured classes",
                     "overlays/<case>/<case>_z###.png"),
    "metrics_csv": ("Metrics", "Dice, Jaccard, HD95 and ASD against reference labels", "metrics.csv"),
    "dicom_seg": ("DICOM-SEG", "DICOM-SEG (DICOM-sourced cases): a segmentation object referencing the source "
                  "series; other cases are skipped for this format", "dicom-seg/<case>.dcm"),
}
DEFAULT_FORMATS = {"nifti": True, "png_masks": False, "png_overlays": True, "metrics_csv": True, "dicom_seg": False}
DEFAULT_OPACITY = 0.45
SETTINGS_KEY = "export"
WHAT = {"approved": "approved label", "prediction": "prediction", "both": "approved label or prediction"}
MARKER = "export.json"   # what an earlier export left in its folder: exporting there again needs no confirmation


def has_source(project, case, source: str) -> bool:
    """Whether a case has something to export for ``source`` ("approved", "prediction" or "both")."""
    if source == "approved":
        return has_label_data(project, case)
    if source == "prediction":
        return case.prediction is not None
    return has_label_data(project, case) or case.prediction is not None


def quick_selection(project, which: str) -> list[str]:
    """Case ids for a quick-selection button: "all", "none", "labelled" or "predicted", in project order."""
    rule = {"all": lambda c: True, "none": lambda c: False, "labelled": lambda c: is_labelled(project, c),
            "predicted": lambda c: c.prediction is not None}[which]
    return [c.id for c in project.cases if rule(c)]


@dataclass
class ExportChoices:
    """What the user chose, as remembered in the project's settings (``settings["export"]``)."""

    folder: str = ""
    source: str = "approved"
    formats: dict[str, bool] = field(default_factory=lambda: dict(DEFAULT_FORMATS))
    opacity: float = DEFAULT_OPACITY          # overlay opacity in [0, 1]

    @classmethod
    def from_settings(cls, project) -> ExportChoices:
        """The project's remembered choices; defaults for what is missing or malformed (a hand-edited file), and a
        folder beside the project when none was chosen."""
        settings = project.settings.get(SETTINGS_KEY) if project is not None else None
        settings = settings if isinstance(settings, dict) else {}
        source = settings.get("source") if settings.get("source") in SOURCES else "approved"
        formats = {key: bool(settings.get(key, default)) for key, default in DEFAULT_FORMATS.items()}
        opacity = settings.get("opacity")
        opacity = min(1.0, max(0.0, float(opacity))) if isinstance(opacity, (int, float)) else DEFAULT_OPACITY
        folder = settings.get("folder")
        if not (isinstance(folder, str) and folder):
            folder = str(project.path.parent / f"{project.path.name}-export") if project is not None else ""
        return cls(folder=folder, source=source, formats=formats, opacity=opacity)

    def to_settings(self) -> dict:
        return {"folder": self.folder.strip(), "source": self.source, **self.formats, "opacity": self.opacity}

    def options(self) -> ExportOptions:
        """The engine's typed options (what the CLI and export_project take)."""
        return ExportOptions(source=self.source, overlay_opacity=self.opacity, **self.formats)

    @property
    def any_format(self) -> bool:
        return any(self.formats.values())

    def writes_text(self) -> str:
        chosen = [FORMATS[key][2] for key, on in self.formats.items() if on]
        return f"Writes {', '.join(chosen)} and {MARKER}." if chosen else "Choose at least one format."


class FolderState(str, Enum):
    USABLE = "usable"           # missing, empty, or an earlier export's folder
    NOT_A_FOLDER = "file"
    HOLDS_OTHER_FILES = "other" # usable only with the user's consent (the engine's --overwrite)


def folder_state(out: Path) -> FolderState:
    """Whether ``out`` can take an export as it is; mirrors the engine's refusal of a foreign non-empty folder."""
    if out.exists() and not out.is_dir():
        return FolderState.NOT_A_FOLDER
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        return FolderState.HOLDS_OTHER_FILES
    return FolderState.USABLE


def export_args(project_path: Path, out: Path, options: ExportOptions, *, overwrite: bool = False) -> list[str]:
    """The ``sra-seg`` arguments of the export; case ids go to stdin (thousands would not fit on a command line)."""
    args = ["project", "export", str(project_path), str(out), "--cases-file", "-", "--events", "-",
            *options.cli_args()]
    return args + ["--overwrite"] if overwrite else args


def count_text(project, selected: list[str], total: int, source: str) -> str:
    """The line under the case list: how many are ticked, and how many of those will be skipped."""
    text = f"{len(selected)} of {total} cases ticked."
    if project is not None and selected:
        lacking = sum(1 for cid in selected if not has_source(project, project.case(cid), source))
        if lacking:
            text += f" {lacking} of them {'has' if lacking == 1 else 'have'} no {WHAT[source]} and will be skipped."
    return text


def preview_target(project, current: str, ticked: list[str], source: str) -> str:
    """The case to preview: the highlighted one, else the first ticked case with something to export."""
    if current or project is None:
        return current
    found = (cid for cid in ticked if has_source(project, project.case(cid), source))
    return next(found, ticked[0] if ticked else "")


def preview_kind(project, case, source: str) -> str | None:
    """Which volume the preview shows for a case ("approved" or "prediction"), None when it has neither."""
    approved = has_label_data(project, case)
    if approved and (source != "prediction" or case.prediction is None):
        return "approved"
    if case.prediction is not None:
        return "prediction"
    return None


def result_headline(result: dict) -> str:
    exported, total, files = len(result["exported"]), result["total"], result["files"]
    if result["cancelled"]:
        return f"Stopped after {exported} of {total} cases; the {files} files written so far are kept."
    return f"Exported {exported} of {total} cases · {files} files"


def failed_text(result: dict) -> str:
    failed = len(result["failed"])
    return "" if not failed else (f"{failed} case{'' if failed == 1 else 's'} could not be exported: fix the files "
                                  "named below, then export those cases again.")


def metrics_lines(result: dict) -> list[tuple[str, float, int]]:
    """(what, mean Dice in %, cases) per exported kind that had reference labels to compare with."""
    return [(WHAT[kind], 100 * summary["dice"], summary["cases"])
            for kind, summary in (result.get("metrics") or {}).items()]
