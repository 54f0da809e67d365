"""Serving cases to the network: whole volumes for validation, and 2-D slices at the training size.

Every volume is min-max normalised to [0, 1] on its own, as the ACDC slices the released code trains on were made
(SSL4MIS's ``acdc_data_processing.py``; the released loader reads its .h5 files as stored and normalises nothing).
Every slice is then resized to ``size`` x ``size`` whatever its original shape, by the run's protocol (:mod:`sra_seg_core.protocol`): ``studio``
(ours) bilinear for images and nearest for labels through ``torch.nn.functional.interpolate`` (the same result on
the CPU and on the GPU); ``reference`` an order-0 ``scipy.ndimage.zoom`` for both, as the released code does. With
``size=None`` slices stay at their own size (the reference protocol augments them there before the zoom).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sra_seg_core.datasets.cases import CaseRef
from sra_seg_core.errors import InputError
from sra_seg_core.image import Image
from sra_seg_core.io import read_image, read_label


@dataclass
class SliceSet:
    """2-D training slices, all the same size.

    images:      (N, S, S) float32 in [0, 1]; with ``load_slices(size=None)`` a list of N (H_i, W_i) arrays.
    labels:      (N, S, S) uint8 class indices (a list likewise), or None.
    case_ids:    (N,) the case each slice came from.
    slice_index: (N,) int64, the slice's z index within its case.
    """

    images: np.ndarray
    labels: np.ndarray | None
    case_ids: list[str]
    slice_index: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def normalise_minmax(array: np.ndarray) -> np.ndarray:
    """Min-max scale a finite array to float32 in [0, 1]; a constant array becomes zeros (no division by zero)."""
    array = np.asarray(array)
    lo, hi = float(array.min()), float(array.max())
    if hi <= lo:
        return np.zeros(array.shape, dtype=np.float32)
    # float32 holds 8/16-bit data exactly; int32 CT values or float64 data are scaled in float64 not to lose digits
    work = np.result_type(array.dtype, np.float32)
    scaled = ((array.astype(work) - work.type(lo)) / work.type(hi - lo)).astype(np.float32, copy=False)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def zoom_order0(image: np.ndarray, size: tuple[int, int] | int) -> np.ndarray:
    """One slice (H, W) to (h, w) exactly as the released code does: ``scipy.ndimage.zoom(image, (h / H, w / W),
    order=0)`` (nearest neighbour on scipy's corner-aligned grid; values and dtype kept)."""
    from scipy import ndimage

    size = (size, size) if isinstance(size, int) else tuple(size)
    x, y = image.shape
    if (x, y) == size:
        return image.copy()
    return ndimage.zoom(image, (size[0] / x, size[1] / y), order=0)


def resize_slices(array, size: tuple[int, int] | int, mode: str = "linear"):
    """Resize a stack of slices (N, H, W) to (N, h, w).

    ``mode`` ``linear``: bilinear, ``align_corners=False``, float result (float32 unless the input is another float
    type). ``nearest``: PyTorch's ``nearest-exact`` (the pixel whose centre is nearest), values and dtype kept — for
    labels. ``zoom0``: :func:`zoom_order0` slice by slice (the reference protocol, images and labels alike; on the
    CPU). Accepts a numpy array (returns numpy) or a torch tensor (returns a tensor on the same device).
    """
    import torch
    import torch.nn.functional as F

    if mode not in ("linear", "nearest", "zoom0"):
        raise ValueError(f"mode must be 'linear', 'nearest' or 'zoom0', not {mode!r}")
    size = (size, size) if isinstance(size, int) else tuple(size)
    is_numpy = not isinstance(array, torch.Tensor)
    tensor = torch.from_numpy(np.ascontiguousarray(array)) if is_numpy else array
    if tensor.ndim != 3:
        raise ValueError(f"expected slices (N, H, W), got shape {tuple(tensor.shape)}")
    if mode == "zoom0":
        host = tensor.cpu().numpy()
        out = np.stack([zoom_order0(s, size) for s in host]) if len(host) else np.zeros((0, *size), host.dtype)
        return out if is_numpy else torch.from_numpy(out).to(tensor.device)
    work = tensor if tensor.is_floating_point() else tensor.float()
    if tuple(tensor.shape[1:]) == size:
        out = (work if mode == "linear" else tensor).clone()
    elif mode == "linear":
        out = F.interpolate(work[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    else:  # integer labels pass through float32, exact for class indices below 2**24
        out = F.interpolate(work[:, None], size=size, mode="nearest-exact")[:, 0].to(tensor.dtype)
    return out.numpy() if is_numpy else out


def load_volume(
    case: CaseRef, *, num_classes: int | None = None, grey: str = "luminance", binarize: bool = False
) -> tuple[Image, Image | None]:
    """A whole case at its own size: image (Z, Y, X) float32 min-max normalised to [0, 1], with the file's geometry,
    and its label (Z, Y, X) uint8 on the same grid, or None when the case has no label."""
    image = read_image(case.image, frame=case.frame, grey=grey)
    normalised = Image(normalise_minmax(image.array), image.affine, image.source, dict(image.meta))
    if case.label is None:
        return normalised, None
    label = read_label(case.label, reference=image, num_classes=num_classes, binarize=binarize)
    if int(label.array.max(initial=0)) > 255:
        raise InputError(f"has label values up to {int(label.array.max())}; class numbers must be below 256",
                         case.label)
    return normalised, Image(label.array.astype(np.uint8), label.affine, label.source, dict(label.meta))


def load_slices(
    cases: list[CaseRef],
    *,
    size: int = 256,
    num_classes: int | None = None,
    labels: bool = True,
    grey: str = "luminance",
    binarize: bool = False,
    drop_empty: bool = False,
    require_foreground: bool = False,
    resize: str = "linear",
) -> SliceSet:
    """Every slice of every case, normalised per volume and resized to ``size`` x ``size``.

    ``resize`` ``linear`` (studio: bilinear images, nearest labels) or ``zoom0`` (reference: order-0 zoom for both);
    ``size`` None keeps every slice at its own size (lists of arrays, see :class:`SliceSet`).

    ``labels`` True: every case must have a label (InputError naming the first that has none) and ``SliceSet.labels``
    is filled, from the case's ``slices`` only when it names some; False: labels are not read (and every slice is
    used). ``drop_empty`` leaves out slices whose label is all background (needs
    labels). ``require_foreground``: InputError when no slice has any foreground — training on it would learn
    nothing and end without a best checkpoint, as if it had finished.
    """
    if labels:
        missing = [case for case in cases if case.label is None]
        if missing:
            names = ", ".join(case.case_id for case in missing[:5])
            raise InputError(f"{len(missing)} case(s) used as labelled have no label file: {names}"
                             f"{' …' if len(missing) > 5 else ''}; add X_gt files or leave them out",
                             missing[0].image)
    elif drop_empty:
        raise ValueError("drop_empty needs labels=True: empty slices are recognised by their label")
    images, label_stacks, case_ids, indices = [], [], [], []
    for case in cases:
        image, label = load_volume(case if labels else replace(case, label=None), num_classes=num_classes, grey=grey,
                                   binarize=binarize)
        keep = np.arange(image.shape[0]) if case.slices is None or not labels else np.asarray(case.slices, int)
        if drop_empty:
            keep = keep[label.array.reshape(len(keep), -1).any(axis=1)]
        if size is None:
            images += list(image.array[keep])
            if labels:
                label_stacks += list(label.array[keep])
        else:
            images.append(resize_slices(image.array[keep], size, resize))
            if labels:
                label_stacks.append(resize_slices(label.array[keep], size, "zoom0" if resize == "zoom0" else "nearest"))
        case_ids += [case.case_id] * len(keep)
        indices.append(keep)
    if require_foreground and labels and cases and not any(stack.any() for stack in label_stacks):
        folder = cases[0].label.parent
        raise InputError(f"the labels of all {len(cases)} labelled case(s) are background (0) only, so there is "
                         "nothing to learn; check that the label files hold the structures, not empty masks", folder)
    if size is None:
        return SliceSet(images, label_stacks if labels else None, case_ids,
                        np.concatenate(indices).astype(np.int64) if indices else np.zeros(0, dtype=np.int64))
    empty = np.zeros((0, size, size), dtype=np.float32)
    return SliceSet(
        images=np.concatenate(images) if images else empty,
        labels=(np.concatenate(label_stacks) if label_stacks else empty.astype(np.uint8)) if labels else None,
        case_ids=case_ids,
        slice_index=np.concatenate(indices).astype(np.int64) if indices else np.zeros(0, dtype=np.int64),
    )

