"""An SRA-Seg Studio project as training data: what the clinician labelled, in the app's own folder.

Read without the project's lock (the app holding it may be open): the manifest and label files are only read.

* labelled: real cases labelled by the rule of :mod:`sra_seg_core.project.status`, restricted to their done slices;
  a labelled case whose strokes are still only in its journal is refused (the label file would miss them);
* validation / test: real cases with a reference label (kept apart for metrics); without any, one labelled patient
  is held out for validation when there are at least three, else validation falls back to the labelled slices (with
  a warning: the best-checkpoint choice is then optimistic);
* unlabelled: the synthetic cases, or the real cases with nothing done (``data.unlabeled = real``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from sra_seg_core.datasets.cases import CaseRef, Dataset
from sra_seg_core.errors import InputError

MANIFEST = "project.json"


def looks_like_project(root: Path) -> bool:
    return (root / MANIFEST).is_file()


def discover_project(root: Path) -> Dataset:
    from sra_seg_core.project import Project
    from sra_seg_core.project.status import is_labelled, is_reference, labelled_slices

    project = Project.open(root, read_only=True)
    labelled, reference, unlabelled, synthetic = [], [], [], []
    for case in project.cases:
        common = dict(case_id=case.id, image=project.image_path(case.id), group=case.group or case.id,
                      frame=case.frame)
        if case.role == "synthetic":
            synthetic.append(CaseRef(label=None, **common))
            continue
        if is_labelled(project, case):
            pending = project.pending_strokes(case.id)
            if pending or case.label is None:
                raise InputError(f"case {case.id} has {pending} stroke(s) not saved to its label file yet: save in "
                                 "the Studio (Ctrl+S), or open the project there once to fold them in, then train",
                                 root)
            labelled.append(CaseRef(label=project.path / case.label, slices=labelled_slices(project, case), **common))
        elif is_reference(case):
            reference.append(CaseRef(label=project.path / case.reference, **common))
        else:
            unlabelled.append(CaseRef(label=None, **common))
    if not labelled:
        raise InputError("the project has no labelled slices yet: label some slices of real cases and mark them "
                         "done (D) before training", root)
    names = ["background", *(c.name for c in project.classes)]
    return Dataset(root=root, layout="project", cases=labelled + reference + unlabelled + synthetic,
                   num_classes=project.num_classes, class_names=names,
                   predefined={"train": labelled, "reference": reference, "unlabelled": unlabelled,
                               "synthetic": synthetic})


def project_split(dataset: Dataset, seed: int) -> dict[str, list[CaseRef]]:
    """train = labelled cases (all of them: the clinician chose them); val = test = reference cases, see above."""
    train, reference = list(dataset.predefined["train"]), list(dataset.predefined["reference"])
    if reference:
        return {"train": train, "val": reference, "test": reference}
    groups = sorted({c.group for c in train})
    if len(groups) >= 3:
        held = groups[int(np.random.default_rng(seed).integers(len(groups)))]
        warnings.warn(f"no reference labels in the project: patient {held} is held out of training for validation",
                      stacklevel=2)
        val = [c for c in train if c.group == held]
        return {"train": [c for c in train if c.group != held], "val": val, "test": val}
    warnings.warn("no reference labels and fewer than three labelled patients: validation uses the labelled "
                  "slices themselves, so the best checkpoint is chosen optimistically", stacklevel=2)
    return {"train": train, "val": train, "test": train}
