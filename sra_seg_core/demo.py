"""The demo project: phantom patients in a ready-to-use project, made once on this machine (nothing is downloaded).

Twelve real-style cardiac patients (ED and ES frames each): the first two with approved labels (about the 10 % a
clinician labels), the rest with reference labels kept apart for metrics, plus six synthetic-style patients as the
synthetic pool. Creation takes a few seconds; the app shows its progress.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from sra_seg_core.io import write_image
from sra_seg_core.phantoms.cardiac import PHASES, acdc_info, cardiac_case
from sra_seg_core.phantoms.seeds import case_seed
from sra_seg_core.project import DEFAULT_CLASSES, Project

REAL_PATIENTS = 12
LABELLED_PATIENTS = 2
SYNTHETIC_PATIENTS = 6
SEED = 2026


def create_demo_project(folder: str | Path, *, real: int = REAL_PATIENTS, labelled: int = LABELLED_PATIENTS,
                        synthetic: int = SYNTHETIC_PATIENTS, seed: int = SEED,
                        on_progress: Callable[[int, int, str], None] | None = None) -> Project:
    """Create the demo project in ``folder`` (new or empty) and return it open for writing."""
    folder = Path(folder)
    project = Project.create(folder, name="SRA-Seg demo (cardiac phantoms)", classes=list(DEFAULT_CLASSES))
    jobs = [(n, "real") for n in range(1, real + 1)] + [(1000 + n, "synthetic") for n in range(1, synthetic + 1)]
    staging = Path(tempfile.mkdtemp(prefix="sra-seg-demo-"))
    try:
        for done, (number, style) in enumerate(jobs):
            name = f"patient{number:03d}" if style == "real" else f"synthetic{number - 1000:03d}"
            if on_progress:
                on_progress(done, len(jobs), name)
            patient_seed = case_seed(seed, number)
            info = acdc_info(patient_seed)
            for phase in PHASES:
                image, label = cardiac_case(patient_seed, style, phase)
                stem = f"{name}_frame{int(info[phase]):02d}"
                image_file = write_image(image, staging / f"{stem}.nii")
                if style == "synthetic":
                    project.import_image(image_file, role="synthetic", copy=True, case_id=stem, group=name)
                    continue
                label_file = write_image(label, staging / f"{stem}_gt.nii")
                project.import_image(image_file, role="real", copy=True, case_id=stem, group=name, label=label_file,
                                     label_as="approved" if number <= labelled else "reference")
        project.settings["demo"] = {"seed": seed, "real": real, "labelled": labelled, "synthetic": synthetic}
        project.save()
        if on_progress:
            on_progress(len(jobs), len(jobs), "done")
    except BaseException:
        project.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return project
