"""Generic and synthetic folders: any supported images, with label files found by name.

An image ``X.ext`` is paired with a label
  - next to it, named ``X_gt``, ``X_label`` or ``X_seg`` (any supported suffix), or
  - in a ``labels/`` folder beside its ``images/`` folder, with the same name; nnU-Net's ``imagesTr`` / ``labelsTr``
    and ``imagesTs`` / ``labelsTs`` too, where the image's channel suffix ``_0000`` is dropped from the case name and
    further channels ``_0001``… are not used (the network takes one channel).
Images without a label are kept with ``label=None``. Folders are searched recursively; a sub-folder holding ``.dcm``
files is one DICOM series (one image). Files and folders starting with ``.`` are skipped. A folder or file reached
twice (a link loop, a link to a sibling folder, a second link to one file) is read once, so one image cannot appear as
several cases and land in train, validation and test at once.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from sra_seg_core.datasets.cases import CaseRef, Dataset, default_class_names, unique_case_ids
from sra_seg_core.errors import InputError
from sra_seg_core.io import list_images, read_label, strip_suffix
from sra_seg_core.io.formats import natural_key

LABEL_SUFFIXES = ("_gt", "_label", "_seg")
# images folder -> its labels folder (lower case)
LABEL_FOLDERS = {"images": "labels", "imagestr": "labelstr", "imagests": "labelsts"}
NNUNET_IMAGE_FOLDERS = ("imagestr", "imagests")  # file names end in a channel number: case_0000, case_0001, …
EXPECTED = ("images (.nii/.nii.gz, .nrrd, .mha, PNG, JPEG, TIFF or DICOM series folders), optionally with labels "
            "named X_gt / X_label / X_seg next to image X, or an images/ folder with a labels/ folder beside it")

_CHANNEL = re.compile(r"(.+)_(\d{4})")


def _entries(root: Path) -> list[Path]:
    """Supported image files and DICOM series folders under ``root``, each file or folder once, in a stable natural
    order."""
    found = []
    folders, seen = [root], {_identity(root)}
    while folders:
        folder = folders.pop()
        found += list_images(folder)
        subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for sub in subfolders:
            if _identity(sub) in seen:
                continue
            seen.add(_identity(sub))
            if any(f.suffix.lower() == ".dcm" for f in sub.iterdir() if f.is_file()):
                found.append(sub)
            else:
                folders.append(sub)
    found.sort(key=lambda p: [natural_key(part) for part in p.relative_to(root).parts])
    kept: dict[tuple[int, int], Path] = {}
    for path in found:  # of several paths to one file keep the file itself (its label sits beside it), not a link
        other = kept.setdefault(_identity(path), path)
        if other.is_symlink() and not path.is_symlink():
            kept[_identity(path)] = path
    chosen = set(kept.values())
    return [path for path in found if path in chosen]


def _identity(path: Path) -> tuple[int, int]:
    """Device and inode: the same for every path (link, spelling) that reaches one file or folder."""
    info = path.stat()
    return info.st_dev, info.st_ino


def _label_folder(image_folder: Path) -> Path | None:
    """The ``labels`` folder paired with an ``images`` folder (matched ignoring case), if there is one."""
    wanted = LABEL_FOLDERS.get(image_folder.name.lower())
    if wanted is None:
        return None
    return next((p for p in image_folder.parent.iterdir() if p.is_dir() and p.name.lower() == wanted), None)


def _is_label(path: Path) -> bool:
    if path.parent.name.lower() in LABEL_FOLDERS.values():
        return any(p.is_dir() and p.name.lower() in LABEL_FOLDERS for p in path.parent.parent.iterdir())
    return strip_suffix(path).lower().endswith(LABEL_SUFFIXES)


def _pairs(root: Path) -> list[tuple[str, Path, Path | None]]:
    """(case stem, image, label or None) for every image under ``root``."""
    entries = _entries(root)
    by_folder: dict[Path, dict[str, Path]] = {}
    for path in entries:
        by_folder.setdefault(path.parent, {})[strip_suffix(path).lower()] = path
    pairs, extra_channels = [], 0
    for image in entries:
        if _is_label(image):
            continue
        stem = strip_suffix(image)
        channel = _CHANNEL.fullmatch(stem) if image.parent.name.lower() in NNUNET_IMAGE_FOLDERS else None
        if channel and channel.group(2) != "0000":
            extra_channels += 1
            continue
        stem = channel.group(1) if channel else stem
        label_folder = _label_folder(image.parent)
        if label_folder is not None:
            label = by_folder.get(label_folder, {}).get(stem.lower())
        elif image.parent.name.lower() in LABEL_FOLDERS:  # an images/ folder without its labels/ folder
            label = None
        else:
            siblings = by_folder[image.parent]
            label = next((siblings[key] for s in LABEL_SUFFIXES if (key := f"{stem}{s}".lower()) in siblings), None)
        pairs.append((stem, image, label))
    if extra_channels:
        warnings.warn(f"{root}: {extra_channels} extra channel file(s) (_0001 …) not used: the network reads one "
                      "channel, _0000", stacklevel=3)
    return pairs


def _label_classes(labels: list[Path], num_classes: int | None) -> tuple[int, bool]:
    """(num_classes, binarize) from the label files: 0/255 masks are binary (2 classes, read as 0/1); otherwise the
    largest value + 1. A given ``num_classes`` wins; 0 when there are no labels."""
    values: set[int] = set()
    for path in labels:
        values.update(np.unique(read_label(path).array).tolist())
    binarize = values <= {0, 255} and 255 in values
    if num_classes is not None:
        return num_classes, binarize
    if not values:
        return 0, False
    return (2 if binarize else int(max(values)) + 1), binarize


def discover_folder(root: Path, *, num_classes: int | None = None, layout: str = "folder") -> Dataset:
    """Every image under ``root`` with its label, if any; ``layout`` is ``folder`` or ``synthetic``.

    ``num_classes`` None: taken from the labels (largest value + 1; 0/255 masks count as 2 classes, binarised).
    """
    pairs = _pairs(root)
    if not pairs:
        raise InputError(f"no readable images found; expected {EXPECTED}", root)
    qualifiers = ["_".join(image.parent.relative_to(root).parts) for _, image, _ in pairs]
    ids = unique_case_ids([stem for stem, _, _ in pairs], qualifiers, root)
    cases = [CaseRef(case_id, image, label, case_id) for case_id, (_, image, label) in zip(ids, pairs)]
    classes, binarize = _label_classes([c.label for c in cases if c.label is not None], num_classes)
    return Dataset(root, layout, cases, classes, default_class_names(classes) if classes else [],
                   binarize_labels=binarize)


def discover_synthetic(root: str | Path, *, num_classes: int | None = None) -> Dataset:
    """A folder (searched recursively) of synthetic images or volumes for the unlabelled stream.

    Labels paired with them are kept: the benchmark uses them to measure pseudo-label quality; training ignores them.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("synthetic image folder not found", root)
    return discover_folder(root, num_classes=num_classes, layout="synthetic")
