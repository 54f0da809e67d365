"""What a dataset is to the engine: a list of cases (image file, optional label file, the group it belongs to)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sra_seg_core.errors import InputError


@dataclass(frozen=True)
class CaseRef:
    """One image (volume or 2-D picture) and its label file, if any.

    case_id: unique within its dataset: ACDC ``patient001_frame01``, FIVES ``1_A``, generic: the file stem.
    group:   the unit of splitting and labelled selection (ACDC: the patient, so ED and ES stay together; else the
             case itself).
    frame:   time frame to read from a 4-D file (0-based), None for 2-D / 3-D files.
    slices:  the slice indices whose labels are usable (a project's slices marked done), None for all of them.
    """

    case_id: str
    image: Path
    label: Path | None
    group: str
    frame: int | None = None
    slices: tuple[int, ...] | None = None


@dataclass
class Dataset:
    """The cases found under ``root`` and what their labels mean.

    layout:      ``acdc`` | ``fives`` | ``folder`` | ``synthetic`` | ``project``.
    num_classes: label classes including background (0 when no label was found and none was given).
    predefined:  splits the layout itself defines (FIVES ``train`` / ``test`` folders; a project's labelled, reference,
                 unlabelled-real and synthetic cases), else empty.
    grey:        rule turning 2-D colour inputs into grey (passed to ``sra_seg_core.io.read_image``).
    binarize_labels: labels are 0/255 masks to be read as 0/1.
    """

    root: Path
    layout: str
    cases: list[CaseRef]
    num_classes: int
    class_names: list[str]
    predefined: dict[str, list[CaseRef]] = field(default_factory=dict)
    grey: str = "luminance"
    binarize_labels: bool = False


def default_class_names(num_classes: int) -> list[str]:
    """``["background", "class 1", …]`` for data that does not name its classes."""
    return ["background", *(f"class {c}" for c in range(1, num_classes))]


def unique_case_ids(stems: list[str], qualifiers: list[str], root: Path) -> list[str]:
    """Each stem as the case id, except stems that occur more than once: those become ``<qualifier>_<stem>``.

    The qualifier says where the file came from (a split folder, a sub-folder path), so ids stay readable in file
    names and tables while never colliding.
    """
    counts = Counter(stems)
    ids = [stem if counts[stem] == 1 or not qualifier else f"{qualifier}_{stem}"
           for stem, qualifier in zip(stems, qualifiers)]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise InputError(f"several images map to the same case id ({', '.join(duplicates[:5])}); rename one of "
                         "each pair so every image has its own name", root)
    return ids
