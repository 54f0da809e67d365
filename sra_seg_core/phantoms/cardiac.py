"""Cardiac short-axis cine MRI phantoms: stand-ins for ACDC volumes with RV / Myo / LV labels.

A case is drawn in two steps. The *scene* (anatomy, partial-volume tissue contrast and labels) depends only on the seed
and the cardiac phase; the *rendering* turns it into scanner intensities in one of two styles:

- ``"real"``: steady-state free precession look — bright blood, dark myocardium, bright fat — with slight blur, a smooth
  multiplicative coil bias field and Rician noise, stored as int16 like ACDC.
- ``"synthetic"``: what an image generator tends to produce — a different contrast curve and intensity floor, an
  over-smooth texture with ringing beside edges, checkerboard artefacts, additive Gaussian noise, 8-bit quantised
  values in [0, 1] stored as float32.

The same seed and phase give identical labels in both styles, so the real/synthetic gap is appearance only.

``gap="hard"`` (synthetic style only) makes a second phantom family with a much harder real/synthetic gap, for the
evidence benchmark: a different noise model (multiplicative gamma speckle plus impulse noise instead of additive
Gaussian), a different contrast (dark blood and a bright myocardium: the cavity contrast of the real style inverted),
a different texture (fine-grained multiplicative texture and a stronger blur), and anatomy drawn from a different
distribution (cavities 25-45 % larger, walls 30 % thinner, RV 30 % narrower, and a 20 % finer pixel, so the heart
covers more pixels). Labels then differ from the real style's for the same seed.

Anatomy (in millimetres on the slice plane, slices ordered base -> apex): the LV cavity is a perturbed ellipse inside a
myocardial ring; the RV cavity is a crescent on the septal side whose width tapers to zero at the insertion points and
which ends before the apex; papillary muscles sit inside the cavity (labelled LV, as in ACDC); an unlabelled RV free
wall and patchy pericardial fat surround the heart; chest wall fat, lungs, liver, stomach, spine, descending aorta and
random blobs fill the rest of the field of view. The disease group (ACDC's NOR / DCM / HCM / MINF / RV) sets cavity
size, wall thickness and contraction; ES has a smaller cavity and a thicker wall than ED (myocardial area is kept).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from sra_seg_core.atomic import atomic_write_text
from sra_seg_core.errors import ConfigError
from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.phantoms.rendering import STYLES, check_style, checkerboard, lowpass_ringing, smooth_noise
from sra_seg_core.phantoms.seeds import case_seed, check_seed, rng_for

GROUPS = ("NOR", "DCM", "HCM", "MINF", "RV")
PHASES = ("ED", "ES")

# Random streams of one case, so that e.g. the anatomy does not depend on which style is rendered.
_PATIENT, _ANATOMY, _RENDER = 0, 1, 2

# Per group: LV cavity radius at the base (mm, ED), wall thickness (mm, ED), ES/ED cavity radius, RV width (mm, ED),
# ES/ED RV width.
_GROUP_SHAPE = {
    "NOR": ((22.0, 27.0), (8.5, 11.0), (0.58, 0.70), (14.0, 22.0), (0.55, 0.68)),
    "DCM": ((29.0, 35.0), (7.5, 9.0), (0.80, 0.90), (14.0, 22.0), (0.60, 0.75)),
    "HCM": ((19.0, 24.0), (11.0, 13.0), (0.45, 0.58), (12.0, 18.0), (0.55, 0.68)),
    "MINF": ((26.0, 31.0), (9.0, 11.0), (0.75, 0.85), (14.0, 22.0), (0.60, 0.75)),
    "RV": ((21.0, 26.0), (8.5, 11.0), (0.60, 0.72), (24.0, 32.0), (0.75, 0.88)),
}
# In-plane matrix sizes (rows, columns) seen in ACDC.
_MATRICES = ((216, 256), (232, 256), (256, 216), (224, 256), (256, 256), (240, 240), (208, 256))


@dataclass(frozen=True)
class _Patient:
    """What is fixed for a patient across phases and styles."""

    seed: int
    group: str
    shape: tuple[int, int, int]  # (Z, Y, X)
    spacing: tuple[float, float, float]  # (i, j, k) mm
    affine: np.ndarray
    info: dict[str, str]
    gap: str = "mild"


def _resolve_shape(shape) -> tuple[int | None, int | None, int | None]:
    if shape is None:
        return (None, None, None)
    shape = tuple(shape)
    if len(shape) != 3:
        raise ConfigError(f"cardiac phantom shape must be (Z, Y, X), got {shape!r}")
    z, y, x = shape
    if (z is not None and z < 2) or any(n is not None and n < 32 for n in (y, x)) or ((y is None) != (x is None)):
        raise ConfigError(f"cardiac phantom shape {shape!r} is too small: need at least 2 slices of 32 x 32 pixels")
    return shape


def _short_axis_directions(rng: np.random.Generator) -> np.ndarray:
    """(3, 3) columns = RAS+ unit vectors of i (towards the patient's left), j (posterior) and k (base -> apex)."""
    k = np.array([-0.6, 0.5, -0.6]) + rng.normal(0.0, 0.12, 3)  # the LV long axis points left, anterior, inferior
    k /= np.linalg.norm(k)
    posterior = np.array([0.0, -1.0, 0.0])
    j = posterior - posterior.dot(k) * k
    j /= np.linalg.norm(j)
    i = np.cross(j, k)
    if i[0] > 0:  # keep the patient's right on the image left, as scanners display short-axis views
        i = -i
    turn = rng.uniform(-0.3, 0.3)
    i, j = np.cos(turn) * i + np.sin(turn) * j, -np.sin(turn) * i + np.cos(turn) * j
    return np.stack([i, j, k], axis=1)


def _draw_patient(seed: int, shape, gap: str = "mild") -> _Patient:
    rng = rng_for(seed, _PATIENT)
    group = GROUPS[rng.integers(len(GROUPS))]
    z, y, x = _resolve_shape(shape)
    matrix = _MATRICES[rng.integers(len(_MATRICES))]
    pixel = rng.uniform(1.3, 1.7) * (_HARD_PIXEL if gap == "hard" else 1.0)
    coverage = rng.uniform(70.0, 95.0)  # mm from the basal to the apical slice
    slice_gap = round(rng.uniform(6.0, 10.0) * 2) / 2
    if y is None:
        y, x = matrix
    else:  # same field of view in millimetres, sampled on the requested matrix
        pixel *= max(matrix) / max(y, x)
    if z is None:
        z = int(np.clip(round(coverage / slice_gap) + 1, 6, 18))
    else:  # cover the same ventricle with the requested number of slices
        slice_gap = coverage / (z - 1)
    spacing = (float(pixel), float(pixel), float(slice_gap))

    directions = _short_axis_directions(rng)
    affine = np.eye(4)
    affine[:3, :3] = directions * np.asarray(spacing)[None, :]
    centre_world = rng.uniform(-30.0, 30.0, 3)
    affine[:3, 3] = centre_world - affine[:3, :3] @ (np.array([x, y, z]) - 1) / 2

    n_frames = int(rng.choice([25, 28, 30, 35]))
    info = {
        "ED": "1",
        "ES": str(int(rng.integers(8, 15))),
        "Group": group,
        "Height": f"{round(rng.uniform(150, 195)):.1f}",
        "NbFrame": str(n_frames),
        "Weight": f"{round(rng.uniform(50, 110)):.1f}",
    }
    return _Patient(seed, group, (z, y, x), spacing, affine, info, gap)


# --- geometry helpers (all distances in mm; negative inside) ----------------------------------------------------------
def _ellipse(u, v, centre, axes, angle=0.0):
    """Approximate signed distance to an ellipse (first-order: F / |grad F|), exact on the boundary."""
    c, s = math.cos(angle), math.sin(angle)
    du, dv = u - centre[0], v - centre[1]
    a = (c * du + s * dv) / axes[0]
    b = (-s * du + c * dv) / axes[1]
    f = a * a + b * b - 1.0
    grad = 2.0 * np.sqrt((a / axes[0]) ** 2 + (b / axes[1]) ** 2)
    return f / np.maximum(grad, 1e-6)


def _blob(rng, u, v, centre, axes, angle, wobble):
    """Signed distance to an ellipse whose outline is bent by random low-order harmonics (relative size ``wobble``)."""
    around = np.arctan2(v - centre[1], u - centre[0])
    return _ellipse(u, v, centre, axes, angle) - np.minimum(*axes) * (_harmonics(rng, around, wobble, (2, 3, 4)) - 1.0)


def _wrap(angle):
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _harmonics(rng, theta, amplitude, orders=(2, 3)):
    """1 + sum of random low-order cosines of the polar angle: a smooth, closed perturbation of a radius."""
    out = 1.0
    for k in orders:
        out = out + rng.uniform(0, amplitude) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return out


def _taper(t, end, power):
    """Radius profile along the long axis: 1 at the base, 0 from ``t = end`` on (a bullet-shaped ventricle)."""
    return np.sqrt(np.clip(1.0 - np.clip(t / end, 0.0, 1.0) ** power, 0.0, 1.0))


class _Canvas:
    """Tissue contrast, (Z, Y, X) float32, painted back to front with anti-aliased edges (partial volume).

    ``x`` (1, 1, X) and ``y`` (1, Y, 1) are the slice-plane coordinates of the pixel centres in mm, 0 at the image
    centre, x along columns and y along rows (towards the patient's back).
    """

    def __init__(self, shape, spacing):
        _, ny, nx = shape
        self.image = np.zeros(shape, np.float32)
        self.spacing = spacing
        self.pixel = (spacing[0] + spacing[1]) / 2
        self.x = ((np.arange(nx, dtype=np.float32) - (nx - 1) / 2) * spacing[0])[None, None, :]
        self.y = ((np.arange(ny, dtype=np.float32) - (ny - 1) / 2) * spacing[1])[None, :, None]

    def box(self, centre, reach: float) -> tuple[slice, slice]:
        """The rows and columns within ``reach`` mm of ``centre`` (x, y mm): work outside them would change nothing."""
        _, ny, nx = self.image.shape
        bounds = []
        for c, spacing, n in ((centre[1], self.spacing[1], ny), (centre[0], self.spacing[0], nx)):
            middle = c / spacing + (n - 1) / 2
            half = reach / spacing + 2
            bounds.append(slice(int(np.clip(middle - half, 0, n)), int(np.clip(middle + half + 1, 0, n))))
        return bounds[0], bounds[1]

    def paint(self, value, distance, weight=1.0, box=(slice(None), slice(None))) -> None:
        """Cover ``distance < 0`` (signed distance in mm, for the pixels of ``box``) with ``value``, blending over a
        pixel."""
        view = self.image[:, box[0], box[1]]
        alpha = np.clip(0.5 - distance / self.pixel, 0.0, 1.0) * weight
        view += (value - view) * alpha


def _draw_tissues(rng: np.random.Generator) -> dict[str, float]:
    """SSFP tissue brightness in [0, 1], varying per patient."""
    tissue = {
        "lung": rng.uniform(0.03, 0.07),
        "muscle": rng.uniform(0.22, 0.30),
        "fat": rng.uniform(0.60, 0.80),
        "blood": rng.uniform(0.85, 1.0),
        "myo": rng.uniform(0.18, 0.28),
        "liver": rng.uniform(0.30, 0.42),
        "bone": rng.uniform(0.28, 0.38),
        "csf": rng.uniform(0.70, 0.90),
        "stomach": rng.uniform(0.15, 0.50),
    }
    tissue["mediastinum"] = 0.5 * (tissue["fat"] + tissue["muscle"])
    tissue["rv_blood"] = tissue["blood"] * rng.uniform(0.88, 0.98)
    return tissue


def _paint_chest(canvas: _Canvas, rng, heart, tissue) -> tuple[np.ndarray, float]:
    """Chest wall, lungs, mediastinum, spine and descending aorta: the same on every slice (one-slice canvas).

    Returns the body's signed distance (1, Y, X) mm and the fat wall thickness (mm).
    """
    x, y = canvas.x, canvas.y
    body_centre = heart + np.array([rng.uniform(-30.0, 10.0), rng.uniform(20.0, 45.0)], np.float32)
    body_axes = (rng.uniform(180.0, 230.0), rng.uniform(120.0, 150.0))
    body_angle = rng.uniform(-0.3, 0.3)
    fat_wall, muscle_wall = rng.uniform(8.0, 22.0), rng.uniform(8.0, 15.0)
    body = _blob(rng, x, y, body_centre, body_axes, body_angle, 0.03)
    canvas.paint(tissue["fat"], body)
    canvas.paint(tissue["muscle"], body + fat_wall)
    thorax = body + (fat_wall + muscle_wall)
    canvas.paint(tissue["mediastinum"], thorax)
    for side in (-1, 1):
        centre = heart + np.array([side * rng.uniform(80.0, 100.0), rng.uniform(20.0, 45.0)], np.float32)
        axes = (rng.uniform(38.0, 55.0), rng.uniform(60.0, 85.0))
        lung = _blob(rng, x, y, centre, axes, side * rng.uniform(0, 0.4), 0.08)
        canvas.paint(tissue["lung"], np.maximum(lung, thorax))

    # Spine with its canal, and the descending aorta in front of it on the patient's left.
    back = np.array([-math.sin(body_angle), math.cos(body_angle)], np.float32)
    spine = body_centre + (body_axes[1] - rng.uniform(30.0, 45.0)) * back
    vertebra = rng.uniform(14.0, 18.0)
    canvas.paint(tissue["bone"], np.hypot(x - spine[0], y - spine[1]) - vertebra)
    canal = spine + (vertebra + 8.0) * back
    canvas.paint(tissue["csf"], np.hypot(x - canal[0], y - canal[1]) - 6.0)
    aorta = spine + np.array([rng.uniform(15.0, 30.0), -rng.uniform(20.0, 30.0)], np.float32)
    canvas.paint(tissue["blood"] * 0.9, np.hypot(x - aorta[0], y - aorta[1]) - rng.uniform(9.0, 13.0))
    return body, fat_wall


def _paint_abdomen(canvas: _Canvas, rng, t, heart, body, fat_wall, tissue) -> None:
    """Liver and stomach rising into the apical slices, unlabelled blobs, and a soft tissue texture."""
    x, y = canvas.x, canvas.y
    inner = body + fat_wall
    # Liver on the patient's right (image left), stomach on the left, both growing towards the apex.
    for name, offset, axes, start in (
        ("liver", ([-110.0, 30.0], [-60.0, 80.0]), ([70.0, 50.0], [110.0, 80.0]), (0.1, 0.5)),
        ("stomach", ([40.0, 40.0], [90.0, 90.0]), ([20.0, 15.0], [40.0, 30.0]), (0.4, 0.8)),
    ):
        centre = heart + rng.uniform(*offset).astype(np.float32)
        size = rng.uniform(*axes)
        begin = rng.uniform(*start)
        grow = np.sqrt(np.clip((t - begin) / (1.0 - begin), 1e-3, 1.0))
        organ = _blob(rng, x, y, centre, (size[0] * grow, size[1] * grow), rng.uniform(-0.5, 0.5), 0.08)
        canvas.paint(tissue[name], np.maximum(organ, inner))

    # Blobs (lung vessels, bowel, lymph nodes), each over a few slices, so brightness alone does not find the heart.
    for _ in range(rng.integers(10, 20)):
        centre = heart + rng.normal(0.0, 70.0, 2).astype(np.float32)
        radius, depth, extent = rng.uniform(2.0, 12.0), rng.uniform(0.0, 1.0), rng.uniform(0.1, 0.4)
        value, strength = rng.uniform(0.1, 0.8), rng.uniform(0.5, 0.9)
        rows, cols = canvas.box(centre, 3 * radius)
        plane = np.exp(-0.5 * ((x[..., cols] - centre[0]) ** 2 + (y[:, rows] - centre[1]) ** 2) / radius**2)
        across = strength * np.exp(-0.5 * ((t - depth) / extent) ** 2)
        canvas.paint(value, inner[:, rows, cols], plane * across, (rows, cols))
    nz, ny, nx = canvas.image.shape
    canvas.image *= 1.0 + 0.08 * smooth_noise(rng, (ny, nx), 8.0 * 1.5 / canvas.pixel, nz)


def _paint_heart(canvas: _Canvas, rng, t, heart, tissue, group: str, es: bool, gap: str = "mild") -> np.ndarray:
    """Paint the heart and return its labels, (Z, Y, X) uint8. The RV lies towards theta = pi of the LV frame."""
    nz = canvas.image.shape[0]
    lv_radius, wall, es_ratio, rv_width, rv_es_ratio = (rng.uniform(*r) for r in _GROUP_SHAPE[group])
    if gap == "hard":  # anatomy from another distribution: the same draws, rescaled
        lv_radius, wall, rv_width = lv_radius * rng.uniform(1.25, 1.45), wall * 0.7, rv_width * 0.7
    breath_hold = rng.normal(0.0, 1.5, (2, nz, 1, 1))  # each slice is its own breath-hold: the diaphragm moves the heart
    tilt = rng.normal(0.0, 4.0, (2, 1, 1, 1)) * t  # the long axis is not quite the slice normal
    shift = (breath_hold + tilt).astype(np.float32)
    centre = heart[:, None, None, None] + shift
    orientation = rng.uniform(-0.2, 0.6) + rng.uniform(-0.1, 0.1) * t
    aspect = rng.uniform(1.0, 1.1)
    # Bound of the heart's outline (harmonics and the HCM bulge at their largest, plus fat) to skip far pixels.
    reach = aspect * (1.12 * lv_radius + 1.8 * wall + 1.1 * rv_width + 3.5 + 8.0) + float(np.abs(shift).max())
    box = canvas.box(heart, reach)
    du, dv = canvas.x[..., box[1]] - centre[0], canvas.y[:, box[0]] - centre[1]
    co, so = np.cos(orientation), np.sin(orientation)
    xe = (co * du + so * dv) / aspect
    ye = (-so * du + co * dv) * aspect
    rho = np.hypot(xe, ye)
    theta = np.arctan2(ye, xe)
    phi = _wrap(theta - np.pi)  # angle from the septum's centre

    cavity_end, bluntness = rng.uniform(0.95, 1.12), rng.uniform(2.0, 3.0)
    mean_endo = lv_radius * _taper(t, cavity_end, bluntness) * (es_ratio if es else 1.0)
    endo = lv_radius * _taper(t, cavity_end, bluntness) * _harmonics(rng, theta, 0.06)
    wall_shape = _harmonics(rng, theta, 0.1, orders=(1, 2))
    septal = rng.uniform(0.3, 0.6)
    infarct_depth, infarct_angle, infarct_width = rng.uniform(0.35, 0.55), rng.uniform(-1.5, 1.5), rng.uniform(0.4, 0.7)
    if group == "HCM":  # asymmetric septal hypertrophy
        wall_shape = wall_shape + septal * np.exp(-((phi / 0.8) ** 2))
    if group == "MINF":  # a thinned scar on the free wall
        wall_shape = wall_shape - infarct_depth * np.exp(-((_wrap(theta - infarct_angle) / infarct_width) ** 2))
    epi = endo + wall * (1.0 - 0.15 * t) * wall_shape
    if es:  # the cavity shrinks and the wall thickens, keeping the myocardial area
        endo_es = endo * es_ratio
        epi = np.sqrt(endo_es**2 + epi**2 - endo**2)
        endo = endo_es

    rv_end = rng.uniform((nz - 2.5) / (nz - 1), (nz - 1.6) / (nz - 1))  # the RV ends one or two slices above the apex
    rv_span, rv_skew = rng.uniform(1.2, 1.7), rng.uniform(-0.3, 0.1)
    basal_partial = rng.random() < 0.5
    basal_span, gap_angle, gap_width = rng.uniform(0.5, 0.8), np.pi + rng.uniform(0.6, 1.0), rng.uniform(0.3, 0.5)
    basal = (np.arange(nz) == 0)[:, None, None]
    span = np.where(basal & basal_partial, rv_span * basal_span, rv_span).astype(np.float32)
    crescent = np.clip(1.0 - ((phi - rv_skew) / span) ** 2, 0.0, 1.0) ** 0.8
    rv = rv_width * (rv_es_ratio if es else 1.0) * _taper(t, rv_end, 1.5) * crescent * _harmonics(rng, phi, 0.1, (2,))
    rv_wall = rng.uniform(2.0, 3.5)
    in_rv = rv > 0.05
    outer = epi + np.where(in_rv, rv + rv_wall, 0.0)
    fat = rng.uniform(3.0, 8.0) * np.clip(_harmonics(rng, theta, 0.8, (1, 2, 3, 4)) - 1.0, 0.0, 1.0)

    papillary_radius = rng.uniform(3.0, 5.0)
    papillary_angles = (rng.uniform(0.6, 1.0), -rng.uniform(0.6, 1.0))
    papillary_present = (t > 0.15) & (t < 0.75) & (mean_endo > 3 * papillary_radius)

    canvas.paint(tissue["fat"], rho - outer - fat, box=box)
    canvas.paint(tissue["myo"], np.where(in_rv, rho - outer, np.inf), box=box)  # RV free wall, unlabelled as in ACDC
    canvas.paint(tissue["rv_blood"], np.where(in_rv, rho - epi - rv, np.inf), box=box)
    canvas.paint(tissue["myo"], rho - epi, box=box)
    canvas.paint(tissue["blood"], rho - endo, box=box)
    for angle in papillary_angles:  # inside the cavity and labelled LV, as in ACDC
        radial = mean_endo - 1.1 * papillary_radius
        d = np.hypot(xe - radial * math.cos(angle), ye - radial * math.sin(angle)) - papillary_radius
        canvas.paint(tissue["myo"], np.where(papillary_present, d, np.inf), box=box)

    # The basal slice may cut the outflow tract: blood, unlabelled, through part of the septum.
    gap = np.maximum((np.abs(_wrap(theta - gap_angle)) - gap_width) * rho, rho - epi)
    canvas.paint(tissue["blood"], gap, weight=(basal & basal_partial).astype(np.float32), box=box)

    window = np.zeros(rho.shape, np.uint8)
    window[in_rv & (rho < epi + rv)] = 1
    window[rho < epi] = 2
    window[(gap < 0) & basal & basal_partial] = 0
    window[rho < endo] = 3
    labels = np.zeros(canvas.image.shape, np.uint8)
    labels[:, box[0], box[1]] = window
    return labels


def _scene(patient: _Patient, phase: str) -> tuple[np.ndarray, np.ndarray]:
    """Tissue contrast with partial volume, (Z, Y, X) float32 in about [0, 1], and labels (Z, Y, X) uint8.

    Every random draw happens whatever the phase, so ED and ES share the anatomy.
    """
    rng = rng_for(patient.seed, _ANATOMY)
    nz, ny, nx = patient.shape
    t = np.linspace(0.0, 1.0, nz, dtype=np.float32)[:, None, None]  # base -> apex
    canvas = _Canvas((1, ny, nx), patient.spacing[:2])
    tissue = _draw_tissues(rng)
    heart = rng.uniform(-12.0, 12.0, 2).astype(np.float32)
    body, fat_wall = _paint_chest(canvas, rng, heart, tissue)
    canvas.image = np.repeat(canvas.image, nz, axis=0)
    _paint_abdomen(canvas, rng, t, heart, body, fat_wall, tissue)
    labels = _paint_heart(canvas, rng, t, heart, tissue, patient.group, phase == "ES", patient.gap)
    return canvas.image, labels


# --- rendering --------------------------------------------------------------------------------------------------------
def _render_real(scene: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SSFP-like scanner image, (Z, Y, X) int16."""
    nz, ny, nx = scene.shape
    image = scene * (1.0 + 0.05 * smooth_noise(rng, (ny, nx), 2.0, nz))
    blur = rng.uniform(0.5, 0.9)
    image = ndimage.gaussian_filter(image, (0.0, blur, blur))
    # Coil sensitivity: a smooth gain shared by all slices, stronger on the anterior side where the coil lies.
    gradient = np.linspace(rng.uniform(0.1, 0.35), -rng.uniform(0.1, 0.35), ny)[:, None]
    bias = np.exp(0.2 * smooth_noise(rng, (ny, nx), max(ny, nx) / 1.5)[0] + gradient)
    image = image * bias[None]
    sigma = rng.uniform(0.025, 0.05)
    real = image + sigma * rng.standard_normal(image.shape, np.float32)
    imag = sigma * rng.standard_normal(image.shape, np.float32)
    image = np.hypot(real, imag)  # magnitude of complex Gaussian noise: Rician
    return np.round(image * rng.uniform(300.0, 1500.0)).astype(np.int16)


def _render_synthetic(scene: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Generator-like image, (Z, Y, X) float32 in [0, 1] on 8-bit steps."""
    gamma = rng.uniform(0.45, 0.65) if rng.random() < 0.5 else rng.uniform(1.5, 2.0)
    floor = rng.uniform(0.05, 0.15)
    image = floor + (1.0 - floor) * np.clip(scene, 0.0, 1.0) ** gamma
    image = lowpass_ringing(image, rng.uniform(0.35, 0.5))
    period = int(rng.choice([2, 4]))
    image = image * (1.0 + rng.uniform(0.03, 0.06) * checkerboard(scene.shape[1:], period))
    image = image + rng.uniform(0.005, 0.015) * rng.standard_normal(image.shape, np.float32)
    return (np.round(np.clip(image, 0.0, 1.0) * 255) / 255).astype(np.float32)


def _render_synthetic_hard(scene: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The hard-gap generator look, (Z, Y, X) float32 in [0, 1] on 8-bit steps: inverted cavity contrast, speckle
    and impulse noise, fine texture, heavy blur."""
    nz, ny, nx = scene.shape
    image = np.clip(scene, 0.0, 1.0)
    cavity = np.isin(labels, (1, 3))
    image = np.where(cavity, rng.uniform(0.12, 0.22) + 0.1 * image, image)  # black blood ...
    image = np.where(labels == 2, rng.uniform(0.75, 0.9), image)             # ... and a bright wall
    image = ndimage.gaussian_filter(image.astype(np.float32), (0.0, 1.6, 1.6))
    image = image * (1.0 + 0.15 * smooth_noise(rng, (ny, nx), 1.5, nz))     # fine-grained texture
    shape_k = rng.uniform(10.0, 16.0)
    image = image * rng.gamma(shape_k, 1.0 / shape_k, image.shape).astype(np.float32)  # speckle
    impulses = rng.random(image.shape) < 0.003
    image = np.where(impulses, rng.integers(0, 2, image.shape).astype(np.float32), image)
    return (np.round(np.clip(image, 0.0, 1.0) * 255) / 255).astype(np.float32)


GAPS = ("mild", "hard")
_HARD_PIXEL = 0.8


# --- public API -------------------------------------------------------------------------------------------------------
def cardiac_case(seed: int, style: str = "real", phase: str = "ED", shape=None, *,
                 gap: str = "mild") -> tuple[Image, Image]:
    """One short-axis cine frame and its labels.

    seed:  non-negative int; fixes the patient (group, geometry, anatomy).
    style: ``"real"`` -> image int16; ``"synthetic"`` -> image float32 in [0, 1]. Labels do not depend on it.
    phase: ``"ED"`` or ``"ES"``.
    shape: (Z, Y, X) matrix; any entry None (or shape None) is drawn per patient — 8-17 slices base -> apex,
           ACDC-like matrices such as 216 x 256. The field of view and the ventricle's length in mm are the patient's
           whatever the matrix, so a given matrix changes the spacing.
    Returns (image, label): the same (Z, Y, X) grid and oblique affine (drawn matrix: in-plane spacing 1.3-1.7 mm,
    slice spacing 6-10 mm); label uint8 with 0 background, 1 RV, 2 Myo, 3 LV, ``meta["label"]`` True. The image's
    ``meta["frame"]`` is the phase's frame number in :func:`acdc_info`.
    gap:   ``"mild"`` (default) or ``"hard"`` — the second phantom family (synthetic style only; see the module).
    """
    seed = check_seed(seed)
    check_style(style)
    if phase not in PHASES:
        raise ConfigError(f"unknown cardiac phase {phase!r}; use ED or ES")
    _check_gap(gap, style)
    patient = _draw_patient(seed, shape, gap)
    scene, labels = _scene(patient, phase)
    if gap == "hard":
        array = _render_synthetic_hard(scene, labels, rng_for(seed, _RENDER, len(STYLES), PHASES.index(phase)))
    else:
        rng = rng_for(seed, _RENDER, STYLES.index(style), PHASES.index(phase))
        array = _render_real(scene, rng) if style == "real" else _render_synthetic(scene, rng)
    image = Image(array, patient.affine.copy(), meta={"frame": int(patient.info[phase])})
    return image, image.with_array(labels, label=True)


def _check_gap(gap: str, style: str) -> None:
    if gap not in GAPS:
        raise ConfigError(f"unknown phantom gap {gap!r}; use one of {', '.join(GAPS)}")
    if gap == "hard" and style != "synthetic":
        raise ConfigError("gap 'hard' is a synthetic rendering; the real style has one look")


def acdc_info(seed: int) -> dict[str, str]:
    """The ``Info.cfg`` fields of the patient ``seed`` draws: ED, ES (frame numbers), Group, Height, NbFrame, Weight."""
    return dict(_draw_patient(check_seed(seed), None).info)


def write_acdc(
    out_dir, cases: int = 10, seed: int = 0, style: str = "real", *, first_id: int = 1, labels: bool = True, shape=None,
    gap: str = "mild",
) -> list[Path]:
    """Write an ACDC-layout tree of phantom patients and return the files written.

    ``out_dir/patientNNN/`` (NNN = ``first_id`` ...) holds ``patientNNN_frame01.nii.gz`` (ED),
    ``patientNNN_frameMM.nii.gz`` (ES, MM from 08 to 14), their ``_gt.nii.gz`` labels unless ``labels`` is False, and
    ``Info.cfg`` (``ED: 1``, ``ES: 12``, ``Group: NOR``, ``Height: 180.0``, ``NbFrame: 30``, ``Weight: 80.0``). Patient
    NNN of ``seed`` is the same whatever ``cases`` and ``first_id``, so data sets written with different ``first_id``
    (e.g. a labelled real set and a synthetic pool) hold different patients. ``shape`` and ``gap`` as for
    :func:`cardiac_case`.
    """
    check_style(style)
    _check_gap(gap, style)
    if cases < 1 or first_id < 0:
        raise ConfigError(f"need at least one case and a non-negative first id, got cases={cases}, first_id={first_id}")
    written = []
    for number in range(first_id, first_id + cases):
        name = f"patient{number:03d}"
        patient_seed = case_seed(seed, number)
        info = acdc_info(patient_seed)
        folder = Path(out_dir) / name
        for phase in PHASES:
            image, label = cardiac_case(patient_seed, style, phase, shape, gap=gap)
            stem = folder / f"{name}_frame{int(info[phase]):02d}"
            written.append(write_image(image, f"{stem}.nii.gz"))
            if labels:
                written.append(write_image(label, f"{stem}_gt.nii.gz"))
        written.append(atomic_write_text(folder / "Info.cfg", "".join(f"{k}: {v}\n" for k, v in info.items())))
    return written
