"""Propagation: propose the next slice's labels from the current slice's.

With a model, the proposal is the model's for the target slice (:mod:`.propose`). Without one, the current labels are
carried over and refined by the target slice's own intensities: each class keeps its core (the label eroded by
``margin`` px, or by half its depth when it is thinner than that) as a scribble, pixels farther than ``margin`` px from
every label are background scribbles, and the band in between — where a structure may have grown, shrunk or moved
between slices — is decided by the scribble segmenter on the target slice (the seeded watershed on its gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sra_seg_core.assist.scribble import BACKGROUND, ScribbleSegmenter
from sra_seg_core.lazy import lazy_module

ndimage = lazy_module("scipy.ndimage")

DEFAULT_MARGIN = 3  # px: how far a boundary may move between neighbouring slices (best of 2-4 with 2 on phantoms)


@dataclass
class Propagation:
    """labels: (Y, X) uint8 proposal for slice ``z``; method: "model" or "shape"; source: the model, when one."""

    z: int
    labels: np.ndarray
    method: str
    source: dict


def carried_scribbles(labels: np.ndarray, margin: int = DEFAULT_MARGIN) -> np.ndarray:
    """Scribbles (Y, X) uint8 that carry ``labels`` (Y, X) uint8 to a neighbouring slice: class cores, background
    beyond ``margin`` px of any label, 0 (to decide) in between."""
    scribbles = np.zeros(labels.shape, np.uint8)
    foreground = labels != 0
    if not foreground.any():
        return scribbles
    scribbles[ndimage.distance_transform_edt(~foreground) > margin] = BACKGROUND  # round, not diamond-shaped
    for value in np.unique(labels[foreground]):
        mask = labels == value
        depth = ndimage.distance_transform_edt(mask)
        # a structure thinner than 2 * margin (a myocardial ring) keeps its middle half, so it stays one piece
        core = depth > min(margin, depth.max() / 2)
        scribbles[core] = value
    return scribbles


def propagate(volume: np.ndarray, labels: np.ndarray, source_z: int, target_z: int, *, model=None,
              margin: int = DEFAULT_MARGIN) -> Propagation:
    """Propose slice ``target_z`` of ``labels`` (Z, Y, X) uint8 from slice ``source_z``, on ``volume`` (Z, Y, X).

    model: a :class:`~sra_seg_core.inference.LoadedModel` to propose with; None propagates the shape (see module).
    An empty source slice proposes an empty target slice.
    """
    if volume.shape != labels.shape or volume.ndim != 3:
        raise ValueError(f"volume {volume.shape} and labels {labels.shape} must be the same (Z, Y, X) shape")
    for z in (source_z, target_z):
        if not 0 <= z < volume.shape[0]:
            raise ValueError(f"slice {z} is outside the volume, which has {volume.shape[0]} slices")
    if model is not None:
        from sra_seg_core.assist.propose import propose

        proposal = propose(model, volume, [target_z])
        return Propagation(target_z, proposal.labels[0], "model", proposal.source)
    scribbles = carried_scribbles(labels[source_z], margin)
    if not scribbles.any() or not (scribbles != BACKGROUND).any():
        return Propagation(target_z, np.zeros(labels.shape[1:], np.uint8), "shape", {})
    result = ScribbleSegmenter(volume[target_z]).segment(scribbles[None])
    return Propagation(target_z, result.labels[0], "shape", {})
