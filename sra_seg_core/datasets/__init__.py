"""Datasets: finding cases on disk (ACDC, FIVES, generic and synthetic folders), splitting them by group, choosing the
labelled subset, and serving normalised volumes and resized slices to training and evaluation.

    dataset = discover("ACDC/database/training")          # layout detected: acdc
    splits = split_cases(dataset, seed=1337)               # the published split when it applies
    labelled = select_labelled(splits["train"], fraction=0.1)   # 7 patients, a prefix of the train order
    slices = load_slices(labelled, size=256, num_classes=dataset.num_classes)
"""

from sra_seg_core.datasets.cases import CaseRef, Dataset
from sra_seg_core.datasets.discover import detect_layout, discover
from sra_seg_core.datasets.folder import discover_synthetic
from sra_seg_core.datasets.slices import SliceSet, load_slices, load_volume, normalise_minmax, resize_slices
from sra_seg_core.datasets.split import published_acdc_split, select_labelled, split_cases

__all__ = [
    "CaseRef",
    "Dataset",
    "SliceSet",
    "detect_layout",
    "discover",
    "discover_synthetic",
    "load_slices",
    "load_volume",
    "normalise_minmax",
    "published_acdc_split",
    "resize_slices",
    "select_labelled",
    "split_cases",
]
