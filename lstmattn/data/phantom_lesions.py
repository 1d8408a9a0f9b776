"""Pneumonia lesions of the synthetic CT phantoms, with the class-typical patterns.

Two lesion types, both confined to the lung fields:

* **Ground-glass opacity (GGO)**: hazy increase of attenuation to about −700..−300 HU
  with soft margins; vessels stay visible through it (the delta is *added*).
  Some COVID-19 patients show superimposed reticulation ("crazy paving").
* **Consolidation**: the air spaces fill up, about −100..+50 HU, sharper margins;
  vessels vanish but the air-filled bronchi remain (air bronchograms).

Class patterns follow the radiology of the two pneumonias:

* COVID-19: multifocal, mostly bilateral, peripheral/subpleural and posterior GGO
  patches elongated along the pleura, some with a consolidated core.
* Common (bacterial) pneumonia, CP: mostly unilateral lobar consolidation bounded by
  a fissure, or segmental (wedge-shaped, pleura-based) consolidation, little GGO.

A share of slices is atypical (``PhantomConfig.overlap_prob``) or faint
(``faint_lesion_prob``), so the classes overlap like the real ones do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lstmattn.data.phantom_anatomy import HU, AnatomySlice, Grid
from lstmattn.data.phantom_config import PhantomConfig

__all__ = ["DiseaseProfile", "LesionMasks", "sample_profile", "draw_lesions"]

_Window = tuple[slice, slice]


@dataclass(frozen=True)
class DiseaseProfile:
    """A patient's disease, shared by all of their slices.

    Attributes:
        sides: affected lungs (0 image left, 1 image right); empty for Normal.
        severity: multiplies the number of COVID-19 patches.
        core_prob: chance that a COVID-19 GGO patch has a consolidated core.
        crazy_paving: COVID-19 GGO with superimposed reticulation.
        lobar: CP as lobar (fissure-bounded) rather than segmental consolidation.
    """

    sides: tuple[int, ...]
    severity: float
    core_prob: float
    crazy_paving: bool
    lobar: bool


@dataclass
class LesionMasks:
    """Boolean [H, W] lesion masks (pixels inside the lungs only)."""

    ggo: np.ndarray
    consolidation: np.ndarray


def sample_profile(class_id: int, rng: np.random.Generator, config: PhantomConfig) -> DiseaseProfile:
    """Draw a patient's disease profile: laterality (COVID-19 mostly bilateral, CP mostly
    unilateral), severity and pattern flags. Normal patients get no affected lung."""
    bilateral_prob = config.covid_bilateral_prob if class_id == 2 else config.cp_bilateral_prob
    bilateral = rng.random() < bilateral_prob
    first = int(rng.integers(2))
    profile = DiseaseProfile(
        sides=(0, 1) if bilateral else (first,),
        severity=rng.uniform(0.6, 1.4),
        core_prob=rng.uniform(0.1, 0.45),
        crazy_paving=rng.random() < 0.3,
        lobar=rng.random() < 0.5,
    )
    if class_id == 0:
        return DiseaseProfile((), 0.0, 0.0, False, False)
    return profile


class _LungSide:
    """One lung's mask, bounding window and distance to the pleura (pixels)."""

    def __init__(self, mask: np.ndarray, hilum_px: tuple[float, float]) -> None:
        rows, cols = np.nonzero(mask)
        self.empty = rows.size == 0
        self.mask = mask
        self.hilum = hilum_px
        if self.empty:
            return
        self.window: _Window = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        self.local = mask[self.window]
        self.dist = ndimage.distance_transform_edt(self.local).astype(np.float32)
        dy = np.arange(rows.min(), rows.max() + 1, dtype=np.float32)[:, None] - hilum_px[0]
        dx = np.arange(cols.min(), cols.max() + 1, dtype=np.float32)[None, :] - hilum_px[1]
        self.hilar_dist = np.sqrt(dy**2 + dx**2)

    def pick(self, rng: np.random.Generator, *, max_dist: float | None = None, min_dist: float = 1.5) -> tuple[int, int] | None:
        """A random lung pixel (global row, col), favouring posterior (dependent) parts;
        ``max_dist`` limits it to the subpleural rim of the chest wall (the outer half
        of the lung seen from the hilum, not the mediastinal pleura)."""
        ok = self.dist > min_dist
        if max_dist is not None:
            ok &= (self.dist < max_dist) & (self.hilar_dist > 0.5 * float(self.hilar_dist[self.local].max()))
        rows, cols = np.nonzero(ok)
        if rows.size == 0:
            return None
        weights = 1.0 + 1.5 * rows / max(self.local.shape[0] - 1, 1)
        i = rng.choice(rows.size, p=weights / weights.sum())
        return int(rows[i]) + self.window[0].start, int(cols[i]) + self.window[1].start

    def pleural_tangent(self, row: int, col: int) -> float:
        """Direction (radians, image axes) parallel to the nearest pleura at a pixel."""
        r, c = row - self.window[0].start, col - self.window[1].start
        h, w = self.dist.shape
        gy = self.dist[min(r + 1, h - 1), c] - self.dist[max(r - 1, 0), c]
        gx = self.dist[r, min(c + 1, w - 1)] - self.dist[r, max(c - 1, 0)]
        return math.atan2(gy, gx) + math.pi / 2


class _Canvas:
    """Accumulates lesions: GGO as an additive HU rise, consolidation as an opacity
    blending toward its own HU; each lesion's half-maximum region is its mask."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.ggo_rise = np.zeros(shape, dtype=np.float32)
        self.ggo = np.zeros(shape, dtype=bool)
        self.cons_alpha = np.zeros(shape, dtype=np.float32)
        self.cons_hu = np.zeros(shape, dtype=np.float32)
        self.cons = np.zeros(shape, dtype=bool)

    def add_ggo(self, win: _Window, alpha: np.ndarray, rise: np.ndarray) -> None:
        np.maximum(self.ggo_rise[win], rise, out=self.ggo_rise[win])
        self.ggo[win] |= alpha >= 0.5

    def add_consolidation(self, win: _Window, alpha: np.ndarray, target_hu: float) -> None:
        stronger = alpha > self.cons_alpha[win]
        self.cons_alpha[win][stronger] = alpha[stronger]
        self.cons_hu[win][stronger] = target_hu
        self.cons[win] |= alpha >= 0.5

    def apply(self, anatomy: AnatomySlice) -> LesionMasks:
        """Burn the lesions into ``anatomy.hu`` (inside the lungs) and return the masks."""
        lungs = anatomy.lungs[0] | anatomy.lungs[1]
        hu = anatomy.hu
        hu += self.ggo_rise * lungs
        alpha = self.cons_alpha * lungs
        hu += alpha * (self.cons_hu - hu)
        hu[anatomy.airways & (alpha > 0.85)] = HU["lung"]
        return LesionMasks(self.ggo & lungs, self.cons & lungs)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Unit-variance Gaussian-filtered white noise (irregular lesion margins, texture)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return field / (float(field.std()) + 1e-6)


def _patch(
    grid: Grid,
    centre: tuple[int, int],
    radii_px: tuple[float, float],
    angle: float,
    edge: float,
    rng: np.random.Generator,
) -> tuple[_Window, np.ndarray]:
    """Opacity (0..1) of an elliptical patch with an irregular, lobulated margin;
    ``edge`` is the width of the soft rim as a fraction of the radius."""
    row, col = centre
    reach = int(max(radii_px) * 1.4) + 2
    win = (slice(max(row - reach, 0), min(row + reach + 1, grid.size)),
           slice(max(col - reach, 0), min(col + reach + 1, grid.size)))
    dy = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] - row
    dx = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] - col
    cos, sin = math.cos(angle), math.sin(angle)
    along = (dx * cos + dy * sin) / radii_px[0]
    across = (-dx * sin + dy * cos) / radii_px[1]
    rho = np.sqrt(along**2 + across**2)
    rho += 0.15 * _smooth_noise(rng, rho.shape, max(min(radii_px) * 0.35, 1.0))
    return win, _smoothstep((1.0 - rho) / edge)


def _ggo_patch(
    canvas: _Canvas,
    side: _LungSide,
    grid: Grid,
    unit_px: float,
    rng: np.random.Generator,
    config: PhantomConfig,
    *,
    faint: bool,
    peripheral: bool,
    core_prob: float,
    crazy_paving: bool,
) -> None:
    """A GGO patch: subpleural and elongated along the pleura (COVID-19 typical), or
    central around the bronchovascular bundle; optionally with a consolidated core
    and crazy-paving reticulation."""
    size = config.lesion_size * (0.6 if faint else 1.0)
    long = rng.uniform(0.09, 0.2) * unit_px * size
    short = long * rng.uniform(0.45, 0.8)
    if peripheral:
        centre = side.pick(rng, min_dist=0.5 * short, max_dist=max(short, 0.5 * short + 3.0))
    else:
        centre = side.pick(rng, min_dist=1.5 * short)
    if centre is None:
        return
    angle = side.pleural_tangent(*centre) if peripheral else rng.uniform(0.0, math.pi)
    win, alpha = _patch(grid, centre, (long, short), angle, 0.5, rng)
    rise = (rng.uniform(-620.0, -350.0) - HU["lung"]) * config.lesion_contrast * (0.5 if faint else 1.0)
    texture = 1.0
    if crazy_paving:
        ridges = np.abs(_smooth_noise(rng, alpha.shape, 2.0 * grid.size / 512.0)) < 0.3
        texture = 0.8 + 0.5 * ridges
    canvas.add_ggo(win, alpha, (alpha * rise * texture).astype(np.float32))
    if rng.random() < core_prob:
        scale = rng.uniform(0.3, 0.55)
        win, alpha = _patch(grid, centre, (long * scale, short * scale), angle, 0.15, rng)
        canvas.add_consolidation(win, alpha, _consolidation_hu(rng, config))


def _consolidation_hu(rng: np.random.Generator, config: PhantomConfig) -> float:
    """Attenuation of fluid-filled air spaces (−100..+50 HU at full contrast)."""
    return HU["lung"] + (rng.uniform(-100.0, 40.0) - HU["lung"]) * config.lesion_contrast


def _wedge(canvas: _Canvas, side: _LungSide, rng: np.random.Generator, config: PhantomConfig, *, faint: bool) -> None:
    """Segmental consolidation: a wedge with its apex toward the hilum and its base on
    the pleura, the shape of a bronchopulmonary segment."""
    target = side.pick(rng, max_dist=4.0, min_dist=0.5)
    if target is None:
        return
    win = side.window
    size_scale = side.mask.shape[0] / 512.0
    hr, hc = side.hilum
    rows = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] - hr
    cols = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] - hc
    heading = math.atan2(target[0] - hr, target[1] - hc)
    offset = np.abs(np.angle(np.exp(1j * (np.arctan2(rows, cols) - heading))))
    half = rng.uniform(0.2, 0.38) * config.lesion_size * (0.55 if faint else 1.0)
    offset += 0.2 * half * _smooth_noise(rng, offset.shape, 4.0 * size_scale)
    reach = math.hypot(target[0] - hr, target[1] - hc)
    start = reach * (rng.uniform(0.5, 0.75) if faint else rng.uniform(0.25, 0.55))
    radial = np.sqrt(rows**2 + cols**2)
    alpha = _smoothstep((half - offset) / (0.2 * half)) * _smoothstep((radial - start) / (3.0 * size_scale))
    canvas.add_consolidation(win, alpha * side.local, _consolidation_hu(rng, config))


def _lobe(canvas: _Canvas, side: _LungSide, grid: Grid, rng: np.random.Generator, config: PhantomConfig) -> None:
    """Lobar consolidation: the part of the lung beyond a gently curved fissure is
    uniformly consolidated, with a sharp, straight-ish border along the fissure."""
    through = side.pick(rng, min_dist=0.5 * float(side.dist.max()))
    if through is None:
        return
    win = side.window
    normal = rng.uniform(0.0, 2.0 * math.pi)
    dy = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] - through[0]
    dx = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] - through[1]
    across = dx * math.cos(normal) + dy * math.sin(normal)
    along = -dx * math.sin(normal) + dy * math.cos(normal)
    bend = rng.uniform(-1.5, 1.5) / grid.half
    alpha = _smoothstep((across + bend * along**2) / 1.5 + 0.5)
    canvas.add_consolidation(win, alpha * side.local, _consolidation_hu(rng, config))


def _covid_pattern(
    canvas: _Canvas, sides: list[_LungSide], profile: DiseaseProfile, grid: Grid, unit_px: float,
    rng: np.random.Generator, config: PhantomConfig, *, faint: bool, atypical: bool,
) -> None:
    """COVID-19: several peripheral GGO patches spread over the affected lungs; the
    atypical form is a single patch, central GGO, or a CP-like segmental consolidation."""
    kwargs = dict(faint=faint, core_prob=profile.core_prob, crazy_paving=profile.crazy_paving)
    affected = [sides[i] for i in profile.sides]
    if atypical:
        variant = int(rng.integers(3))
        side = affected[int(rng.integers(len(affected)))]
        if variant == 2:
            _wedge(canvas, side, rng, config, faint=faint)
        for _ in range(1 if variant == 0 else int(rng.integers(1, 3))):
            _ggo_patch(canvas, side, grid, unit_px, rng, config, peripheral=variant != 1, **kwargs)
        return
    count = min(len(affected) + int(rng.poisson(2.0 * profile.severity * config.lesion_count)), 10)
    for i in range(count):
        side = affected[i] if i < len(affected) else affected[int(rng.integers(len(affected)))]
        _ggo_patch(canvas, side, grid, unit_px, rng, config, peripheral=True, **kwargs)


def _cp_pattern(
    canvas: _Canvas, sides: list[_LungSide], profile: DiseaseProfile, grid: Grid, unit_px: float,
    rng: np.random.Generator, config: PhantomConfig, *, faint: bool, atypical: bool,
) -> None:
    """CP: lobar or segmental consolidation in the affected lung(s), occasionally a small
    central GGO patch; the atypical form adds COVID-like peripheral GGO patches."""
    first = sides[profile.sides[0]]
    if profile.lobar and not faint:
        _lobe(canvas, first, grid, rng, config)
    else:
        _wedge(canvas, first, rng, config, faint=faint)
    for i in profile.sides[1:]:
        _wedge(canvas, sides[i], rng, config, faint=faint)
    ggo = dict(faint=faint, core_prob=0.0, crazy_paving=False)
    if rng.random() < 0.3:
        _ggo_patch(canvas, first, grid, unit_px, rng, config, peripheral=False, **ggo)
    if atypical:
        for _ in range(int(rng.integers(1, 4))):
            side = sides[int(rng.integers(2))]
            _ggo_patch(canvas, side, grid, unit_px, rng, config, peripheral=True, **ggo)


def draw_lesions(
    class_id: int,
    profile: DiseaseProfile,
    anatomy: AnatomySlice,
    rng: np.random.Generator,
    config: PhantomConfig,
) -> LesionMasks:
    """Add the class's lesions to ``anatomy.hu`` in place; return GGO/consolidation masks."""
    grid = Grid(anatomy.hu.shape[0])
    canvas = _Canvas(anatomy.hu.shape)
    faint = rng.random() < config.faint_lesion_prob
    atypical = rng.random() < config.overlap_prob
    if class_id != 0:
        sides = [_LungSide(lung, grid.to_pixel(*hilum)) for lung, hilum in zip(anatomy.lungs, anatomy.hila)]
        if not any(side.empty for side in sides):
            unit_px = anatomy.cavity_half_width / 0.7 * grid.half
            pattern = _covid_pattern if class_id == 2 else _cp_pattern
            pattern(canvas, sides, profile, grid, unit_px, rng, config, faint=faint, atypical=atypical)
    return canvas.apply(anatomy)
