"""The project store: a folder holding a clinician's cases, labels, predictions and runs, where nothing is lost.

See :mod:`.store` for the layout and :class:`Project` for the API; :mod:`.journal` for crash recovery of strokes,
:mod:`.lock` for the single-writer lock and :mod:`.manifest` for ``project.json``.
"""

from sra_seg_core.project.classes import DEFAULT_CLASSES, OKABE_ITO, LabelClass, generic_classes, named_classes
from sra_seg_core.project.manifest import CaseRecord, SliceStatus
from sra_seg_core.project.pairing import find_label
from sra_seg_core.project.store import ImportReport, Project

__all__ = [
    "DEFAULT_CLASSES",
    "OKABE_ITO",
    "CaseRecord",
    "ImportReport",
    "LabelClass",
    "Project",
    "SliceStatus",
    "find_label",
    "generic_classes",
    "named_classes",
]
