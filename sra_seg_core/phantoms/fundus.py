"""Colour fundus photograph phantoms with vessel masks: stand-ins for FIVES.

The *anatomy* of a case — field-of-view circle, optic disc, macula, the vessel tree and any lesions — is drawn in
normalised coordinates (the field-of-view radius is 1), so one seed gives the same eye at every image size and the same
vessel mask in both styles. The vessel tree grows from the disc: superior and inferior temporal arcades that sweep
around the macula and shorter nasal vessels, an artery and a vein for each, each a tortuous path that tapers and
branches (children thinner, the parent thinning at every branch) and stays out of the foveal avascular zone. Disease
classes follow FIVES: ``A`` AMD (drusen and pigment around the macula), ``D`` diabetic retinopathy (haemorrhages,
microaneurysms and exudates — dark red spots that are *not* vessels), ``G`` glaucoma (a large pale cup), ``N`` normal.

Rendering styles:

- ``"real"``: orange-red background with vignetting and choroidal texture, bright yellowish disc and cup, dark macula,
  vessels darkest in green (veins darker and wider, arteries with a central light reflex), sensor noise, slight blur.
- ``"synthetic"``: a colour cast and different gamma, flat illumination, over-smooth texture, lower vessel and lesion
  contrast, blotchy colour patches, a bright halo at the field-of-view rim and checkerboard artefacts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from sra_seg_core.atomic import atomic_write
from sra_seg_core.errors import ConfigError
from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_core.phantoms.rendering import STYLES, check_style, checkerboard, smooth_noise
from sra_seg_core.phantoms.seeds import case_seed, check_seed, rng_for

DISEASES = ("A", "D", "G", "N")

_ANATOMY, _RENDER = 0, 1
_STEP = 0.004  # path step when growing vessels, in field-of-view radii
_MIN_RADIUS = 0.0022  # vessels end when thinner than this (about 2 px at 2048 x 2048)
_MAX_VESSELS = 400
_BEND_DECAY = math.exp(-_STEP / 0.45)  # a vessel's own curvature fades over about half a field-of-view radius
_STEER_RADIUS = 0.005  # thinner vessels end at the foveal avascular zone instead of bending round it
_TIERS = (2.0, 4.5)  # vessel radius bands (px) rasterised separately, see _rasterise


@dataclass(frozen=True)
class _Vessel:
    points: np.ndarray  # (n, 2) float64 (x, y) in field-of-view radii, y down
    radius: np.ndarray  # (n,) float64 in field-of-view radii
    vein: bool


@dataclass(frozen=True)
class _Eye:
    fov_radius: float  # fraction of the image size
    fov_centre: tuple[float, float]  # fraction of the image size
    disc: tuple[float, float]
    disc_radius: float
    disc_aspect: float
    cup_ratio: float
    macula: tuple[float, float]
    vessels: list[_Vessel]
    lesions: dict[str, np.ndarray]  # kind -> (n, 3) x, y, radius


# --- anatomy ----------------------------------------------------------------------------------------------------------
def _grow_tree(rng, starts, macula) -> list[_Vessel]:
    """Grow vessels from ``starts`` = [(x, y, heading, radius, curvature, vein)], breadth first, branching as they
    go."""
    vessels: list[_Vessel] = []
    queue = list(starts)
    fovea_zone = 0.09
    while queue and len(vessels) < _MAX_VESSELS:
        x, y, heading, radius, curvature, vein = queue.pop(0)
        taper = rng.uniform(2.5, 4.0)  # radii fall by e every `taper` field-of-view radii of length
        tortuosity = rng.uniform(0.5, 1.5)
        next_branch = rng.uniform(0.06, 0.16)
        n_max = int(2.2 / _STEP)
        wiggle = rng.normal(0.0, tortuosity * math.sqrt(_STEP), n_max)
        points, radii = [(x, y)], [radius]
        omega, travelled = 0.0, 0.0
        for k in range(n_max):
            omega = 0.95 * omega + wiggle[k]
            mx, my = x - macula[0], y - macula[1]
            gap = math.hypot(mx, my)
            turn = curvature * _STEP + omega * _STEP * 10
            if gap < 2.2 * fovea_zone and radius > _STEER_RADIUS:  # large vessels bend round the fovea
                away = math.atan2(my, mx)
                side = math.sin(away - heading)
                turn -= math.copysign(0.35 * (2.2 * fovea_zone - gap) / fovea_zone, side)
            heading += turn
            curvature *= _BEND_DECAY
            x += _STEP * math.cos(heading)
            y += _STEP * math.sin(heading)
            radius *= math.exp(-_STEP / taper)
            travelled += _STEP
            points.append((x, y))
            radii.append(radius)
            if gap < fovea_zone or x * x + y * y > 1.02 or radius < _MIN_RADIUS:
                break
            if travelled >= next_branch:
                next_branch = travelled + rng.uniform(0.08, 0.2)
                child = radius * rng.uniform(0.4, 0.75)
                radius *= rng.uniform(0.85, 0.95)
                if child >= _MIN_RADIUS:
                    side = 1.0 if rng.random() < 0.5 else -1.0
                    queue.append(
                        (x, y, heading + side * rng.uniform(0.4, 1.1), child, rng.uniform(-1.0, 1.0), vein)
                    )
        vessels.append(_Vessel(np.asarray(points), np.asarray(radii), vein))
    return vessels


def _lesions(rng, disease: str, macula) -> dict[str, np.ndarray]:
    """Lesion spots per kind, (n, 3) = x, y, radius in field-of-view radii. Drawn for every disease (same stream)."""

    def spots(n, spread, r_low, r_high, around):
        r = spread * np.sqrt(rng.random(n))
        a = rng.uniform(0, 2 * np.pi, n)
        xy = np.asarray(around) + np.stack([r * np.cos(a), r * np.sin(a)], axis=1)
        keep = np.hypot(xy[:, 0], xy[:, 1]) < 0.93
        return np.column_stack([xy, rng.uniform(r_low, r_high, n)])[keep]

    drawn = {
        "haemorrhage": spots(rng.integers(8, 30), 0.75, 0.004, 0.016, (0.0, 0.0)),
        "microaneurysm": spots(rng.integers(10, 40), 0.6, 0.0015, 0.003, macula),
        "exudate": spots(rng.integers(5, 25), 0.35, 0.003, 0.009, macula),
        "drusen": spots(rng.integers(15, 50), 0.2, 0.004, 0.012, macula),
        "pigment": spots(rng.integers(2, 8), 0.15, 0.004, 0.01, macula),
    }
    wanted = {"D": ("haemorrhage", "microaneurysm", "exudate"), "A": ("drusen", "pigment")}.get(disease, ())
    return {kind: xyr for kind, xyr in drawn.items() if kind in wanted}


def _draw_eye(seed: int, disease: str | None) -> _Eye:
    rng = rng_for(seed, _ANATOMY)
    drawn = DISEASES[rng.integers(len(DISEASES))]
    disease = drawn if disease is None else disease
    nasal = 1.0 if rng.random() < 0.5 else -1.0  # right or left eye: the disc lies on the nasal side
    disc = (nasal * rng.uniform(0.33, 0.45), rng.uniform(-0.08, 0.08))
    macula = (-nasal * rng.uniform(0.0, 0.1), disc[1] + rng.uniform(0.0, 0.08))
    disc_radius = rng.uniform(0.11, 0.14)
    cup_ratio = rng.uniform(0.6, 0.85) if disease == "G" else rng.uniform(0.25, 0.45)

    starts = []
    temporal = -nasal
    for vertical in (-1.0, 1.0):
        for vein, width in ((False, rng.uniform(0.009, 0.011)), (True, rng.uniform(0.0115, 0.014))):
            # Temporal arcade: leaves the disc upwards/downwards and sweeps round the macula.
            heading = math.atan2(vertical, temporal * rng.uniform(0.15, 0.5)) + rng.normal(0, 0.1)
            curvature = temporal * -vertical * rng.uniform(2.6, 3.6)
            starts.append((*disc, heading, width, curvature, vein))
            # Nasal branch: thinner, straighter.
            heading = math.atan2(vertical * rng.uniform(0.3, 1.0), -temporal) + rng.normal(0, 0.15)
            starts.append((*disc, heading, width * rng.uniform(0.6, 0.8), rng.uniform(-0.8, 0.8), vein))
    for _ in range(rng.integers(2, 5)):  # small vessels towards the macula and elsewhere
        heading = math.atan2(rng.uniform(-0.4, 0.4), temporal) + rng.normal(0, 0.6)
        starts.append((*disc, heading, rng.uniform(0.004, 0.006), rng.uniform(-0.3, 0.3), rng.random() < 0.5))
    vessels = _grow_tree(rng, starts, macula)

    return _Eye(
        fov_radius=rng.uniform(0.45, 0.49),
        fov_centre=(0.5 + rng.uniform(-0.01, 0.01), 0.5 + rng.uniform(-0.01, 0.01)),
        disc=disc,
        disc_radius=disc_radius,
        disc_aspect=rng.uniform(1.03, 1.15),
        cup_ratio=cup_ratio,
        macula=macula,
        vessels=vessels,
        lesions=_lesions(rng, disease, macula),
    )


# --- rasterising ------------------------------------------------------------------------------------------------------
def _rasterise(vessels: list[_Vessel], size: int, centre_px, scale_px: float):
    """Distance to the nearest vessel centre line and that vessel's radius and kind, per pixel.

    Returns one (distance px, radius px, vein bool) triple of (H, W) arrays per radius band that has vessels. Centre
    lines are sampled every half pixel and the nearest one found with a Euclidean distance
    transform; vessels are split into radius bands so that a thin vessel near a thick one cannot hide it.
    """
    pts, rad, vein = [], [], []
    for vessel in vessels:
        xy = vessel.points * scale_px + centre_px
        steps = np.hypot(*np.diff(xy, axis=0).T)
        arc = np.concatenate([[0.0], np.cumsum(steps)])
        s = np.linspace(0.0, arc[-1], max(2, int(arc[-1] / 0.5) + 1))
        pts.append(np.column_stack([np.interp(s, arc, xy[:, 0]), np.interp(s, arc, xy[:, 1])]))
        rad.append(np.interp(s, arc, vessel.radius * scale_px))
        vein.append(np.full(s.shape, vessel.vein))
    pts, rad, vein = np.concatenate(pts), np.concatenate(rad), np.concatenate(vein)
    ix, iy = np.round(pts).astype(np.int64).T
    inside = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
    band = np.digitize(rad, _TIERS)
    bands = []
    for tier in range(len(_TIERS) + 1):
        sel = inside & (band == tier)
        if not sel.any():
            continue
        radius_img = np.zeros((size, size), np.float32)
        vein_img = np.zeros((size, size), bool)
        np.maximum.at(radius_img, (iy[sel], ix[sel]), rad[sel])
        vein_img[iy[sel], ix[sel]] = vein[sel]
        dist, (ny, nx) = ndimage.distance_transform_edt(radius_img == 0, return_indices=True)
        bands.append((dist.astype(np.float32), radius_img[ny, nx], vein_img[ny, nx]))
    return bands


def _splat(field: np.ndarray, xyr: np.ndarray, amplitude: float, centre_px, scale_px: float) -> None:
    """Add Gaussian spots (x, y, radius in field-of-view radii) to a (H, W) field, touching only nearby pixels."""
    size = field.shape[0]
    for x, y, r in xyr:
        cx, cy, sigma = x * scale_px + centre_px[0], y * scale_px + centre_px[1], max(r * scale_px, 0.6)
        reach = int(3 * sigma) + 1
        x0, x1 = max(int(cx) - reach, 0), min(int(cx) + reach + 2, size)
        y0, y1 = max(int(cy) - reach, 0), min(int(cy) + reach + 2, size)
        if x0 >= x1 or y0 >= y1:
            continue
        gx = np.exp(-0.5 * ((np.arange(x0, x1) - cx) / sigma) ** 2)
        gy = np.exp(-0.5 * ((np.arange(y0, y1) - cy) / sigma) ** 2)
        field[y0:y1, x0:x1] += amplitude * gy[:, None] * gx[None, :]


# --- rendering --------------------------------------------------------------------------------------------------------
def _colour(*rgb: float) -> np.ndarray:
    """A colour shaped (3, 1, 1), to broadcast over planar (3, H, W) images."""
    return np.array(rgb, np.float32)[:, None, None]


def _render(eye: _Eye, size: int, style: str, rng: np.random.Generator, bands) -> np.ndarray:
    """Planar colour photograph, (3, H, W) float32 in [0, 1] (planar keeps every operation on long rows)."""
    synthetic = style == "synthetic"
    scale = eye.fov_radius * size  # px per field-of-view radius
    centre = (eye.fov_centre[0] * size, eye.fov_centre[1] * size)
    x = ((np.arange(size, dtype=np.float32) - np.float32(centre[0])) / np.float32(scale))[None, :]
    y = ((np.arange(size, dtype=np.float32) - np.float32(centre[1])) / np.float32(scale))[:, None]
    rho = np.sqrt(x * x + y * y)
    px = 1.0 / scale  # one pixel in field-of-view radii

    base = _colour(rng.uniform(0.75, 0.95), rng.uniform(0.28, 0.42), rng.uniform(0.08, 0.18))
    if synthetic:  # colour cast
        base = base * _colour(rng.uniform(0.85, 1.0), rng.uniform(1.15, 1.4), rng.uniform(1.3, 1.9))
    vignette = rng.uniform(0.05, 0.15) if synthetic else rng.uniform(0.3, 0.55)
    uneven = 1.0 + 0.08 * smooth_noise(rng, (size, size), scale / 3)[0]
    light = (1.0 - vignette * rho ** rng.uniform(2.0, 3.0)) * uneven
    texture = smooth_noise(rng, (size, size), max(scale * 0.04, 1.5), 3)  # choroidal pattern
    texture[2] = 0.0
    rgb = base * light * (1.0 + (0.01 if synthetic else 0.04) * texture)

    # Macula: darker (more in green and blue: macular pigment), with a small foveal reflex.
    d2 = (x - eye.macula[0]) ** 2 + (y - eye.macula[1]) ** 2
    sigma, depth = rng.uniform(0.14, 0.2), rng.uniform(0.3, 0.45)
    rgb *= 1.0 - depth * np.exp(-d2 / sigma**2) * _colour(0.6, 1.0, 1.0)
    rgb += 0.08 * np.exp(-d2 / (0.012**2 + px**2))

    # Optic disc: an orange-pink rim round a pale cup that sits a little temporal; both soft-edged.
    dx, dy = x - eye.disc[0], (y - eye.disc[1]) / eye.disc_aspect
    edge = max(0.2 * eye.disc_radius, px)
    disc = np.clip((eye.disc_radius - np.sqrt(dx * dx + dy * dy)) / edge + 0.5, 0.0, 1.0)
    shift = eye.disc_radius * (1.0 - eye.cup_ratio) * 0.3 * math.copysign(1.0, -eye.disc[0])
    cup_distance = np.sqrt((dx - shift) ** 2 + dy * dy)
    cup = np.clip((eye.cup_ratio * eye.disc_radius - cup_distance) / (1.5 * edge) + 0.5, 0.0, 1.0)
    rim = _colour(1.0, rng.uniform(0.62, 0.75), rng.uniform(0.4, 0.52))
    rgb += disc * (rim * light - rgb)
    rgb += cup * (_colour(1.0, 0.93, 0.75) - rgb)

    # Lesions: dark red (haemorrhages, microaneurysms, pigment) and yellow (exudates, drusen).
    lesion_gain = rng.uniform(0.45, 0.65) if synthetic else 1.0
    dark = np.zeros((size, size), np.float32)
    bright = np.zeros((size, size), np.float32)
    for kind, target in (("haemorrhage", dark), ("microaneurysm", dark), ("pigment", dark)):
        if kind in eye.lesions:
            _splat(target, eye.lesions[kind], 0.6 * lesion_gain, centre, scale)
    for kind in ("exudate", "drusen"):
        if kind in eye.lesions:
            _splat(bright, eye.lesions[kind], 0.7 * lesion_gain, centre, scale)
    rgb *= 1.0 - np.minimum(dark, 0.85) * _colour(0.45, 0.75, 0.7)
    rgb += np.minimum(bright, 0.9) * (_colour(1.0, 0.85, 0.35) - rgb)

    # Vessels: a Gaussian cross-section, thin ones fainter (partial volume), veins darker, arteries with a central
    # light reflex. Only pixels within three radii of a centre line are computed.
    contrast = rng.uniform(0.55, 0.75) if synthetic else rng.uniform(0.85, 1.0)
    vein_tint, artery_tint = np.array([0.45, 0.72, 0.68], np.float32), np.array([0.28, 0.55, 0.5], np.float32)
    shade = np.zeros((3, size * size), np.float32)
    reflex = np.zeros(size * size, np.float32)
    for dist, radius, vein in bands:
        width = np.maximum(radius, 0.5)
        near = np.flatnonzero(dist < 3.0 * width)
        d, w, r, is_vein = dist.flat[near], width.flat[near], radius.flat[near], vein.flat[near]
        profile = np.exp(-0.5 * (d / (0.75 * w)) ** 2) * np.minimum(1.0, r / 0.7) * contrast
        tint = np.where(is_vein[None], vein_tint[:, None], artery_tint[:, None])
        shade[:, near] = np.maximum(shade[:, near], profile * tint)
        glint = np.where(is_vein | (r < 2.5), 0.0, np.exp(-0.5 * (d / (0.2 * w)) ** 2))
        reflex[near] = np.maximum(reflex[near], glint)
    rgb *= 1.0 - shade.reshape(3, size, size)
    rgb += 0.12 * contrast * reflex.reshape(size, size)

    fov = np.clip((1.0 - rho) * scale / 1.5 + 0.5, 0.0, 1.0)
    if synthetic:  # generator look: other gamma, blotches, rim halo, over-smoothing, checkerboard
        rgb = np.clip(rgb, 0.0, None) ** rng.uniform(0.75, 0.9)
        rgb *= 1.0 + 0.04 * smooth_noise(rng, (size, size), scale / 6, 3)
        rgb += 0.1 * np.exp(-(((rho - 0.97) / 0.02) ** 2))
        blur = max(0.7, 2.5 * size / 2048)
        rgb = ndimage.gaussian_filter(rgb, (0, blur, blur))
        rgb *= 1.0 + rng.uniform(0.02, 0.04) * checkerboard((size, size), 2)
        noise = rng.uniform(0.004, 0.01)
    else:
        blur = max(0.3, 1.2 * size / 2048)
        rgb = ndimage.gaussian_filter(rgb, (0, blur, blur))
        noise = rng.uniform(0.008, 0.016)
    rgb = rgb * fov + noise * rng.standard_normal(rgb.shape, np.float32)
    return np.clip(rgb, 0.0, 1.0)


# --- public API -------------------------------------------------------------------------------------------------------
def fundus_case(seed: int, style: str = "real", size: int = 2048, disease: str | None = None):
    """One colour fundus photograph with its vessel mask.

    seed:    non-negative int; fixes the eye (disc, macula, vessel tree, lesions) at any size and in both styles.
    style:   ``"real"`` or ``"synthetic"``.
    size:    image side in pixels (FIVES: 2048).
    disease: one of ``A``, ``D``, ``G``, ``N``; None draws it from the seed.
    Returns (rgb, grey, mask): rgb (size, size, 3) uint8; grey an Image (1, size, size) float32 in [0, 255], the
    luminance of rgb, spacing 1; mask an Image (1, size, size) uint8 in {0, 1}.
    """
    seed = check_seed(seed)
    check_style(style)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 32:
        raise ConfigError(f"fundus phantom size must be an integer of at least 32 pixels, got {size!r}")
    if disease is not None and disease not in DISEASES:
        raise ConfigError(f"unknown fundus disease {disease!r}; use one of {', '.join(DISEASES)}")
    eye = _draw_eye(seed, disease)
    scale = eye.fov_radius * size
    centre = (eye.fov_centre[0] * size, eye.fov_centre[1] * size)
    bands = _rasterise(eye.vessels, size, centre, scale)
    mask = np.zeros((size, size), bool)
    for dist, radius, _ in bands:  # the thinnest vessels are one pixel wide
        mask |= dist <= np.maximum(radius, 0.5)
    yy, xx = np.ogrid[:size, :size]
    mask &= (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= scale**2

    rng = rng_for(seed, _RENDER, STYLES.index(style))
    planar = np.round(_render(eye, size, style, rng, bands) * 255).astype(np.uint8)
    rgb = np.ascontiguousarray(np.moveaxis(planar, 0, -1))
    grey = (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)
    return rgb, Image.from_spacing(grey[None]), Image.from_spacing(mask[None].astype(np.uint8), meta={"label": True})


def _write_rgb_png(rgb: np.ndarray, path: Path) -> Path:
    """(H, W, 3) uint8 as a colour PNG, atomically (write_image stores scalar images only)."""
    return atomic_write(path, lambda tmp: sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp)))


def write_fives(
    out_dir,
    cases: int = 8,
    seed: int = 0,
    style: str = "real",
    size: int = 2048,
    *,
    test_fraction: float = 0.25,
    labels: bool = True,
    first_id: int = 1,
) -> list[Path]:
    """Write a FIVES-layout tree of phantom photographs and return the files written.

    ``out_dir/train|test/Original/NNN_X.png`` colour RGB photographs and, unless ``labels`` is False,
    ``out_dir/train|test/Ground truth/NNN_X.png`` 0/255 vessel masks; NNN counts from ``first_id`` and X cycles through
    A (AMD), D (diabetic retinopathy), G (glaucoma), N (normal). The last ``round(cases * test_fraction)`` cases form
    the test split. Case NNN of ``seed`` is the same whatever ``cases`` and ``first_id``.
    """
    check_style(style)
    if cases < 1 or first_id < 0:
        raise ConfigError(f"need at least one case and a non-negative first id, got cases={cases}, first_id={first_id}")
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test fraction must be in [0, 1), got {test_fraction}")
    n_train = cases - round(cases * test_fraction)
    written = []
    for index, number in enumerate(range(first_id, first_id + cases)):
        disease = DISEASES[(number - 1) % len(DISEASES)]
        rgb, _, mask = fundus_case(case_seed(seed, number), style, size, disease)
        split = Path(out_dir) / ("train" if index < n_train else "test")
        name = f"{number:03d}_{disease}.png"
        written.append(_write_rgb_png(rgb, split / "Original" / name))
        if labels:
            written.append(write_image(mask.with_array(mask.array * np.uint8(255)), split / "Ground truth" / name))
    return written
