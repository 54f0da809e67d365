"""The Blend workspace's computation and rules, without widgets: what soft edge blending feeds the network for one
labelled real slice and one synthetic slice, which cases each side offers, the default slice, and the notes.

Everything computed comes from the functions training calls: the slice preparation of :mod:`sra_seg_core.datasets`
(per-volume min-max, resize to the training size), the teacher's pseudo-label rule (:mod:`sra_seg_core.teacher`) and
:mod:`sra_seg_core.blend` driven by a :class:`~sra_seg_core.config.BlendConfig`. Those modules import torch, which
the window must not load at start-up: they are imported inside the functions, after :func:`import_engine` ran in a
:class:`~sra_seg_app.model.worker.Worker`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from sra_seg_core.config import BlendConfig, preset
from sra_seg_core.project import SliceStatus
from sra_seg_core.project.status import is_labelled, labelled_slices

if TYPE_CHECKING:
    import torch

HOLE_STEPS = 60          # the hole slider moves in 1/60ths of the side, so the reference's 2/3 is exact
SMOOTHING = {"Gaussian": "gaussian", "Box": "box", "None (hard edge)": "none"}
BACKGROUND_RGB = (38, 44, 51)                  # the background class in the soft-label maps
HATCH_RGB = ((92, 101, 112), (46, 52, 60))     # stripes of "no label yet"
ENGINE_MODULES = ("torch", "sra_seg_core.blend", "sra_seg_core.datasets.slices", "sra_seg_core.teacher")
DEFAULT_SEED = 1337


# --- the computation (no widgets) -----------------------------------------------------------------------------------
@dataclass
class PreparedSlice:
    """One slice as training sees it: image (N, N) float32 in [0, 1]; label (N, N) uint8 class map or None."""

    image: np.ndarray
    label: np.ndarray | None


def prepare_slice(normalised: np.ndarray, z: int, size: int, labels: np.ndarray | None = None) -> PreparedSlice:
    """Slice ``z`` of a volume already min-max normalised per volume ((Z, Y, X) float32, see
    :func:`sra_seg_core.datasets.normalise_minmax`), resized to ``size`` x ``size`` as training does: bilinear for
    the image, nearest for the label volume ((Z, Y, X) uint8, optional)."""
    from sra_seg_core.datasets import resize_slices

    image = resize_slices(normalised[z : z + 1], size, "linear")[0]
    label = None if labels is None else resize_slices(np.asarray(labels[z : z + 1], np.uint8), size, "nearest")[0]
    return PreparedSlice(image, label)


def pseudo_label_map(prediction: np.ndarray, num_classes: int) -> np.ndarray:
    """The teacher's pseudo-label rule applied to a predicted class map (N, N) uint8: the largest 8-connected
    component of each foreground class is kept. Returns (N, N) uint8."""
    import torch

    from sra_seg_core.blend import one_hot
    from sra_seg_core.teacher import pseudo_labels

    classes = torch.from_numpy(np.minimum(prediction, num_classes - 1).astype(np.int64))[None]
    return pseudo_labels(one_hot(classes, num_classes)).numpy()[0].astype(np.uint8)


@dataclass
class BlendInputs:
    """A real and a synthetic slice as the batch tensors of one training pair: images (1, 1, N, N) float32, labels
    one-hot (1, K', N, N) float32. K' = num_classes, plus a last "no label yet" class that fills the synthetic side
    when it has no pseudo-label (``unlabelled``)."""

    real: torch.Tensor
    synthetic: torch.Tensor
    label: torch.Tensor
    pseudo: torch.Tensor
    unlabelled: bool


def blend_inputs(real: PreparedSlice, synthetic: PreparedSlice, num_classes: int) -> BlendInputs:
    """The tensors training builds from a prepared pair (``one_hot`` of :mod:`sra_seg_core.blend`)."""
    import torch

    from sra_seg_core.blend import one_hot

    unlabelled = synthetic.label is None
    k = num_classes + unlabelled
    pseudo = np.full(synthetic.image.shape, num_classes) if unlabelled else synthetic.label
    return BlendInputs(real=torch.from_numpy(real.image)[None, None],
                       synthetic=torch.from_numpy(synthetic.image)[None, None],
                       label=one_hot(torch.from_numpy(real.label.astype(np.int64))[None], k),
                       pseudo=one_hot(torch.from_numpy(pseudo.astype(np.int64))[None], k),
                       unlabelled=unlabelled)


@dataclass
class BlendPreview:
    """One pair mixed both ways. Images (N, N) float32; soft labels (K', N, N) float32 summing to 1 per pixel
    (K' as in :class:`BlendInputs`)."""

    alpha: np.ndarray
    mask: np.ndarray                  # m, the box mask before smoothing: 1 outside the box, 0 inside
    x1: np.ndarray                    # S * alpha + R * (1 - alpha): real inside the box
    x2: np.ndarray                    # R * alpha + S * (1 - alpha): synthetic inside the box
    y1: np.ndarray                    # P * alpha + Y * (1 - alpha)
    y2: np.ndarray                    # Y * alpha + P * (1 - alpha)
    box: tuple[int, int, int, int]    # top, left, height, width of the box, in pixels
    unlabelled: bool                  # the synthetic side has no pseudo-label (last channel of y1, y2)


def compute_preview(inputs: BlendInputs, config: BlendConfig, seed: int) -> BlendPreview:
    """Blend the pair exactly as a training step does: ``blend_alpha`` with a generator seeded by ``seed``, then
    ``bidirectional_mix`` of the images and one-hot labels (the same slice serves as halves a and b)."""
    import torch

    from sra_seg_core.blend import bidirectional_mix, blend_alpha

    height, width = inputs.real.shape[-2:]
    alpha, m = blend_alpha(1, height, width, config, generator=torch.Generator().manual_seed(int(seed)))
    r, s, y, p = inputs.real, inputs.synthetic, inputs.label, inputs.pseudo
    pair = bidirectional_mix(r, r, s, s, y, y, p, p, alpha)
    mask = m[0, 0].numpy()
    rows, cols = np.flatnonzero(mask.min(axis=1) == 0), np.flatnonzero(mask.min(axis=0) == 0)
    box = (int(rows[0]), int(cols[0]), len(rows), len(cols)) if len(rows) else (0, 0, 0, 0)
    return BlendPreview(alpha=pair.alpha[0, 0].numpy(), mask=mask, x1=pair.x1[0, 0].numpy(),
                        x2=pair.x2[0, 0].numpy(), y1=pair.y1[0].numpy(), y2=pair.y2[0].numpy(), box=box,
                        unlabelled=inputs.unlabelled)


@lru_cache(maxsize=4)
def hatch(height: int, width: int, period: int = 8) -> np.ndarray:
    """Diagonal grey stripes as colour planes (3, H, W) float32 in 0..255, read-only: the look of "no label yet"."""
    stripe = ((np.arange(height)[:, None] + np.arange(width)[None, :]) // (period // 2)) % 2
    pattern = np.ascontiguousarray(np.moveaxis(np.asarray(HATCH_RGB, np.float32)[stripe], -1, 0))
    pattern.flags.writeable = False
    return pattern


def soft_label_rgb(y: np.ndarray, palette: np.ndarray, unknown: np.ndarray | None = None) -> np.ndarray:
    """Soft labels (K', H, W) -> (H, W, 3) uint8: each pixel is the class colours (``palette`` (K, 3), 0..255,
    background first) mixed by the label weights, so a soft edge looks soft. With ``unknown`` (colour planes
    (3, H, W), see :func:`hatch`), channel K (the last) is drawn with that pattern."""
    k = len(palette)
    planes = []
    for c in range(3):   # plane by plane: a few contiguous multiply-adds, faster here than tensordot or einsum
        plane = y[0] * palette[0, c]
        for i in range(1, k):
            plane += y[i] * palette[i, c]
        if unknown is not None and len(y) > k:
            plane += y[k] * unknown[c]
        planes.append(plane)
    return np.clip(np.rint(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)


def import_engine(_worker=None) -> float:
    """Import torch and the blend engine; the seconds it took."""
    started = time.perf_counter()
    for name in ENGINE_MODULES:
        __import__(name)
    return time.perf_counter() - started


# --- which cases, which slice, what the notes say ---------------------------------------------------------------------
def offered_cases(project) -> tuple[list[str], list[str]]:
    """(real case ids with an approved label, synthetic case ids), in project order: what the two pickers offer."""
    cases = project.cases if project is not None else []
    return [c.id for c in cases if is_labelled(project, c)], [c.id for c in cases if c.role == "synthetic"]


def default_slice(project, case_id: str, side: str) -> int:
    """The slice (0-based) first shown for a case: the middle labelled one on the real side, else the middle one."""
    case = project.case(case_id)
    done = labelled_slices(project, case) if side == "real" else []
    return done[len(done) // 2] if done else case.shape[0] // 2


def missing_message(project, real: int, synthetic: int) -> tuple[str, str] | None:
    """(title, text) of the page shown instead of the preview, or None when there is something to blend."""
    if project is None:
        return ("No project open", "Open a project to preview how its real and synthetic slices are blended for "
                "training.")
    if not synthetic:
        return ("No synthetic images yet",
                "The blend preview mixes a labelled real slice with a synthetic one. This project has no synthetic "
                "cases: import a folder of synthetic images (role “synthetic”), then come back.")
    if not real:
        return ("No labelled real slices yet",
                "The blend preview needs a real case with an approved label. Label some slices in the Label "
                "workspace and mark them done (D), then come back.")
    return None


def real_note(project, case_id: str, z: int) -> str:
    done = project.case(case_id).slice_status[z] == SliceStatus.DONE.value
    return ("Marked done: training uses this slice." if done
            else "Not marked done: training skips this slice until it is.")


def synthetic_note(project, case_id: str) -> str:
    if project.case(case_id).prediction is not None:   # the manifest: no file read here
        return "P = this case's prediction, largest component per class kept (the teacher's rule)."
    return ("No prediction for this case yet: P's share of y₁ and y₂ is hatched. In training the teacher's "
            "pseudo-labels fill it; predict the synthetic cases in Review to see them here.")


def blend_config(hole_steps: int, smoothing: str, kernel_size: int, sigma: float,
                 corner_inclusive: bool | None = None) -> BlendConfig:
    """The :class:`BlendConfig` of the controls: the hole in 1/:data:`HOLE_STEPS` of the side, ``smoothing`` a value
    of :data:`SMOOTHING`; ``corner_inclusive`` the box-corner range of the preset last applied (no control of its
    own; None: the training protocol's)."""
    return BlendConfig(hole_fraction=hole_steps / HOLE_STEPS, smoothing=smoothing, kernel_size=kernel_size,
                       sigma=sigma, hard=smoothing == "none", corner_inclusive=corner_inclusive)


def preset_controls(name: str) -> tuple[int, str, int, float]:
    """(hole steps, smoothing, kernel size, sigma) of a config preset's blend section (``acdc`` or ``fives``)."""
    blend = preset(name).blend
    return (round(blend.hole_fraction * HOLE_STEPS), "none" if blend.hard else blend.smoothing, blend.kernel_size,
            blend.sigma)


def hole_text(hole_steps: int, size: int) -> str:
    """The hole as a fraction of the side and as a box in pixels."""
    fraction = Fraction(hole_steps, HOLE_STEPS)
    side = int(size * hole_steps / HOLE_STEPS)
    simple = fraction.denominator <= 4   # 1/2, 2/3, 3/4 read better than 0.50, 0.67, 0.75
    shown = f"{fraction.numerator}/{fraction.denominator}" if simple else f"{float(fraction):.2f}"
    return f"{shown} of the side: box {side} × {side} px"
