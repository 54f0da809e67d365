"""Export a project's label maps for use outside SRA-Seg: NIfTI with the scan's geometry, PNG masks, PNG overlays and a
metrics table.

Layout of the export folder::

    nifti/<name>.nii.gz               one label map per case, on its image's voxel grid
    png/<name>/<name>_z000.png        one mask per slice: grey value = class index (uint8)
    png_color/<name>/<name>_z000.png  the same mask to look at: each class in its colour on black (RGB)
    overlays/<name>/<name>_z000.png   one RGB picture per slice: the scan in grey, classes coloured, 1-px outlines
    dicom-seg/<name>.dcm              DICOM-SEG referencing the source series (cases imported from DICOM only)
    metrics.csv                       per case and class, against the case's reference label
    export.json                       what was exported, when, from which project, and what was skipped and why

``<name>`` is the case id for the approved label and ``<case>_pred`` for the model's prediction, so the two never
overwrite each other and ``sra-seg evaluate`` pairs a ``_pred`` file with its ``_gt`` by name. Slices are numbered
from 0 in array order (``z`` = the image's k index), three digits or more.

Choices, and why
----------------
- **NIfTI always.** Every source format (NIfTI, NRRD, MetaImage, DICOM series, pictures) is exported as ``.nii.gz``:
  one format a downstream tool can count on, and one that holds the full affine, so the mask lands on the scan's voxels
  in any viewer. A NIfTI source's header (qform/sform codes, units) is reused; for the others the affine is converted
  from ITK's LPS geometry without loss (see :mod:`sra_seg_core.image`). To get NRRD or DICOM back, run
  ``sra-seg convert`` on the exported file.
- **PNG masks keep class indices** (0 background, 1..N): they are data for scripts and training, so the values are
  not scaled for visibility and look almost black in a picture viewer, so a colour-mapped copy is written beside them
  (``png_color``, class colours of the project); the overlays show the labels on the scan.
- **DICOM-SEG** (:mod:`sra_seg_core.dicom_seg`) only for cases imported from a DICOM series that is still there: it
  references the source instances and their geometry, which a NIfTI or picture source does not have.
- **Overlays are windowed per volume** to the 1–99 % percentiles of the whole scan, as the viewer does, so a slice
  looks as bright in the PNG as on screen and all slices of a case share one window. Pixels are voxels (no
  resampling for anisotropic in-plane spacing).
- **Metrics** score each exported label map against the case's reference label (Dice, Jaccard, HD95, ASD; distances
  in voxels and mm, with :mod:`sra_seg_core.metrics`' conventions). Cases without a reference are not scored.
  An approved label is scored on the whole volume, so a partly labelled case scores low on its unlabelled slices.

Every file is written atomically. A case that cannot be exported (missing or damaged file) is reported with the
reason and the export goes on; cancelling stops between slices and still writes ``export.json`` (and the metrics of
the cases done so far). Existing files with the same names are replaced; other files in the folder are left alone.
"""

from __future__ import annotations

import csv
import io as text_io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from sra_seg_core import io
from sra_seg_core.atomic import atomic_write_json, atomic_write_text
from sra_seg_core.errors import ConfigError, InputError, SraSegError
from sra_seg_core.image import Image
from sra_seg_core.io.itk import write_itk
from sra_seg_core.lazy import lazy_module
from sra_seg_core.metrics import CSV_COLUMNS, ClassMetrics, case_metrics, csv_values
from sra_seg_core.project import Project
from sra_seg_core.project.status import has_label_data

sitk = lazy_module("SimpleITK")  # imported on first use (start-up time)

SOURCES = ("approved", "prediction", "both")
PREDICTION_SUFFIX = "_pred"
_NAMES = {"approved": "approved label", "prediction": "prediction"}
METRICS_COLUMNS = (*CSV_COLUMNS, "source", "class")
EXPORT_FORMAT = "sra-seg-export"
WINDOW_PERCENTILES = (1.0, 99.0)

ProgressCallback = Callable[[int, int, str], None]


@dataclass
class ExportOptions:
    """What an export writes: one object for ``sra-seg project export``, the Export workspace and
    :func:`export_project` (``export_project(project, out, **vars(options))``)."""

    source: str = "approved"          # one of SOURCES
    nifti: bool = True
    png_masks: bool = False
    png_overlays: bool = False
    metrics_csv: bool = True
    overlay_opacity: float = 0.45     # overlay fill, 0..1
    dicom_seg: bool = False           # DICOM-SEG beside the source series (DICOM-sourced cases only)

    def cli_args(self) -> list[str]:
        """The ``sra-seg project export`` flags that ask for exactly these options."""
        args = ["--source", self.source, "--opacity", f"{self.overlay_opacity:.2f}"]
        args += [flag for on, flag in ((self.png_masks, "--png"), (self.png_overlays, "--overlays"),
                                       (self.dicom_seg, "--dicom-seg")) if on]
        return args + [flag for on, flag in ((self.nifti, "--no-nifti"), (self.metrics_csv, "--no-metrics")) if not on]

    @classmethod
    def from_cli(cls, args) -> ExportOptions:
        return cls(source=args.source, nifti=not args.no_nifti, png_masks=args.png, png_overlays=args.overlays,
                   metrics_csv=not args.no_metrics, overlay_opacity=args.opacity, dicom_seg=args.dicom_seg)


@dataclass
class ExportReport:
    """What an export did.

    exported: cases whose every requested file was written.
    skipped:  (case, reason) for requested label maps that do not exist (e.g. "no prediction").
    failed:   (case, reason) for cases that could not be exported (a missing image, a damaged file, a full disk).
    files:    every file written, export.json last.
    metrics:  per source, ``{"cases": n, "dice": mean Dice over cases and classes}`` of the scored cases.
    """

    out_dir: Path
    source: str
    total: int = 0
    exported: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    metrics: dict[str, dict] = field(default_factory=dict)
    cancelled: bool = False

    def to_json(self) -> dict:
        """Plain JSON values (``files`` as a count), as written to export.json and sent in the ``done`` event."""
        return {
            "out_dir": str(self.out_dir),
            "source": self.source,
            "total": self.total,
            "exported": list(self.exported),
            "skipped": [list(item) for item in self.skipped],
            "failed": [list(item) for item in self.failed],
            "files": len(self.files),
            "metrics": self.metrics,
            "cancelled": self.cancelled,
        }


class _Cancelled(Exception):
    pass


# --- pictures ---------------------------------------------------------------------------------------------------------
def display_window(volume: np.ndarray, percentiles: tuple[float, float] = WINDOW_PERCENTILES) -> tuple[float, float]:
    """(low, high) intensities at the given percentiles of ``volume`` (any shape, real values), low < high."""
    flat = np.asarray(volume).ravel()
    step = max(1, flat.size // 500_000)  # a subsample is plenty for percentiles and keeps big volumes fast
    low, high = (float(v) for v in np.percentile(flat[::step].astype(np.float64), percentiles))
    if high <= low:  # mostly one value: the full range, then a unit window for a constant image
        low, high = float(flat.min()), float(flat.max())
    if high <= low:
        high = low + 1.0
    return low, high


def hex_rgb(color: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` -> (r, g, b) in 0..255."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def class_edges(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: labelled pixels with a 4-neighbour of another value — the 1-px outline inside each region."""
    edge = np.zeros(labels.shape, dtype=bool)
    vertical = labels[1:, :] != labels[:-1, :]
    horizontal = labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    return edge & (labels > 0)


def overlay_rgb(
    image: np.ndarray,
    labels: np.ndarray,
    colors: dict[int, tuple[int, int, int]],
    *,
    window: tuple[float, float],
    opacity: float = 0.45,
) -> np.ndarray:
    """One overlay picture: (H, W, 3) uint8.

    image:   (H, W) real intensities, shown in grey from ``window`` = (low, high) (clipped).
    labels:  (H, W) integer class values; 0 and values without a colour are left grey.
    colors:  class value -> (r, g, b) 0..255.
    opacity: 0..1, how much of a class colour covers the grey inside a region; its 1-px outline is the pure colour.
    """
    low, high = window
    grey = np.clip((np.asarray(image, dtype=np.float32) - low) / (high - low), 0.0, 1.0) * 255.0
    rgb = np.repeat(grey[..., None], 3, axis=2)
    edges = class_edges(labels)
    for value, color in colors.items():
        inside = labels == value
        if not inside.any():
            continue
        color_array = np.asarray(color, dtype=np.float32)
        rgb[inside] = (1.0 - opacity) * rgb[inside] + opacity * color_array
        rgb[inside & edges] = color_array
    return np.rint(rgb).astype(np.uint8)


def colour_labels(labels: np.ndarray, colors: dict[int, tuple[int, int, int]]) -> np.ndarray:
    """(H, W, 3) uint8 picture of an (H, W) label map: each class value in its (r, g, b) colour, the rest black."""
    lut = np.zeros((256, 3), np.uint8)
    for value, color in colors.items():
        if 0 < value < 256:
            lut[value] = color
    return lut[np.asarray(labels, dtype=np.uint8)]


def write_rgb_png(rgb: np.ndarray, path: Path) -> Path:
    """Write (H, W, 3) uint8 as an RGB PNG, atomically (SimpleITK: no imaging library beyond the declared ones)."""
    write_itk(sitk.GetImageFromArray(np.ascontiguousarray(rgb), isVector=True), path, "PNG")
    return path


# --- the export -------------------------------------------------------------------------------------------------------
def export_project(
    project: Project,
    out_dir,
    *,
    cases: list[str] | None = None,
    source: str = "approved",
    nifti: bool = True,
    png_masks: bool = False,
    png_overlays: bool = False,
    metrics_csv: bool = True,
    overlay_opacity: float = 0.45,
    dicom_seg: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ExportReport:
    """Export label maps of ``cases`` into ``out_dir`` (see the module docstring for the layout and choices).

    cases:       case ids in the order to export; None = every case that has the chosen label map(s). A listed case
                 without it is reported in ``skipped``.
    source:      "approved" (the labels a clinician approved), "prediction" (the model's) or "both".
    on_progress: ``on_progress(done, total, case_id)`` before each case, and ``(total, total, "")`` at the end.
    cancel:      called between slices; True stops the export (``report.cancelled``), keeping what was written.
    Raises ConfigError for bad options, ProjectError for an unknown case (before anything is written), InputError
    when ``out_dir`` cannot be made.
    """
    if source not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if not 0.0 <= overlay_opacity <= 1.0:  # NaN fails too
        raise ConfigError(f"overlay opacity must be between 0 and 1, got {overlay_opacity}")
    if not (nifti or png_masks or png_overlays or metrics_csv or dicom_seg):
        raise ConfigError("nothing to export: choose NIfTI, PNG masks, PNG overlays, DICOM-SEG or the metrics table")
    kinds = ("approved", "prediction") if source == "both" else (source,)
    if cases is None:
        cases = [c.id for c in project.cases if any(_has(project, c.id, kind) for kind in kinds)]
    else:
        cases = list(dict.fromkeys(cases))
        for case_id in cases:
            project.case(case_id)  # an unknown id is a user error, raised before anything is written
    _refuse_name_collisions(project, cases, kinds)
    out_dir = Path(out_dir).expanduser().absolute()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the export folder ({exc.strerror or exc})", out_dir) from exc

    report = ExportReport(out_dir, source, total=len(cases))
    job = _Job(project, out_dir, report, nifti, png_masks, png_overlays, metrics_csv, overlay_opacity, cancel,
               dicom_seg=dicom_seg)
    try:
        for done, case_id in enumerate(cases):
            if on_progress is not None:
                on_progress(done, len(cases), case_id)
            job.check_cancel()
            job.export_case(case_id, kinds)
    except _Cancelled:
        report.cancelled = True
    if metrics_csv and job.scores:
        report.files.append(_write_metrics(out_dir / "metrics.csv", job.scores, project))
        report.metrics = _metric_summary(job.scores)
    report.files.append(out_dir / "export.json")  # listed before writing so the file count includes it
    _write_manifest(out_dir / "export.json", project, report, kinds, job)
    if on_progress is not None and not report.cancelled:
        on_progress(len(cases), len(cases), "")
    return report


def export_name(case_id: str, kind: str) -> str:
    """The file stem of a case's exported map: the case id for approved labels, ``<case>_pred`` for predictions."""
    return case_id if kind == "approved" else f"{case_id}{PREDICTION_SUFFIX}"


def _refuse_name_collisions(project: Project, cases: list[str], kinds: tuple[str, ...]) -> None:
    """Case ``a``'s prediction and case ``a_pred``'s approved label would both be ``a_pred``: one patient's map would
    replace another's. Refused before anything is written; names equal but for case count too (macOS, Windows)."""
    seen: dict[str, tuple[str, str]] = {}
    for case_id in cases:
        for kind in kinds:
            if not _has(project, case_id, kind):
                continue
            name = export_name(case_id, kind)
            other = seen.setdefault(name.casefold(), (case_id, kind))
            if other != (case_id, kind):
                raise ConfigError(f"the {_NAMES[other[1]]} of case {other[0]!r} and the {_NAMES[kind]} of case "
                                  f"{case_id!r} would both be exported as {name}; export them into separate "
                                  "folders (--cases, --source)")


def _has(project: Project, case_id: str, kind: str) -> bool:
    case = project.case(case_id)
    if kind == "prediction":
        return case.prediction is not None
    return has_label_data(project, case)


@dataclass
class _Job:
    project: Project
    out_dir: Path
    report: ExportReport
    nifti: bool
    png_masks: bool
    png_overlays: bool
    metrics_csv: bool
    opacity: float
    cancel: Callable[[], bool] | None
    scores: list[tuple[str, str, ClassMetrics]] = field(default_factory=list)  # (case, source, metrics)
    dicom_seg: bool = False

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise _Cancelled

    def export_case(self, case_id: str, kinds: tuple[str, ...]) -> None:
        present = [kind for kind in kinds if _has(self.project, case_id, kind)]
        missing = " and no ".join(_NAMES[kind] for kind in kinds if kind not in present)
        if not present:
            self.report.skipped.append((case_id, f"no {missing}"))
            return
        try:
            # read everything first: a damaged file fails the case before any of its files is written
            image = self.project.read_image(case_id)
            maps = {kind: self._read(case_id, kind) for kind in present}
            reference = self.project.read_reference(case_id) if self.metrics_csv else None
            for kind, labels in maps.items():
                self._write(case_id, kind, image, labels)
                if reference is not None:
                    self._score(case_id, kind, labels, reference.array, image)
        except _Cancelled:
            raise
        except (SraSegError, OSError, ValueError) as exc:
            self.report.failed.append((case_id, _reason(exc)))
            return
        self.report.exported.append(case_id)
        if missing:
            self.report.skipped.append((case_id, f"no {missing}; only its {_NAMES[present[0]]} was exported"))

    def _read(self, case_id: str, kind: str) -> np.ndarray:
        if kind == "approved":
            return self.project.read_label(case_id).array
        return self.project.read_prediction(case_id).array

    def _write(self, case_id: str, kind: str, image: Image, labels: np.ndarray) -> None:
        name = export_name(case_id, kind)
        labels = labels.astype(np.uint8, copy=False)
        if self.nifti:
            self.check_cancel()
            path = self.out_dir / "nifti" / f"{name}.nii.gz"
            self.report.files.append(io.write_image(image.with_array(labels, label=True), path, dtype=np.uint8))
        if self.png_masks:
            for z in range(labels.shape[0]):
                self.check_cancel()
                path = self.out_dir / "png" / name / f"{name}_z{z:03d}.png"
                mask = Image(labels[z : z + 1], image.affine, None, {"label": True})
                self.report.files.append(io.write_image(mask, path, dtype=np.uint8))
            for z in range(labels.shape[0]):  # the pictures after the data: a cancel keeps whole raw sets
                self.check_cancel()
                path = self.out_dir / "png_color" / name / f"{name}_z{z:03d}.png"
                self.report.files.append(write_rgb_png(colour_labels(labels[z], self._colors()), path))
        if self.dicom_seg:
            self._write_dicom_seg(case_id, kind, name, image, labels)
        if self.png_overlays:
            colors = self._colors()
            window = display_window(image.array)
            for z in range(labels.shape[0]):
                self.check_cancel()
                path = self.out_dir / "overlays" / name / f"{name}_z{z:03d}.png"
                rgb = overlay_rgb(image.array[z], labels[z], colors, window=window, opacity=self.opacity)
                self.report.files.append(write_rgb_png(rgb, path))

    def _colors(self) -> dict[int, tuple[int, int, int]]:
        return {c.value: hex_rgb(c.color) for c in self.project.classes}

    def _write_dicom_seg(self, case_id: str, kind: str, name: str, image: Image, labels: np.ndarray) -> None:
        from sra_seg_core.dicom_seg import write_dicom_seg

        self.check_cancel()
        source = Path(self.project.case(case_id).source)
        if not source.exists():
            self.report.skipped.append((case_id, f"no DICOM-SEG: its source {source} is not there any more"))
            return
        if not (image.meta.get("dicom_series") or source.is_dir()):
            self.report.skipped.append((case_id, "not imported from a DICOM series; no DICOM-SEG written"))
            return
        path = self.out_dir / "dicom-seg" / f"{name}.dcm"
        try:
            self.report.files.append(write_dicom_seg(labels, image, source, path, self.project.classes,
                                                     automatic=kind == "prediction"))
        except InputError as exc:  # the source series is gone or changed: the case's other files still count
            self.report.skipped.append((case_id, f"no DICOM-SEG: {exc}"))

    def _score(self, case_id: str, kind: str, labels: np.ndarray, reference: np.ndarray, image: Image) -> None:
        self.check_cancel()
        values = [c.value for c in self.project.classes]
        for metrics in case_metrics(labels, reference, values, image.spacing_zyx):
            self.scores.append((case_id, kind, metrics))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SraSegError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc)
    return str(exc) or type(exc).__name__


def _write_metrics(path: Path, scores: list[tuple[str, str, ClassMetrics]], project: Project) -> Path:
    """The columns of :func:`sra_seg_core.metrics.write_metrics_csv`, then ``source`` and the class name."""
    names = {c.value: c.name for c in project.classes}
    buffer = text_io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for case_id, kind, metrics in scores:
        writer.writerow([case_id, *csv_values(metrics), kind, names.get(metrics.label, str(metrics.label))])
    return atomic_write_text(path, buffer.getvalue())


def _metric_summary(scores: list[tuple[str, str, ClassMetrics]]) -> dict[str, dict]:
    """Per source: how many cases were scored and their mean Dice (the mean over classes, then over cases)."""
    per_case: dict[str, dict[str, list[float]]] = {}
    for case_id, kind, metrics in scores:
        per_case.setdefault(kind, {}).setdefault(case_id, []).append(metrics.dice)
    return {kind: {"cases": len(cases), "dice": float(np.mean([np.mean(d) for d in cases.values()]))}
            for kind, cases in per_case.items()}


def _write_manifest(path: Path, project: Project, report: ExportReport, kinds: tuple[str, ...], job: _Job) -> None:
    atomic_write_json(path, {
        "format": EXPORT_FORMAT,
        "version": 1,
        "exported_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "project": {"name": project.name, "path": str(project.path)},
        "source": report.source,
        "label_maps": {kind: "<case>" if kind == "approved" else f"<case>{PREDICTION_SUFFIX}" for kind in kinds},
        "formats": {"nifti": job.nifti, "png_masks": job.png_masks, "png_overlays": job.png_overlays,
                    "metrics_csv": job.metrics_csv, "dicom_seg": job.dicom_seg},
        "overlay_opacity": job.opacity,
        "classes": [{"value": c.value, "name": c.name, "color": c.color} for c in project.classes],
        **report.to_json(),
        "file_list": [p.relative_to(report.out_dir).as_posix() for p in report.files],
    })

