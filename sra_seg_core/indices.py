"""Cardiac indices from short-axis label maps, and the agreement of predicted against reference indices.

For a patient with an end-diastolic (ED) and an end-systolic (ES) frame, as the ACDC challenge reports them:

- LV and RV end-diastolic volume (EDV) and end-systolic volume (ESV), in mL: the cavity label's voxel count times the
  voxel volume (mm³ / 1000). ACDC labels: 1 RV cavity, 2 LV myocardium, 3 LV cavity (papillary muscles included).
- stroke volume SV = EDV − ESV (mL) and ejection fraction EF = SV / EDV (in %; NaN when EDV is 0).
- myocardial mass (g) = myocardium volume at ED × 1.05 g/mL (the density the challenge uses).

Agreement of a method against a reference over patients, as the challenge's tables and a Bland–Altman plot show it:
mean difference (bias, method − reference), its sample SD (ddof 1), the 95 % limits of agreement bias ± 1.96 SD and
Pearson's correlation coefficient r.

ED/ES frames come from ACDC's ``Info.cfg`` (``ED: 1``, ``ES: 12``) or from the caller. Label maps are (Z, Y, X) with
voxel sizes in array order (``Image.spacing_zyx``), so anisotropic cine-MRI slices count with their thickness.
"""

from __future__ import annotations

import csv
import io as text_io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from sra_seg_core.atomic import atomic_write_text
from sra_seg_core.errors import ConfigError, InputError

MYOCARDIUM_DENSITY_G_PER_ML = 1.05
ACDC_LABELS = {"RV": 1, "Myo": 2, "LV": 3}
_FRAME = re.compile(r"_frame(\d+)$")


@dataclass(frozen=True)
class CardiacIndices:
    """The indices of one patient from one source of labels. Volumes in mL, EF in %, mass in g."""

    lv_edv_ml: float
    lv_esv_ml: float
    lv_sv_ml: float
    lv_ef_pct: float
    rv_edv_ml: float
    rv_esv_ml: float
    rv_sv_ml: float
    rv_ef_pct: float
    myo_mass_g: float


INDEX_NAMES = tuple(f.name for f in fields(CardiacIndices))
INDEX_TITLES = {
    "lv_edv_ml": "LV EDV (mL)", "lv_esv_ml": "LV ESV (mL)", "lv_sv_ml": "LV SV (mL)", "lv_ef_pct": "LV EF (%)",
    "rv_edv_ml": "RV EDV (mL)", "rv_esv_ml": "RV ESV (mL)", "rv_sv_ml": "RV SV (mL)", "rv_ef_pct": "RV EF (%)",
    "myo_mass_g": "Myo mass (g)",
}


def label_volume_ml(labels: np.ndarray, value: int, spacing_zyx: Sequence[float]) -> float:
    """Volume of the voxels equal to ``value`` in a (Z, Y, X) label map, in mL; ``spacing_zyx`` in mm."""
    voxel_mm3 = float(np.prod(np.asarray(spacing_zyx, dtype=np.float64)))
    return int(np.count_nonzero(np.asarray(labels) == value)) * voxel_mm3 / 1000.0


def _ejection_fraction(edv: float, esv: float) -> float:
    return 100.0 * (edv - esv) / edv if edv > 0 else math.nan


def cardiac_indices(
    ed: np.ndarray,
    es: np.ndarray,
    spacing_ed_zyx: Sequence[float],
    spacing_es_zyx: Sequence[float] | None = None,
    labels: Mapping[str, int] = ACDC_LABELS,
) -> CardiacIndices:
    """Indices of one patient from its ED and ES label maps.

    ed, es:          (Z, Y, X) integer label maps (the two frames may differ in shape).
    spacing_*_zyx:   voxel size in mm in array order; ES defaults to ED's.
    labels:          the values of "RV", "Myo" and "LV" in the maps (ACDC's 1, 2, 3 by default).
    """
    missing = [name for name in ACDC_LABELS if name not in labels]
    if missing:
        raise ConfigError(f"cardiac indices need label values for {', '.join(missing)}")
    spacing_es_zyx = spacing_ed_zyx if spacing_es_zyx is None else spacing_es_zyx
    lv_edv = label_volume_ml(ed, labels["LV"], spacing_ed_zyx)
    lv_esv = label_volume_ml(es, labels["LV"], spacing_es_zyx)
    rv_edv = label_volume_ml(ed, labels["RV"], spacing_ed_zyx)
    rv_esv = label_volume_ml(es, labels["RV"], spacing_es_zyx)
    return CardiacIndices(
        lv_edv_ml=lv_edv, lv_esv_ml=lv_esv, lv_sv_ml=lv_edv - lv_esv, lv_ef_pct=_ejection_fraction(lv_edv, lv_esv),
        rv_edv_ml=rv_edv, rv_esv_ml=rv_esv, rv_sv_ml=rv_edv - rv_esv, rv_ef_pct=_ejection_fraction(rv_edv, rv_esv),
        myo_mass_g=label_volume_ml(ed, labels["Myo"], spacing_ed_zyx) * MYOCARDIUM_DENSITY_G_PER_ML,
    )


# --- agreement ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Agreement:
    """Method against reference over ``n`` paired values (NaN pairs left out). Units of the index compared.

    bias: mean of (method − reference); sd: its sample SD (ddof 1, NaN for n < 2); loa_low / loa_high: bias ∓ 1.96 sd;
    r: Pearson correlation (NaN when n < 2 or either side is constant).
    """

    n: int
    bias: float
    sd: float
    loa_low: float
    loa_high: float
    r: float


def agreement(method: Sequence[float], reference: Sequence[float]) -> Agreement:
    """Bland–Altman statistics and Pearson's r of paired values (same length)."""
    a, b = np.asarray(method, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"agreement needs two sequences of the same length, got {a.shape} and {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = int(a.size)
    if n == 0:
        return Agreement(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    diff = a - b
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1)) if n > 1 else math.nan
    r = math.nan
    if n > 1 and a.std() > 0 and b.std() > 0:
        r = float(np.corrcoef(a, b)[0, 1])
    return Agreement(n, bias, sd, bias - 1.96 * sd, bias + 1.96 * sd, r)


@dataclass(frozen=True)
class PatientIndices:
    """One patient's indices from one source: "reference" (ground truth), "approved" or "prediction"."""

    patient: str
    source: str
    ed_frame: str
    es_frame: str
    indices: CardiacIndices


def agreement_table(rows: Iterable[PatientIndices], method: str, reference: str) -> dict[str, Agreement]:
    """Per index, the agreement of ``method`` rows against ``reference`` rows of the same patients."""
    by_source: dict[str, dict[str, CardiacIndices]] = {}
    for row in rows:
        by_source.setdefault(row.source, {})[row.patient] = row.indices
    pairs = sorted(by_source.get(method, {}).keys() & by_source.get(reference, {}).keys())
    return {name: agreement([getattr(by_source[method][p], name) for p in pairs],
                            [getattr(by_source[reference][p], name) for p in pairs]) for name in INDEX_NAMES}


@dataclass
class IndicesReport:
    """Indices of every patient and source, the agreements computed, and what was left out (patient, reason)."""

    rows: list[PatientIndices] = field(default_factory=list)
    agreements: dict[tuple[str, str], dict[str, Agreement]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add_agreement(self, method: str, reference: str) -> None:
        """Compare ``method`` against ``reference`` when at least one patient has both."""
        table = agreement_table(self.rows, method, reference)
        if any(a.n for a in table.values()):
            self.agreements[(method, reference)] = table


# --- CSV ------------------------------------------------------------------------------------------------------------
INDICES_COLUMNS = ("patient", "source", "ed_frame", "es_frame", *INDEX_NAMES)
AGREEMENT_COLUMNS = ("method", "reference", "index", *(f.name for f in fields(Agreement)))


def _cell(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def write_indices_csv(path: str | os.PathLike, report: IndicesReport) -> list[Path]:
    """Write the per-patient indices to ``path`` and, if any, the agreements to ``<stem>_agreement.csv`` beside it.

    Numbers at full precision (``repr``), an undefined value as ``nan``. Atomic. Returns the files written.
    """
    path = Path(path)
    buffer = text_io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDICES_COLUMNS)
    for row in report.rows:
        writer.writerow([row.patient, row.source, row.ed_frame, row.es_frame,
                         *(_cell(getattr(row.indices, name)) for name in INDEX_NAMES)])
    written = [atomic_write_text(path, buffer.getvalue())]
    if report.agreements:
        buffer = text_io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(AGREEMENT_COLUMNS)
        for (method, reference), table in report.agreements.items():
            for name, stats in table.items():
                writer.writerow([method, reference, name, *(_cell(v) for v in asdict(stats).values())])
        written.append(atomic_write_text(agreement_csv_path(path), buffer.getvalue()))
    return written


def agreement_csv_path(path: str | os.PathLike) -> Path:
    """Where :func:`write_indices_csv` puts the agreement table for an indices CSV at ``path``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_agreement{path.suffix or '.csv'}")


def format_report(report: IndicesReport) -> str:
    """A plain-text summary: the indices per patient and source, then each agreement table."""
    header = ["patient", "source", *(INDEX_TITLES[n] for n in INDEX_NAMES)]
    body = [[r.patient, r.source, *(f"{getattr(r.indices, n):.1f}" for n in INDEX_NAMES)] for r in report.rows]
    lines = _table(header, body)
    for (method, reference), table in report.agreements.items():
        lines += ["", f"{method} vs {reference}: bias, SD, 95 % limits of agreement, Pearson r"]
        rows = [[INDEX_TITLES[name], str(a.n), f"{a.bias:.2f}", f"{a.sd:.2f}", f"{a.loa_low:.2f} .. {a.loa_high:.2f}",
                 f"{a.r:.3f}"] for name, a in table.items()]
        lines += _table(["index", "n", "bias", "SD", "limits of agreement", "r"], rows)
    for patient, reason in report.skipped:
        lines.append(f"skipped {patient}: {reason}")
    return "\n".join(lines)


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in [header, *body]]


# --- an ACDC-layout folder ------------------------------------------------------------------------------------------
def ed_es_frames(info_cfg: Path) -> tuple[int, int]:
    """The (ED, ES) frame numbers an ACDC ``Info.cfg`` names."""
    from sra_seg_core.datasets.acdc import read_info

    info = read_info(info_cfg)
    try:
        return int(info["ED"]), int(info["ES"])
    except (KeyError, ValueError):
        raise InputError("needs 'ED: <frame>' and 'ES: <frame>' lines (the end-diastole and end-systole frame "
                         "numbers)", info_cfg) from None


def frame_number(case_id: str) -> int | None:
    """The ACDC frame number in a case name such as ``patient001_frame12``, or None."""
    match = _FRAME.search(case_id)
    return int(match.group(1)) if match else None


def acdc_indices(data, pred_dir=None) -> tuple[IndicesReport, list[Path]]:
    """Indices of every patient of an ACDC-layout folder, from its ``_gt`` labels and from predictions.

    data:     the ACDC tree (``patientNNN/`` folders, directly or under ``training/``), each with ``Info.cfg``.
    pred_dir: optional folder of predicted label maps named by case (``patientNNN_frameMM[_pred].nii.gz``), searched
              recursively as ``sra-seg evaluate`` does.
    Returns the report (sources "reference" and "prediction"; agreement prediction vs reference) and every input file
    read (so a caller can refuse to overwrite one).
    """
    from sra_seg_core.datasets.acdc import patient_folders
    from sra_seg_core.io import read_label
    from sra_seg_core.metrics import label_files_by_case

    data = Path(data)
    patients = patient_folders(data)
    if not patients:
        raise InputError("holds no ACDC patient folders (patientNNN/ with Info.cfg and frame volumes)", data)
    predictions = label_files_by_case(Path(pred_dir)) if pred_dir is not None else {}
    if pred_dir is not None and not predictions:
        raise InputError("holds no label files", pred_dir)
    report, inputs = IndicesReport(), []

    def indices_from(files: tuple[Path, Path]) -> CardiacIndices:
        ed_img, es_img = (read_label(f, num_classes=len(ACDC_LABELS) + 1) for f in files)
        inputs.extend(files)
        return cardiac_indices(ed_img.array, es_img.array, ed_img.spacing_zyx, es_img.spacing_zyx)

    for patient in patients:
        info = patient / "Info.cfg"
        if not info.is_file():
            report.skipped.append((patient.name, "no Info.cfg to say which frames are ED and ES"))
            continue
        inputs.append(info)
        ed, es = ed_es_frames(info)
        names = (f"{patient.name}_frame{ed:02d}", f"{patient.name}_frame{es:02d}")
        sources = {"reference": tuple(next(iter(sorted(patient.glob(f"{n}_gt.nii*"))), None) for n in names)}
        if pred_dir is not None:
            sources["prediction"] = tuple(predictions.get(n) for n in names)
        for source, files in sources.items():
            if None in files:
                missing = " and ".join(n for n, f in zip(names, files) if f is None)
                report.skipped.append((patient.name, f"no {source} label for {missing}"))
                continue
            report.rows.append(PatientIndices(patient.name, source, str(ed), str(es), indices_from(files)))
    if pred_dir is not None:
        report.add_agreement("prediction", "reference")
    return report, inputs


# --- a project ------------------------------------------------------------------------------------------------------
def project_label_values(classes) -> dict[str, int]:
    """The values of the project's classes named RV, Myo and LV (case-insensitive)."""
    by_name = {c.name.strip().lower(): c.value for c in classes}
    values = {name: by_name.get(name.lower()) for name in ACDC_LABELS}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ConfigError(f"cardiac indices need classes named RV, Myo and LV; this project has no "
                          f"{', '.join(missing)} (its classes: {', '.join(c.name for c in classes)})")
    return values  # type: ignore[return-value]


def _project_frames(cases: list) -> tuple[str, str] | str:
    """(ED case id, ES case id) of a patient, from the ``Info.cfg`` beside its imported source files, or a reason."""
    numbered = {frame_number(c.id): c for c in cases if frame_number(c.id) is not None}
    for case in cases:
        info = Path(case.source).parent / "Info.cfg"
        if case.source and info.is_file():
            ed, es = ed_es_frames(info)
            if ed in numbered and es in numbered:
                return numbered[ed].id, numbered[es].id
            return f"Info.cfg names ED frame {ed} and ES frame {es}, but the project holds frames {sorted(numbered)}"
    return "no Info.cfg beside its source files; choose the frames with --pair ED_CASE:ES_CASE"


def project_indices(project, pairs: Mapping[str, tuple[str, str]] | None = None) -> IndicesReport:
    """Indices of every patient (case group) of a project with real ED and ES frames.

    pairs: patient -> (ED case id, ES case id) chosen by the user; other patients take their frames from the
           ``Info.cfg`` next to the imported source (ACDC layout).
    Sources: "approved" (only when both frames are approved by :mod:`sra_seg_core.project.status`: a half-labelled
    frame would read as a small ventricle), "prediction" and "reference"; agreement of prediction against reference, and against approved labels.
    """
    from sra_seg_core.project.status import CaseStatus, case_status

    def all_done(case_id: str) -> bool:
        # the project's one rule for "approved" (every slice done and label data), not a second copy of it
        return case_status(project, project.case(case_id)) == CaseStatus.APPROVED

    values = project_label_values(project.classes)
    groups: dict[str, list] = {}
    for case in project.cases:
        if case.role == "real":
            groups.setdefault(case.group, []).append(case)
    pairs = dict(pairs or {})
    for patient, ids in pairs.items():
        for case_id in ids:
            project.case(case_id)  # an unknown case id is the user's error, raised before any work
        groups.setdefault(patient, [project.case(i) for i in ids])
    report = IndicesReport()
    for patient, cases in groups.items():
        frames = pairs.get(patient) or _project_frames(cases)
        if isinstance(frames, str):
            report.skipped.append((patient, frames))
            continue
        ed_case, es_case = (project.case(i) for i in frames)
        sources = {
            "reference": lambda cid: project.read_reference(cid),
            "approved": lambda cid: project.read_label(cid) if all_done(cid) else None,
            "prediction": lambda cid: project.read_prediction(cid),
        }
        for source, read in sources.items():
            ed_img, es_img = read(ed_case.id), read(es_case.id)
            if ed_img is None or es_img is None:
                continue
            report.rows.append(PatientIndices(
                patient, source, ed_case.id, es_case.id,
                cardiac_indices(ed_img.array, es_img.array, ed_img.spacing_zyx, es_img.spacing_zyx, values)))
        if not any(row.patient == patient for row in report.rows):
            report.skipped.append((patient, "no reference, fully approved or predicted labels for both frames"))
    report.add_agreement("prediction", "reference")
    report.add_agreement("prediction", "approved")
    return report
