"""The demo project: phantom patients in a ready-to-use project, made once on this machine (nothing is downloaded).

Twelve real-style cardiac patients (ED and ES frames each): the first two with approved labels (about the 10 % a
clinician labels), the rest with reference labels kept apart for metrics, plus six synthetic-style patients as the
synthetic pool.

The project can be made in two steps so that the app shows an image at once: :func:`begin_demo_project` writes the
project with its plan (``settings["demo"]``) and the first case (the first patient's ED frame), then :func:`finish_demo_project` adds the patients
the plan still lacks — in the app from a background worker that renders each patient (:func:`render_patient`, pure
computation) while the window's thread adds it (:func:`add_patient`). Each case is added whole (its files first, then
the manifest, atomically), so an interrupted generation leaves only complete cases, and a later
:func:`finish_demo_project` carries on where it stopped.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.phantoms.cardiac import PHASES, acdc_info, cardiac_case
from sra_seg_core.phantoms.seeds import case_seed
from sra_seg_core.project import DEFAULT_CLASSES, Project

REAL_PATIENTS = 12
LABELLED_PATIENTS = 2
SYNTHETIC_PATIENTS = 6
SEED = 2026
NAME = "SRA-Seg demo (cardiac phantoms)"


@dataclass(frozen=True)
class Patient:
    """One patient of the plan: ``number`` 1… for real-style patients, 1001… for synthetic-style ones."""

    number: int
    style: str            # "real" | "synthetic"

    @property
    def name(self) -> str:
        return f"patient{self.number:03d}" if self.style == "real" else f"synthetic{self.number - 1000:03d}"


@dataclass(frozen=True)
class RenderedCase:
    """One frame of a rendered patient, not yet in any project."""

    case_id: str
    group: str
    role: str             # "real" | "synthetic"
    image: Image
    label: Image | None   # None for synthetic cases
    label_as: str         # "approved" (the labelled patients) | "reference"


def plan(real: int = REAL_PATIENTS, synthetic: int = SYNTHETIC_PATIENTS) -> list[Patient]:
    """The patients of a demo project, in the order they are made (real ones first)."""
    return ([Patient(n, "real") for n in range(1, real + 1)]
            + [Patient(1000 + n, "synthetic") for n in range(1, synthetic + 1)])


def case_ids(patient: Patient, seed: int = SEED) -> list[str]:
    info = acdc_info(case_seed(seed, patient.number))
    return [f"{patient.name}_frame{int(info[phase]):02d}" for phase in PHASES]


def render_patient(patient: Patient, *, labelled: int = LABELLED_PATIENTS, seed: int = SEED,
                   phases: tuple[str, ...] = PHASES) -> list[RenderedCase]:
    """The patient's frames (``phases``: ED, ES) as images and labels in memory; safe to call from any thread."""
    patient_seed = case_seed(seed, patient.number)
    cases = []
    for case_id, phase in zip(case_ids(patient, seed), PHASES):
        if phase not in phases:
            continue
        image, label = cardiac_case(patient_seed, patient.style, phase)
        synthetic = patient.style == "synthetic"
        cases.append(RenderedCase(case_id, patient.name, patient.style, image, None if synthetic else label,
                                  "approved" if patient.number <= labelled else "reference"))
    return cases


def add_patient(project: Project, cases: list[RenderedCase], staging: Path) -> list[str]:
    """Add a rendered patient's frames that ``project`` lacks (a frame added before an interruption is kept);
    returns the case ids added. What an interrupted import left behind under a missing id is discarded first.

    ``staging``: a folder for the files imported from, kept by the caller until its last patient is added — the
    project knows an imported file by its inode, which a deleted file hands on to the next one.
    """
    present = {c.id for c in project.cases}
    added = []
    for case in cases:
        if case.case_id in present:
            continue
        project.discard_leftovers(case.case_id)
        image_file = write_image(case.image, Path(staging) / f"{case.case_id}.nii")
        label_file = write_image(case.label, Path(staging) / f"{case.case_id}_gt.nii") if case.label else None
        project.import_image(image_file, role=case.role, copy=True, case_id=case.case_id, group=case.group,
                             label=label_file, label_as=case.label_as)
        added.append(case.case_id)
    return added


def demo_settings(project: Project) -> dict | None:
    """The plan a demo project was made with (None: not a demo project)."""
    settings = project.settings.get("demo")
    return settings if isinstance(settings, dict) else None


def missing_patients(project: Project) -> list[Patient]:
    """The planned patients with a frame not yet in ``project``, in the order they are made ([] when complete)."""
    settings = demo_settings(project)
    if settings is None:
        return []
    present = {c.id for c in project.cases}
    seed = settings.get("seed", SEED)
    return [p for p in plan(settings.get("real", REAL_PATIENTS), settings.get("synthetic", SYNTHETIC_PATIENTS))
            if not set(case_ids(p, seed)) <= present]


def begin_demo_project(folder: str | Path, *, real: int = REAL_PATIENTS, labelled: int = LABELLED_PATIENTS,
                       synthetic: int = SYNTHETIC_PATIENTS, seed: int = SEED, first: int = 1) -> Project:
    """Create the demo project in ``folder`` (new or empty) with its plan and its first ``first`` cases (frames:
    1 is the first patient's ED frame, the case the app opens); returns it open for writing.
    :func:`finish_demo_project` adds the rest."""
    project = Project.create(folder, name=NAME, classes=list(DEFAULT_CLASSES))
    try:
        project.settings["demo"] = {"seed": seed, "real": real, "labelled": labelled, "synthetic": synthetic}
        project.save()
        with tempfile.TemporaryDirectory(prefix="sra-seg-demo-") as staging:
            for patient in plan(real, synthetic):
                if first <= 0:
                    break
                phases, first = PHASES[:first], first - len(PHASES)
                add_patient(project, render_patient(patient, labelled=labelled, seed=seed, phases=phases),
                            Path(staging))
    except BaseException:
        project.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return project


def finish_demo_project(project: Project, *, on_progress: Callable[[int, int, str], None] | None = None) -> None:
    """Add the patients the demo plan still lacks. ``on_progress(done, total, name)`` before each and at the end."""
    settings = demo_settings(project) or {}
    missing = missing_patients(project)
    with tempfile.TemporaryDirectory(prefix="sra-seg-demo-") as staging:
        for done, patient in enumerate(missing):
            if on_progress:
                on_progress(done, len(missing), patient.name)
            add_patient(project, render_patient(patient, labelled=settings.get("labelled", LABELLED_PATIENTS),
                                                seed=settings.get("seed", SEED)), Path(staging))
    if on_progress:
        on_progress(len(missing), len(missing), "done")


def create_demo_project(folder: str | Path, *, real: int = REAL_PATIENTS, labelled: int = LABELLED_PATIENTS,
                        synthetic: int = SYNTHETIC_PATIENTS, seed: int = SEED,
                        on_progress: Callable[[int, int, str], None] | None = None) -> Project:
    """Create the whole demo project in ``folder`` (new or empty) and return it open for writing; nothing is left
    behind if it fails."""
    project = begin_demo_project(folder, real=real, labelled=labelled, synthetic=synthetic, seed=seed, first=0)
    try:
        finish_demo_project(project, on_progress=on_progress)
    except BaseException:
        project.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return project
