"""Finding the cases under a data folder: recognising its layout and handing it to that layout's reader."""

from __future__ import annotations

from pathlib import Path

from sra_seg_core.datasets import acdc, fives
from sra_seg_core.datasets.cases import Dataset
from sra_seg_core.datasets.folder import discover_folder, discover_synthetic
from sra_seg_core.datasets.project import discover_project, looks_like_project
from sra_seg_core.errors import ConfigError, InputError

LAYOUTS = ("auto", "acdc", "fives", "folder", "synthetic", "project")


def detect_layout(root: Path) -> str:
    """``project`` for an SRA-Seg Studio project, ``acdc`` when patient folders hold frame volumes and ``_gt``
    labels, ``fives`` when train/test folders hold ``Original`` and ``Ground truth``, otherwise ``folder``."""
    if looks_like_project(root):
        return "project"
    if acdc.looks_like_acdc(root):
        return "acdc"
    if fives.looks_like_fives(root):
        return "fives"
    return "folder"


def discover(root: str | Path, layout: str = "auto", *, num_classes: int | None = None) -> Dataset:
    """The cases under ``root`` read as ``layout`` (``auto`` detects it).

    ``num_classes`` None: ACDC 4, FIVES 2, a folder the largest label value + 1. ACDC and FIVES have fixed classes,
    so a different ``num_classes`` for them is a ConfigError.
    """
    root = Path(root)
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown data layout '{layout}'; use one of {', '.join(LAYOUTS)}")
    if not root.is_dir():
        raise InputError("data folder not found (or not a folder)", root)
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "synthetic":
        return discover_synthetic(root, num_classes=num_classes)
    if layout == "folder":
        return discover_folder(root, num_classes=num_classes)
    if layout == "project":
        dataset = discover_project(root)
        if num_classes is not None and num_classes != dataset.num_classes:
            raise ConfigError(f"the project has {dataset.num_classes} classes, not {num_classes}")
        return dataset
    dataset = acdc.discover_acdc(root) if layout == "acdc" else fives.discover_fives(root)
    if num_classes is not None and num_classes != dataset.num_classes:
        raise ConfigError(f"{layout.upper()} data has {dataset.num_classes} classes "
                          f"({', '.join(dataset.class_names)}), not {num_classes}; leave num_classes unset")
    return dataset
