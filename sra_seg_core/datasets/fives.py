"""FIVES: ``train|test/Original/*.png`` colour fundus photographs with ``train|test/Ground truth/*.png`` 0/255 masks.

The train / test folders are the dataset's own split and are kept as ``Dataset.predefined``. Images are read grey
(the reference trains on one channel) and masks binarised to background 0 / vessel 1.
"""

from __future__ import annotations

from pathlib import Path

from sra_seg_core.datasets.cases import CaseRef, Dataset, unique_case_ids
from sra_seg_core.errors import InputError
from sra_seg_core.io import list_images, strip_suffix

CLASS_NAMES = ["background", "vessel"]
SPLITS = ("train", "test")
EXPECTED = "train/ and test/ folders, each with 'Original' images and 'Ground truth' masks of the same names"


def _key(name: str) -> str:
    return name.replace(" ", "").replace("_", "").lower()


def _child(folder: Path | None, *names: str) -> Path | None:
    """The sub-folder of ``folder`` whose name matches one of ``names``, ignoring case, spaces and underscores."""
    if folder is None or not folder.is_dir():
        return None
    wanted = {_key(n) for n in names}
    return next((p for p in sorted(folder.iterdir()) if p.is_dir() and _key(p.name) in wanted), None)


def _split_folders(root: Path) -> dict[str, tuple[Path, Path | None]]:
    """split name -> (Original folder, Ground truth folder or None), for the splits present."""
    found = {}
    for split in SPLITS:
        originals = _child(_child(root, split), "Original")
        if originals is not None:
            found[split] = (originals, _child(originals.parent, "Ground truth"))
    return found


def looks_like_fives(root: Path) -> bool:
    return any(truth is not None for _, truth in _split_folders(root).values())


def discover_fives(root: Path) -> Dataset:
    """Every image of the train and test folders, paired with its mask by file stem."""
    entries = []  # (split, image, label)
    for split, (originals, truth) in _split_folders(root).items():
        masks = {strip_suffix(p): p for p in list_images(truth)} if truth else {}
        entries += [(split, image, masks.get(strip_suffix(image))) for image in list_images(originals)]
    if not entries:
        raise InputError(f"no FIVES images found; expected {EXPECTED}", root)
    ids = unique_case_ids([strip_suffix(image) for _, image, _ in entries], [split for split, _, _ in entries], root)
    predefined: dict[str, list[CaseRef]] = {}
    for case_id, (split, image, label) in zip(ids, entries):
        predefined.setdefault(split, []).append(CaseRef(case_id, image, label, case_id))
    cases = [case for split in predefined.values() for case in split]
    return Dataset(root, "fives", cases, len(CLASS_NAMES), list(CLASS_NAMES), predefined, binarize_labels=True)
