"""Which file is the label of which image, by name.

A label for image ``X.ext`` is ``X_gt``, ``X_label`` or ``X_seg`` beside it — with the same extension, else any
supported one (an ``X.nii`` scan with an ``X_gt.nii.gz`` label) — or, when a label folder is given, a file named ``X``
(any supported extension, also with those suffixes) in that folder — the FIVES layout keeps ``Original/1_A.png`` and
``Ground truth/1_A.png``.
"""

from __future__ import annotations

from pathlib import Path

from sra_seg_core.atomic import split_suffix
from sra_seg_core.io.formats import SUPPORTED_SUFFIXES

LABEL_SUFFIXES = ("_gt", "_label", "_seg")


def label_index(files: list[Path]) -> dict[str, Path]:
    """Files by stem (``.nii.gz`` counted as one extension); the first file wins a shared stem."""
    index: dict[str, Path] = {}
    for path in files:
        index.setdefault(split_suffix(path)[0], path)
    return index


def find_label(image: Path, label_files: dict[str, Path] | None = None) -> Path | None:
    """The label file for ``image``, or None: a suffixed sibling first, then a match in ``label_files`` (an index
    built by :func:`label_index`)."""
    stem, ext = split_suffix(image)
    for suffix in LABEL_SUFFIXES:
        for label_ext in dict.fromkeys((ext, *SUPPORTED_SUFFIXES)):
            sibling = image.with_name(f"{stem}{suffix}{label_ext}")
            if sibling.is_file():
                return sibling
    if label_files:
        for name in (stem, *(stem + suffix for suffix in LABEL_SUFFIXES)):
            if name in label_files:
                return label_files[name]
    return None


def labels_among(files: list[Path]) -> set[Path]:
    """The files in ``files`` that are the suffixed label of another file beside it in the list (whatever the two
    extensions), so not images in their own right."""
    stems = {(path.parent, split_suffix(path)[0]) for path in files}
    return {
        path
        for path in files
        for suffix in LABEL_SUFFIXES
        if (stem := split_suffix(path)[0]).endswith(suffix) and (path.parent, stem[: -len(suffix)]) in stems
    }
