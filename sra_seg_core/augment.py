"""Training augmentation, in the two forms of :mod:`sra_seg_core.protocol`.

BCP / SSL4MIS ``RandomGenerator`` draws, per sample: with p = 0.5 a quarter turn (k = 0..3) followed by a flip along a
random axis; otherwise, with p = 0.5, a rotation (zero padding, same size); otherwise nothing.

``reference`` protocol (:func:`reference_augment_slice`, :func:`reference_batch`): the released code's transforms
exactly — numpy ``rot90`` + ``flip``, or ``scipy.ndimage.rotate`` by a whole number of degrees in -20..19 with order 0,
on each slice at its native size, then the order-0 zoom to the training size — with the same probabilities, drawn
from the run's own generator (not Python's and NumPy's global ones). Per slice, on the CPU.

``studio`` protocol (ours; :func:`random_augment`): the same branches drawn for a whole batch on its device after
resizing, with a continuous angle in +-20 degrees and bilinear images (labels nearest). Not the released behaviour:
on a non-square slice the two differ by about 4-5 % label Dice.

Note that a quarter turn followed by a flip is always a reflection, so the first branch yields one of the four
reflections of the square, never a pure rotation: that is the released behaviour and both forms keep it.

Every sample's transform is one 2x3 affine matrix and the batch is resampled with one ``affine_grid``. Quarter turns,
flips and the identity land exactly on pixel centres, but ``grid_sample``'s float32 coordinate arithmetic is off by a
few 1e-6 pixel, which bilinear weighting would turn into small value errors; those samples are therefore taken from a
nearest-neighbour sampling of the same grid, which makes them bit-exact copies of ``torch.rot90`` / ``torch.flip``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def augment_matrices(
    batch: int,
    height: int,
    width: int,
    *,
    generator: torch.Generator,
    p_rot_flip: float = 0.5,
    p_rotate: float = 0.5,
    max_angle: float = 20.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw the studio augmentation (the released branches, continuous angle) for ``batch`` samples.

    Returns ``theta`` (B, 2, 3) float32, the ``F.affine_grid`` matrices (output -> input, normalised coordinates,
    ``align_corners=False``), and ``interpolated`` (B,) bool, True where the sample is a free-angle rotation (the others
    are exact pixel permutations). Random numbers come from ``generator`` on its own device; the same number is drawn
    whatever the outcome, so a seed fixes the whole stream.
    """
    if not (0.0 <= p_rot_flip <= 1.0 and 0.0 <= p_rotate <= 1.0):
        raise ValueError(f"probabilities must be in [0, 1], got p_rot_flip={p_rot_flip}, p_rotate={p_rotate}")
    if p_rot_flip > 0 and height != width:
        raise ValueError(f"quarter turns need square images, got {height}x{width}")
    device = generator.device
    draw = torch.rand((batch, 3), generator=generator, device=device)
    turns = torch.randint(0, 4, (batch,), generator=generator, device=device)
    flip_axis = torch.randint(0, 2, (batch,), generator=generator, device=device)

    rot_flip = draw[:, 0] < p_rot_flip
    rotate = ~rot_flip & (draw[:, 1] < p_rotate)
    angle = (2.0 * draw[:, 2] - 1.0) * math.radians(max_angle)

    # Every branch is M = R(c, s) @ diag(fx, fy), a sampling matrix in pixel coordinates (x = column, y = row, origin
    # at the image centre): output pixel p takes the input pixel at M @ p. Quarter turns are built from comparisons,
    # not cos / sin, so their entries are exactly 0 and +-1; one quarter turn matches torch.rot90(dims=(-2, -1)), and
    # the flip (fx, fy) = (1, -1) flips rows (dim -2), (-1, 1) columns (dim -1). Built from the drawn tensors only, so
    # nothing is copied from the host.
    quarter_cos = (turns == 0).float() - (turns == 2).float()
    quarter_sin = (turns == 1).float() - (turns == 3).float()
    c = torch.where(rot_flip, quarter_cos, torch.where(rotate, torch.cos(angle), 1.0))
    s = torch.where(rot_flip, quarter_sin, torch.where(rotate, torch.sin(angle), 0.0))
    fx = torch.where(rot_flip, 1.0 - 2.0 * flip_axis.float(), 1.0)
    fy = torch.where(rot_flip, -fx, 1.0)
    # Pixel -> normalised coordinates scale x by 2/W and y by 2/H; conjugating keeps rotations rigid when H != W.
    zero = torch.zeros_like(c)
    theta = torch.stack([
        torch.stack([c * fx, -s * fy * (height / width), zero], dim=-1),
        torch.stack([s * fx * (width / height), c * fy, zero], dim=-1),
    ], dim=-2)
    return theta, rotate


def apply_affine(
    images: torch.Tensor, labels: torch.Tensor | None, theta: torch.Tensor, interpolated: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resample a batch with per-sample matrices from :func:`augment_matrices`, zero padding.

    images: (B, C, H, W) float; labels: (B, H, W) integer class indices or None. Images are bilinear where
    ``interpolated`` and nearest (exact) elsewhere; labels are always nearest, so no new class values appear.
    """
    # Half-precision grids would misplace pixels by whole steps at 256 px: sample in at least float32.
    dtype = torch.promote_types(images.dtype, torch.float32)
    source = images.to(dtype)
    channels = source.shape[1]
    if labels is not None:  # labels ride along as one more channel of the nearest pass (exact below 2**24)
        source = torch.cat([source, labels[:, None].to(dtype)], dim=1)
    grid = F.affine_grid(theta.to(device=images.device, dtype=dtype), list(source.shape), align_corners=False)
    exact = F.grid_sample(source, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    smooth = F.grid_sample(source[:, :channels], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = torch.where(interpolated.to(images.device)[:, None, None, None], smooth, exact[:, :channels])
    return out.to(images.dtype), None if labels is None else exact[:, channels].to(labels.dtype)


def random_augment(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    *,
    generator: torch.Generator,
    p_rot_flip: float = 0.5,
    p_rotate: float = 0.5,
    max_angle: float = 20.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The studio augmentation for a batch on its device: images (B, 1, H, W) float, labels (B, H, W) int64 or None.

    Returns tensors of the same shapes, dtypes and device. Deterministic for a given generator state.
    """
    batch, _, height, width = images.shape
    theta, interpolated = augment_matrices(batch, height, width, generator=generator, p_rot_flip=p_rot_flip,
                                           p_rotate=p_rotate, max_angle=max_angle)
    return apply_affine(images, labels, theta, interpolated)


# --- the reference protocol: per slice, native size, before the zoom --------------------------------------------
def reference_augment_slice(
    image: np.ndarray,
    label: np.ndarray | None,
    rng: np.random.Generator,
    *,
    p_rot_flip: float = 0.5,
    p_rotate: float = 0.5,
    max_angle: float = 20.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The released ``RandomGenerator`` on one slice at its own size: image (H, W) float, label (H, W) int or None.

    With p = ``p_rot_flip`` ``np.rot90`` by k in 0..3 then ``np.flip`` on axis 0 or 1 (a quarter turn swaps H and W);
    else with p = ``p_rotate`` ``ndimage.rotate`` by a whole number of degrees in ``-max_angle .. max_angle - 1``
    (``np.random.randint(-20, 20)``), order 0, same size, zero outside. Draws come from ``rng`` only.
    """
    from scipy import ndimage

    if rng.random() < p_rot_flip:
        k, axis = int(rng.integers(0, 4)), int(rng.integers(0, 2))
        image = np.flip(np.rot90(image, k), axis=axis).copy()
        label = None if label is None else np.flip(np.rot90(label, k), axis=axis).copy()
    elif rng.random() < p_rotate:
        angle = int(rng.integers(-int(max_angle), int(max_angle)))
        image = ndimage.rotate(image, angle, order=0, reshape=False)
        label = None if label is None else ndimage.rotate(label, angle, order=0, reshape=False)
    return image, label


def reference_batch(
    images: list[np.ndarray],
    labels: list[np.ndarray] | None,
    indices,
    size: int,
    rng: np.random.Generator,
    *,
    augment: bool = True,
    **augment_options,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A training batch the reference way: each chosen native slice augmented (:func:`reference_augment_slice`) and
    zoomed with order 0 to ``size`` x ``size``. Returns images (B, 1, size, size) float32 and labels (B, size, size)
    int64 (or None), on the CPU."""
    from sra_seg_core.datasets.slices import zoom_order0

    out_images, out_labels = [], []
    for i in (int(v) for v in indices):
        image, label = images[i], None if labels is None else labels[i]
        if augment:
            image, label = reference_augment_slice(image, label, rng, **augment_options)
        out_images.append(zoom_order0(np.asarray(image, dtype=np.float32), size))
        if label is not None:
            out_labels.append(zoom_order0(label, size))
    batch = torch.from_numpy(np.stack(out_images))[:, None]
    return batch, (torch.from_numpy(np.stack(out_labels).astype(np.int64)) if labels is not None else None)
