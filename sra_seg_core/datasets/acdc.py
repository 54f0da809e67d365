"""ACDC: ``patientNNN/patientNNN_frameMM.nii.gz`` volumes with ``_gt`` labels and an ``Info.cfg`` per patient.

As SSL4MIS does, every patient gives one case per annotated frame — end-diastole and end-systole, whose numbers
``Info.cfg`` holds — and the patient is the group, so both frames of a patient always land in the same split.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from sra_seg_core.datasets.cases import CaseRef, Dataset
from sra_seg_core.errors import InputError

CLASS_NAMES = ["background", "RV", "Myo", "LV"]
EXPECTED = "patientNNN/ folders holding patientNNN_frameMM.nii.gz volumes and patientNNN_frameMM_gt.nii.gz labels"

_PATIENT = re.compile(r"patient\d+")
_NIFTI = r"\.nii(?:\.gz)?"


def patient_folders(root: Path) -> list[Path]:
    """The patient folders of an ACDC tree: directly in ``root``, or in ``root/training`` (the download's layout)."""
    for folder in (root, root / "training"):
        if folder.is_dir():
            found = sorted(p for p in folder.iterdir() if p.is_dir() and _PATIENT.fullmatch(p.name))
            if found:
                return found
    return []


def looks_like_acdc(root: Path) -> bool:
    """True when some patient folder holds both a frame volume and its ``_gt`` label."""
    for patient in patient_folders(root):
        names = [p.name for p in patient.iterdir()]
        frames = _frame_files(patient.name, names, gt=False)
        if frames and any(number in frames for number in _frame_files(patient.name, names, gt=True)):
            return True
    return False


def _frame_files(patient: str, names: list[str], *, gt: bool) -> dict[int, str]:
    """Frame number -> file name of the frame volumes (or their ``_gt`` labels) among ``names``."""
    pattern = re.compile(rf"{patient}_frame(\d+){'_gt' if gt else ''}{_NIFTI}")
    return {int(m.group(1)): name for name in sorted(names) if (m := pattern.fullmatch(name))}


def read_info(path: Path) -> dict[str, str]:
    """``Info.cfg`` as a dict (``ED``, ``ES``, ``Group``, ``Height``, ``NbFrame``, ``Weight``)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path) from None
    return {key.strip(): value.strip() for key, sep, value in (line.partition(":") for line in text.splitlines())
            if sep}


def _annotated_frames(patient: Path, labels: dict[int, str]) -> list[int]:
    info_path = patient / "Info.cfg"
    if not info_path.is_file():
        warnings.warn(f"{info_path}: missing; using the frames that have a _gt label ({sorted(labels)})",
                      stacklevel=3)
        return sorted(labels)
    info = read_info(info_path)
    try:
        return sorted({int(info["ED"]), int(info["ES"])})
    except (KeyError, ValueError):
        raise InputError("needs 'ED: <frame>' and 'ES: <frame>' lines (the end-diastole and end-systole frame "
                         "numbers)", info_path) from None


def _patient_cases(patient: Path) -> list[CaseRef]:
    names = [p.name for p in patient.iterdir()]
    images = _frame_files(patient.name, names, gt=False)
    labels = _frame_files(patient.name, names, gt=True)
    four_d = next((patient / n for n in sorted(names) if re.fullmatch(rf"{patient.name}_4d{_NIFTI}", n)), None)
    cases = []
    for number in _annotated_frames(patient, labels):
        label = patient / labels[number] if number in labels else None
        case_id = f"{patient.name}_frame{number:02d}"
        if number in images:
            cases.append(CaseRef(case_id, patient / images[number], label, patient.name))
        elif four_d is not None:  # ACDC frame numbers count from 1; the 4-D file's time axis from 0
            cases.append(CaseRef(case_id, four_d, label, patient.name, frame=number - 1))
        else:
            raise InputError(f"frame {number} is annotated (Info.cfg or a _gt file) but neither "
                             f"{case_id}.nii.gz nor {patient.name}_4d.nii.gz is there", patient)
    return cases


def discover_acdc(root: Path) -> Dataset:
    """All annotated frames of all patients under ``root`` (or ``root/training``), patient by patient."""
    patients = patient_folders(root)
    if not patients:
        raise InputError(f"no ACDC patient folders found; expected {EXPECTED}", root)
    cases = [case for patient in patients for case in _patient_cases(patient)]
    if not cases:
        raise InputError(f"the patient folders hold no annotated frames; expected {EXPECTED}", root)
    return Dataset(root, "acdc", cases, len(CLASS_NAMES), list(CLASS_NAMES))
