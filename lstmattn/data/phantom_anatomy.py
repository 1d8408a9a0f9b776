"""Normal chest anatomy of the synthetic CT phantoms, in Hounsfield units.

An axial slice is drawn in normalised coordinates (``x, y`` in ``[-1, 1]``, ``x`` to
the image right = the patient's left, ``y`` down = posterior) so that everything
scales with the image size. Tissue values follow standard CT attenuation: air
−1000 HU, aerated lung ≈ −900..−850 HU (denser in the dependent, posterior part),
fat ≈ −100 HU, muscle and blood ≈ +40 HU, liver ≈ +55 HU, cancellous bone ≈ +300 HU,
cortical bone ≈ +800 HU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "HU",
    "Grid",
    "PatientAnatomy",
    "AnatomySlice",
    "sample_anatomy",
    "scan_slice_number",
    "render_anatomy",
]

#: Representative attenuation of each tissue (HU).
HU: dict[str, float] = {
    "air": -1000.0,
    "lung": -900.0,
    "fat": -100.0,
    "mediastinal_fat": -80.0,
    "soft_tissue": 40.0,
    "liver": 55.0,
    "marrow": 300.0,
    "cortical_bone": 800.0,
    "couch_foam": -450.0,
    "couch_shell": 150.0,
}

#: Number of slice positions in a phantom scan (apex = 0, lung base = SCAN_SLICES − 1).
SCAN_SLICES = 300


class Grid:
    """Pixel-centre coordinates of a square ``size × size`` slice, normalised to ``[-1, 1]``.

    ``x`` has shape ``(1, size)`` and ``y`` shape ``(size, 1)``, so separable shapes
    cost 1-D work plus one broadcast.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.half = size / 2.0
        centres = ((np.arange(size, dtype=np.float32) + 0.5) / self.half - 1.0).astype(np.float32)
        self.x = centres[None, :]
        self.y = centres[:, None]

    def px(self, pixels: float) -> float:
        """Length of ``pixels`` pixels in normalised units."""
        return pixels / self.half

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Normalised point → (row, col) in pixels."""
        return (y + 1.0) * self.half - 0.5, (x + 1.0) * self.half - 0.5


def superellipse(
    grid: Grid, cx: float, cy: float, ax: float, ay_front: float, ay_back: float, power: float
) -> np.ndarray:
    """Boolean ``|dx/ax|^p + |dy/ay|^p < 1`` with different anterior/posterior half-depths.

    A super-ellipse (``p > 2``) gives the squarer outline of the adult thorax.
    """
    tx = np.abs((grid.x - cx) / ax) ** power
    ay = np.where(grid.y < cy, ay_front, ay_back)
    ty = np.abs((grid.y - cy) / ay) ** power
    return (tx + ty) < 1.0


def paint_ellipse(
    canvas: np.ndarray,
    value: float | bool,
    grid: Grid,
    centre: tuple[float, float],
    axes: tuple[float, float],
    angle: float = 0.0,
) -> None:
    """Set the pixels of a rotated ellipse (normalised units) to ``value``, in place.

    Works on the ellipse's bounding window only, so small organs and bones are cheap.
    """
    row, col = grid.to_pixel(*centre)
    reach = max(axes) * grid.half + 1.0
    r0, r1 = max(int(row - reach), 0), min(int(row + reach) + 2, grid.size)
    c0, c1 = max(int(col - reach), 0), min(int(col + reach) + 2, grid.size)
    if r0 >= r1 or c0 >= c1:
        return
    dy = (np.arange(r0, r1, dtype=np.float32)[:, None] - row) / grid.half
    dx = (np.arange(c0, c1, dtype=np.float32)[None, :] - col) / grid.half
    cos, sin = math.cos(angle), math.sin(angle)
    along = dx * cos + dy * sin
    across = -dx * sin + dy * cos
    inside = (along / axes[0]) ** 2 + (across / axes[1]) ** 2 < 1.0
    canvas[r0:r1, c0:c1][inside] = value


@dataclass(frozen=True)
class PatientAnatomy:
    """Body habitus of one phantom patient, shared by all of their slices.

    Lengths are in normalised image units (1 = half the image side).
    """

    centre_x: float
    centre_y: float
    half_width: float
    depth_front: float
    depth_back: float
    power: float
    fat: float
    wall: float
    breasts: float
    heart_scale: float
    heart_shift: float
    lung_power: float
    spine_radius: float
    first_slice: int
    slice_stride: int


def sample_anatomy(rng: np.random.Generator, slices_per_patient: int) -> PatientAnatomy:
    """Draw a patient: body size and shape, fat and muscle thickness, heart size and the
    scan levels (``slices_per_patient`` slices from upper lobes to lung bases)."""
    half_width = rng.uniform(0.78, 0.94)
    first = int(rng.uniform(0.12, 0.55) * (SCAN_SLICES - 1))
    stride = int(rng.uniform(0.035, 0.07) * (SCAN_SLICES - 1))
    room = int(0.95 * (SCAN_SLICES - 1)) - first
    stride = max(1, min(stride, room // max(slices_per_patient - 1, 1)))
    return PatientAnatomy(
        centre_x=rng.uniform(-0.03, 0.03),
        centre_y=rng.uniform(-0.08, 0.02),
        half_width=half_width,
        depth_front=half_width * rng.uniform(0.62, 0.76),
        depth_back=half_width * rng.uniform(0.50, 0.60),
        power=rng.uniform(2.1, 2.8),
        fat=rng.uniform(0.015, 0.07),
        wall=rng.uniform(0.035, 0.055),
        breasts=rng.uniform(0.10, 0.17) if rng.random() < 0.35 else 0.0,
        heart_scale=rng.uniform(0.85, 1.15),
        heart_shift=rng.uniform(0.05, 0.16),
        lung_power=rng.uniform(2.0, 2.6),
        spine_radius=rng.uniform(0.065, 0.08),
        first_slice=first,
        slice_stride=stride,
    )


def scan_slice_number(anatomy: PatientAnatomy, k: int) -> int:
    """Instance number of the patient's ``k``-th sampled slice (unique per patient)."""
    return anatomy.first_slice + k * anatomy.slice_stride


@dataclass
class AnatomySlice:
    """A rendered normal slice: HU image (before blur and noise) and masks.

    Attributes:
        hu: float32 [H, W] attenuation.
        body: bool [H, W] patient outline (skin inwards).
        lungs: the two lung fields (image left, image right), bool [H, W] each.
        airways: bool [H, W] small-airway paths, used for air bronchograms.
        hila: the two hilar points (normalised x, y) where the vessel trees start.
        cavity_half_width: half-width of the thoracic cavity (normalised), the size
            unit for lesions.
    """

    hu: np.ndarray
    body: np.ndarray
    lungs: tuple[np.ndarray, np.ndarray]
    airways: np.ndarray
    hila: tuple[tuple[float, float], tuple[float, float]]
    cavity_half_width: float


@dataclass(frozen=True)
class _Cavity:
    """Thoracic cavity inside the ribs: centre and half-axes (normalised)."""

    cx: float
    cy: float
    half_width: float
    front: float
    back: float
    power: float


def _draw_couch(hu: np.ndarray, grid: Grid, a: PatientAnatomy) -> None:
    """Curved CT table under the patient: foam core with a denser shell."""
    top = a.centre_y + a.depth_back + 0.03 + 0.3 * (grid.x - a.centre_x) ** 2
    depth = grid.y - top
    thickness = 0.035
    hu[(depth > 0) & (depth < thickness)] = HU["couch_foam"]
    shell = grid.px(0.8)
    hu[(np.abs(depth) < shell) | (np.abs(depth - thickness) < shell)] = HU["couch_shell"]


def _draw_body(hu: np.ndarray, grid: Grid, a: PatientAnatomy) -> tuple[np.ndarray, _Cavity]:
    """Skin outline with a subcutaneous fat rim (and breasts in some patients), the
    muscular chest wall, and the cavity inside it (filled with mediastinal fat)."""
    cx, cy = a.centre_x, a.centre_y
    body = superellipse(grid, cx, cy, a.half_width, a.depth_front, a.depth_back, a.power)
    if a.breasts > 0:
        for side in (-1.0, 1.0):
            centre = (cx + side * 0.42 * a.half_width, cy - 0.80 * a.depth_front)
            paint_ellipse(body, True, grid, centre, (0.24 * a.half_width, a.breasts))
    hu[body] = HU["fat"]
    muscle = superellipse(
        grid, cx, cy, a.half_width - a.fat, a.depth_front - a.fat, a.depth_back - a.fat, a.power
    )
    hu[muscle] = HU["soft_tissue"]
    cavity = _Cavity(
        cx,
        cy,
        a.half_width - a.fat - a.wall,
        a.depth_front - a.fat - a.wall,
        a.depth_back - a.fat - 1.7 * a.wall,
        a.power,
    )
    inside = superellipse(grid, cx, cy, cavity.half_width, cavity.front, cavity.back, cavity.power)
    hu[inside] = HU["mediastinal_fat"]
    return body, cavity


def _spine_centre(c: _Cavity, a: PatientAnatomy) -> tuple[float, float]:
    return c.cx, c.cy + c.back - 0.2 * a.spine_radius


def _draw_mediastinum(hu: np.ndarray, zone: np.ndarray, grid: Grid, c: _Cavity, a: PatientAnatomy, z: float) -> None:
    """Heart with pericardial fat (larger at lower levels), great vessels and trachea
    (upper levels), main bronchi, descending aorta and oesophagus. ``zone`` collects
    everything the lungs must not overlap (with a small margin)."""
    margin = grid.px(2.0)
    organs: list[tuple[tuple[float, float], tuple[float, float], float]] = []
    heart_growth = min(max((z - 0.32) / 0.28, 0.0), 1.0) * a.heart_scale
    if heart_growth > 0.05:
        centre = (c.cx + a.heart_shift * c.half_width, c.cy - 0.15 * c.front + 0.1 * heart_growth * c.front)
        axes = (0.33 * c.half_width * heart_growth, 0.55 * c.front * heart_growth)
        paint_ellipse(hu, HU["mediastinal_fat"], grid, centre, (axes[0] * 1.1, axes[1] * 1.1), 0.5)
        paint_ellipse(hu, HU["soft_tissue"], grid, centre, axes, 0.5)
        organs.append((centre, (axes[0] * 1.1, axes[1] * 1.1), 0.5))
    if z < 0.48:
        for dx, radius in ((0.06, 0.12), (-0.14, 0.08)):
            centre = (c.cx + dx * c.half_width, c.cy - 0.3 * c.front)
            paint_ellipse(hu, HU["soft_tissue"], grid, centre, (radius * c.half_width,) * 2)
            organs.append((centre, (radius * c.half_width,) * 2, 0.0))
    spine_x, spine_y = _spine_centre(c, a)
    rv = a.spine_radius
    aorta = ((spine_x + 1.3 * rv, spine_y - 1.1 * rv), (0.75 * rv, 0.75 * rv), 0.0)
    oesophagus = ((spine_x - 0.3 * rv, spine_y - 1.4 * rv), (0.35 * rv, 0.3 * rv), 0.0)
    for centre, axes, angle in (aorta, oesophagus):
        paint_ellipse(hu, HU["soft_tissue"], grid, centre, axes, angle)
        organs.append((centre, axes, angle))
    organs.append(((spine_x, spine_y), (1.35 * rv, 1.35 * rv), 0.0))
    _draw_airways(hu, zone, grid, c, z)
    for centre, axes, angle in organs:
        paint_ellipse(zone, True, grid, centre, (axes[0] + margin, axes[1] + margin), angle)
    # The mediastinum between the lungs: anterior junction and pleural reflections keep the
    # two lung fields apart (about a quarter of the cavity width in adults).
    band = np.abs(grid.x - c.cx - 0.02) < 0.12 * c.half_width + margin
    zone |= np.broadcast_to(band, zone.shape)


def _draw_airways(hu: np.ndarray, zone: np.ndarray, grid: Grid, c: _Cavity, z: float) -> None:
    """Trachea above the carina, the two main bronchi just below it (air with a wall)."""
    if z < 0.32:
        tubes = [((c.cx, c.cy - 0.1 * c.front), 0.055 * c.half_width)]
    elif z < 0.42:
        tubes = [((c.cx + s * 0.13 * c.half_width, c.cy - 0.02), 0.035 * c.half_width) for s in (-1, 1)]
    else:
        return
    for centre, radius in tubes:
        wall = radius + grid.px(2.0)
        paint_ellipse(hu, HU["soft_tissue"], grid, centre, (wall, wall))
        paint_ellipse(hu, HU["air"], grid, centre, (radius, radius))
        paint_ellipse(zone, True, grid, centre, (wall + grid.px(2.0),) * 2)


def _draw_bones(hu: np.ndarray, grid: Grid, c: _Cavity, a: PatientAnatomy, z: float, rng: np.random.Generator) -> None:
    """Thoracic vertebra (body, canal, laminae, spinous and transverse processes),
    sternum, and oblique rib cross-sections around the cavity (cortex over marrow)."""
    sx, sy = _spine_centre(c, a)
    rv = a.spine_radius
    bone, marrow = HU["cortical_bone"], HU["marrow"]
    paint_ellipse(hu, bone, grid, (sx, sy + 1.45 * rv), (0.8 * rv, 0.8 * rv))
    for side in (-1.0, 1.0):
        paint_ellipse(hu, bone, grid, (sx + side * 1.05 * rv, sy + 1.1 * rv), (0.65 * rv, 0.22 * rv), side * 0.5)
    paint_ellipse(hu, bone, grid, (sx, sy + 2.35 * rv), (0.2 * rv, 0.85 * rv))
    paint_ellipse(hu, HU["soft_tissue"], grid, (sx, sy + 1.45 * rv), (0.45 * rv, 0.45 * rv))
    paint_ellipse(hu, bone, grid, (sx, sy), (rv, rv))
    paint_ellipse(hu, marrow, grid, (sx, sy), (0.82 * rv, 0.82 * rv))
    if z > 0.2:
        paint_ellipse(hu, bone, grid, (c.cx, c.cy - c.front - 0.5 * a.wall), (0.07, 0.025))
    thickness = max(0.014, grid.px(1.6))
    for side in (-1.0, 1.0):
        for t in np.deg2rad(np.linspace(-62.0, 68.0, 7) + rng.normal(0.0, 4.0, 7)):
            _draw_rib(hu, grid, c, a.wall, side, float(t), thickness, rng)


def _draw_rib(
    hu: np.ndarray, grid: Grid, c: _Cavity, wall: float, side: float, t: float, thickness: float, rng: np.random.Generator
) -> None:
    """One rib cut obliquely: an elongated bony oval lying tangentially in the chest wall."""
    cos, sin = math.cos(t), math.sin(t)
    depth = c.front if sin < 0 else c.back
    exponent = 2.0 / c.power
    x = c.cx + side * (c.half_width + 0.45 * wall) * abs(cos) ** exponent
    y = c.cy + math.copysign((depth + 0.45 * wall) * abs(sin) ** exponent, sin)
    tangent = math.atan2(cos * depth, -side * sin * c.half_width)
    length = rng.uniform(0.03, 0.06)
    paint_ellipse(hu, HU["cortical_bone"], grid, (x, y), (length, thickness), tangent)
    inner = (length - grid.px(1.0), thickness - grid.px(1.0))
    if min(inner) > 0:
        paint_ellipse(hu, HU["marrow"], grid, (x, y), inner, tangent)


def _lung_fields(
    grid: Grid, c: _Cavity, a: PatientAnatomy, zone: np.ndarray, z: float
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The two lungs: super-ellipses filling the cavity lateral to the mediastinum,
    smaller at the apex; at the bases the diaphragm domes (liver on the right, higher)
    push in from below. Returns the lungs and the two dome regions."""
    growth = 0.62 + 0.38 * min(z / 0.42, 1.0) ** 0.6
    pleura = grid.px(1.0)
    cavity = superellipse(
        grid, c.cx, c.cy, c.half_width - pleura, c.front - pleura, c.back - pleura, c.power
    )
    lungs, domes = [], []
    for side, onset in ((-1.0, 0.68), (1.0, 0.74)):
        lx = c.cx + side * 0.5 * c.half_width
        ly = c.cy + 0.1 * (c.back - c.front)
        lax, front = 0.66 * c.half_width * growth, 1.15 * c.front * growth
        lung = superellipse(grid, lx, ly, lax, front, 1.25 * c.back, a.lung_power)
        lung &= cavity & ~zone & (side * (grid.x - c.cx) > 0)
        dome = np.zeros_like(lung)
        depth = (z - onset) / 0.26
        if depth > 0:
            paint_ellipse(dome, True, grid, (lx, ly + 0.2 * c.back), (0.95 * lax * depth, 0.95 * front * depth))
            dome &= cavity
            lung &= ~dome
        lungs.append(lung)
        domes.append(dome)
    return (lungs[0], lungs[1]), (domes[0], domes[1])


_Points = tuple[np.ndarray, np.ndarray]


def _vessel_trees(
    grid: Grid, hila: tuple[tuple[float, float], ...], c: _Cavity, rng: np.random.Generator
) -> list[_Points]:
    """Pulmonary vessel trees branching dichotomously from each hilum toward the pleura,
    as pixel (rows, cols) along the centre lines of three calibres (large, medium, small)."""
    points: list[list[_Points]] = [[], [], []]
    unit = c.half_width / 0.7
    for side, (hx, hy) in zip((-1.0, 1.0), hila):
        lateral = 0.0 if side > 0 else math.pi
        offsets = np.deg2rad(np.array([-75.0, -25.0, 25.0, 75.0]) + rng.normal(0.0, 10.0, 4))
        angles = lateral + side * offsets
        starts = np.tile([hx, hy], (angles.size, 1)).astype(np.float32)
        lengths = rng.uniform(0.10, 0.13, angles.size) * unit
        for generation in range(4):
            ends = starts + lengths[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
            points[min(generation, 2)].append(_segment_pixels(grid, starts, ends))
            n = angles.size
            spread = np.deg2rad(rng.uniform(12.0, 30.0, n))
            angles = np.concatenate([angles - spread, angles + spread]) + rng.normal(0.0, 0.1, 2 * n)
            starts = np.concatenate([ends, ends])
            lengths = np.concatenate([lengths, lengths]) * rng.uniform(0.7, 0.9, 2 * n)
    return [(np.concatenate([r for r, _ in group]), np.concatenate([k for _, k in group])) for group in points]


def _segment_pixels(grid: Grid, starts: np.ndarray, ends: np.ndarray) -> _Points:
    """Pixels along each segment (sampled at sub-pixel spacing)."""
    length_px = float(np.max(np.linalg.norm(ends - starts, axis=1))) * grid.half
    t = np.linspace(0.0, 1.0, int(math.ceil(length_px * 1.5)) + 2, dtype=np.float32)
    points = starts[:, None, :] + t[None, :, None] * (ends - starts)[:, None, :]
    cols = np.rint((points[..., 0] + 1.0) * grid.half - 0.5).astype(np.int64).ravel()
    rows = np.rint((points[..., 1] + 1.0) * grid.half - 0.5).astype(np.int64).ravel()
    return rows, cols


def _stamp(canvas: np.ndarray, points: _Points, radius: float, value: float | bool) -> None:
    """Set a disk of ``radius`` pixels around each point (a single pixel below 1)."""
    r = int(math.floor(radius)) if radius >= 1.0 else 0
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    inside = dx**2 + dy**2 <= radius**2 + 0.5
    rows = (points[0][:, None] + dy[inside][None, :]).ravel()
    cols = (points[1][:, None] + dx[inside][None, :]).ravel()
    keep = (rows >= 0) & (rows < canvas.shape[0]) & (cols >= 0) & (cols < canvas.shape[1])
    canvas[rows[keep], cols[keep]] = value


def _vessel_hu(grid: Grid, trees: list[_Points], lungs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """HU added to the lung by vessels: scattered cross-sectioned vessels (dots), thin
    peripheral branches with partial-volume attenuation, and thicker blood-filled
    trunks near the hilum (drawn last, on top)."""
    scale = grid.size / 512.0
    rows, cols = np.nonzero(lungs)
    layers: list[tuple[_Points, float, float]] = []
    if rows.size:
        for count, radius, value in ((160, 0.0, 320.0), (30, 1.0 * scale, 550.0)):
            pick = rng.integers(0, rows.size, count)
            layers.append(((rows[pick], cols[pick]), radius, value))
    layers += [(trees[2], 0.0, 320.0), (trees[1], 1.0 * scale, 550.0), (trees[0], 1.8 * scale, 750.0)]
    add = np.zeros(lungs.shape, dtype=np.float32)
    for points, radius, value in layers:
        _stamp(add, points, radius, value)
    return add * lungs


def render_anatomy(anatomy: PatientAnatomy, k: int, size: int, rng: np.random.Generator) -> AnatomySlice:
    """Render the patient's ``k``-th slice (normal lungs, no lesions, no noise)."""
    grid = Grid(size)
    z = scan_slice_number(anatomy, k) / (SCAN_SLICES - 1)
    hu = np.full((size, size), HU["air"], dtype=np.float32)
    _draw_couch(hu, grid, anatomy)
    body, cavity = _draw_body(hu, grid, anatomy)
    zone = np.zeros((size, size), dtype=bool)
    _draw_mediastinum(hu, zone, grid, cavity, anatomy, z)
    lungs, domes = _lung_fields(grid, cavity, anatomy, zone, z)
    for dome in domes:
        hu[dome] = HU["liver"]
    both = lungs[0] | lungs[1]
    dependent = HU["lung"] + 50.0 * np.clip((grid.y - (cavity.cy - cavity.front)) / (cavity.front + cavity.back), 0, 1)
    hu = np.where(both, dependent, hu).astype(np.float32)
    hila = tuple((cavity.cx + s * 0.2 * cavity.half_width, cavity.cy + 0.02) for s in (-1.0, 1.0))
    trees = _vessel_trees(grid, hila, cavity, rng)
    airways = np.zeros_like(both)
    _stamp(airways, (trees[2][0], trees[2][1] + 2), 0.0, True)
    airways &= both
    hu += _vessel_hu(grid, trees, both, rng)
    _draw_bones(hu, grid, cavity, anatomy, z, rng)
    return AnatomySlice(hu, body, lungs, airways, hila, cavity.half_width)
