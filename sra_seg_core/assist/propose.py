"""Model proposals: a trained run's prediction for a slice or a whole case, as a ghost layer to accept per class.

Any run's checkpoint serves: ``best.pt``, or ``latest.pt`` of a run still training (written atomically, so reading it
mid-run is safe). Inference is :mod:`sra_seg_core.inference`'s, slice by slice as in evaluation: each slice is
min-max normalised with its volume, resized to the training size, predicted; here the class *probabilities* are
brought back to the slice's own size (bilinear) so that the proposal, its uncertainty and the argmax agree pixel for
pixel on the user's grid.

Uncertainty is the normalised entropy of the class probabilities: 0 where the model is sure, 1 where every class is
equally likely.

Two steps make a proposal better than the bare prediction, measured on the cardiac phantoms (benchmarks/assist.py):
the probabilities are averaged over the image and its two flips (:func:`~sra_seg_core.inference.predict_probabilities`
``tta``; about +0.02 mean Dice with 1 or 2 labelled patients), and a proposal of the whole case keeps only the
largest 3-D connected component of each class, the teacher's pseudo-label rule
(:func:`~sra_seg_core.teacher.pseudo_labels`) in 3-D: false-positive blobs away from the heart (an RV in apical
slices) go, whatever the flips left. A proposal of some slices keeps every
component: a structure may be cut in two within one slice, and on the phantoms the 2-D rule did not help.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sra_seg_core.annotation import SliceEdit, _masked_edit, _replace_layers
from sra_seg_core.errors import InputError


@dataclass
class Proposal:
    """A model's proposal for some slices of one image.

    slices:        the slice indices z it covers, in order.
    probabilities: (n, K, Y, X) float32, per class (0 = background), summing to 1 over K.
    labels:        (n, Y, X) uint8 argmax of ``probabilities``; for a whole case only the largest 3-D connected
                   component of each class, the rest background.
    uncertainty:   (n, Y, X) float32 normalised entropy in [0, 1].
    source:        which model proposed: checkpoint path, its run, stage, iteration and validation Dice.
    """

    slices: tuple[int, ...]
    probabilities: np.ndarray
    labels: np.ndarray
    uncertainty: np.ndarray
    source: dict

    def slice_labels(self, z: int) -> np.ndarray:
        """(Y, X) uint8 proposal for slice ``z``."""
        return self.labels[self.slices.index(z)]


def proposal_checkpoint(path: str | Path) -> Path:
    """The checkpoint to propose from: a file as given, or a run folder's ``best.pt``, else its ``latest.pt`` (a run
    still training that has not validated yet). InputError when there is neither."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "latest.pt"):
            candidate = path / "checkpoints" / name
            if candidate.is_file():
                return candidate
        raise InputError("is not a run folder with a checkpoint (no checkpoints/best.pt or latest.pt)", path)
    if not path.is_file():
        raise InputError("checkpoint not found", path)
    return path


def normalised_entropy(probabilities: np.ndarray, axis: int = 1) -> np.ndarray:
    """Entropy of class probabilities along ``axis`` divided by log K: float32 in [0, 1]."""
    k = probabilities.shape[axis]
    p = np.clip(probabilities, 1e-8, 1.0)
    entropy = -(p * np.log(p)).sum(axis=axis)
    return (entropy / np.log(k)).astype(np.float32) if k > 1 else np.zeros_like(entropy, np.float32)


def propose(loaded, volume: np.ndarray, slices: Sequence[int] | None = None, *, batch_size: int = 16,
            tta: bool = True) -> Proposal:
    """The proposal of ``loaded`` (:class:`~sra_seg_core.inference.LoadedModel`) for ``slices`` of ``volume``.

    volume: (Z, Y, X) any intensities (the image as read; normalised here with the whole volume, as in training).
    slices: slice indices (all when None: the whole case, whose classes keep their largest 3-D component).
    tta:    average over the image and its two flips (three passes of the network).
    """
    import torch
    import torch.nn.functional as F

    from sra_seg_core.datasets import normalise_minmax
    from sra_seg_core.inference import predict_probabilities
    from sra_seg_core.teacher import pseudo_labels

    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be (Z, Y, X), got shape {volume.shape}")
    zs = tuple(range(volume.shape[0])) if slices is None else tuple(int(z) for z in slices)
    for z in zs:
        if not 0 <= z < volume.shape[0]:
            raise InputError(f"slice {z} is outside the image, which has {volume.shape[0]} slices (0..."
                             f"{volume.shape[0] - 1})")
    normalised = normalise_minmax(volume)[list(zs)]
    probs = predict_probabilities(loaded.model, normalised, size=loaded.image_size, device=loaded.device,
                                  batch_size=batch_size, tta=tta, autocast=loaded.device.type == "cuda")
    with torch.no_grad():
        native = F.interpolate(probs, size=volume.shape[1:], mode="bilinear", align_corners=False)
    native = native.float().cpu().numpy()
    native /= native.sum(axis=1, keepdims=True)
    whole_case = sorted(zs) == list(range(volume.shape[0]))
    if whole_case:
        order = np.argsort(zs)  # the volume in z order, as its 3-D components need
        labels = np.empty((len(zs), *volume.shape[1:]), np.uint8)
        labels[order] = pseudo_labels(torch.from_numpy(native[order].transpose(1, 0, 2, 3)[None]))[0].numpy()
    else:
        labels = native.argmax(axis=1).astype(np.uint8)
    meta = dict(loaded.meta)
    source = {"checkpoint": str(loaded.meta.get("checkpoint", "")), "stage": meta.get("stage"),
              "iteration": meta.get("iteration"), "dice": meta.get("dice"), "method": meta.get("method")}
    return Proposal(zs, native, labels, normalised_entropy(native), source)


def load_proposer(path: str | Path, device: str = "auto"):
    """:func:`~sra_seg_core.inference.load_checkpoint` of :func:`proposal_checkpoint` ``(path)``, with the checkpoint
    path and run folder recorded in ``meta`` (the panel says which model proposes)."""
    from sra_seg_core.inference import load_checkpoint

    checkpoint = proposal_checkpoint(path)
    loaded = load_checkpoint(checkpoint, device)
    loaded.meta["checkpoint"] = str(checkpoint)
    loaded.meta["run"] = checkpoint.parent.parent.name
    return loaded


def check_fits(loaded, num_classes: int) -> None:
    """InputError unless ``loaded`` predicts ``num_classes`` label values (background included), as the project's
    label maps hold: a model trained before a class was added or removed would propose the wrong classes."""
    if loaded.num_classes != num_classes:
        raise InputError(f"the model predicts {loaded.num_classes - 1} classes but the project has {num_classes - 1} "
                         "(a class was added or removed since it was trained); train a new run to propose",
                         loaded.meta.get("checkpoint"))


def accept_classes(labels: np.ndarray, proposal: Proposal, classes: Collection[int] | None = None, *,
                   slices: Collection[int] | None = None, overwrite: bool = True) -> list[SliceEdit]:
    """The edits that take ``classes`` of the proposal into ``labels`` (Z, Y, X) uint8 (all classes when None).

    On each slice (all the proposal's, or ``slices``) the label's pixels of those classes are replaced by the
    proposal's; other classes stay. ``overwrite=False`` only adds the proposal's pixels onto unlabelled ones. One edit
    per slice that changes: together one undo step.
    """
    if labels.ndim != 3 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be (Z, Y, X) uint8, got {labels.shape} {labels.dtype}")
    edits = []
    for z in proposal.slices if slices is None else slices:
        current = labels[z]
        target = _replace_layers(current, proposal.slice_labels(z), classes, overwrite)
        edit = _masked_edit(current, z, None, target)
        if edit is not None:
            edits.append(edit)
    return edits
