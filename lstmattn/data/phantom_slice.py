"""One synthetic CT slice: anatomy + class-typical lesions + scanner blur and noise,
windowed to 8 bits exactly like COVIDx-CT, with its label map and instances."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.measure import label as connected_components

from lstmattn.data.phantom_anatomy import render_anatomy, sample_anatomy, scan_slice_number
from lstmattn.data.phantom_config import DEFAULT_PHANTOM_CONFIG, PhantomConfig
from lstmattn.data.phantom_lesions import draw_lesions, sample_profile
from lstmattn.data.windowing import hu_to_covidx_uint8
from lstmattn.errors import ConfigError
from lstmattn.labels import IMAGE_CLASS_NAMES, LESION_NAMES, LUNG_LABEL

__all__ = [
    "SPLIT_CODES",
    "LABEL_BACKGROUND",
    "LABEL_LUNG",
    "LABEL_GGO",
    "LABEL_CONSOLIDATION",
    "PhantomSlice",
    "patient_id",
    "class_of_phantom_file",
    "phantom_class_name",
    "generate_slice",
    "label_map_instances",
]

#: Split name → digit in the patient id. ``seg-*`` splits hold the segmentation slices;
#: ``holdout`` is the phantom stand-in for Table 3's hold-out (unseen patients).
SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1, "test": 2, "seg-train": 3, "seg-val": 4, "seg-test": 5, "holdout": 6}

#: Label-map values of the phantoms' masks (the CNCB format: each value is its instance label).
LABEL_BACKGROUND, LABEL_LUNG, LABEL_GGO, LABEL_CONSOLIDATION = 0, LUNG_LABEL, LESION_NAMES["GGO"], LESION_NAMES["consolidation"]
_HU_FLOOR = -1024.0


@dataclass
class PhantomSlice:
    """A generated slice and its ground truth.

    Attributes:
        class_id: 0 Normal, 1 CP, 2 COVID-19.
        hu: float32 [H, W] Hounsfield units.
        image: uint8 [H, W], ``hu_to_covidx_uint8(hu)``.
        label_map: uint8 [H, W], 0 background, 1 lung field, 2 GGO, 3 consolidation.
        instances: ``(label, bool mask [H, W])`` for each connected component of each
            label (lungs first, then GGO, then consolidation), larger than
            ``PhantomConfig.min_area()``.
        patient_id: ``PH<split digit><class><patient:04d>``, unique across splits.
        slice_number: position of the slice in the patient's scan (0 = apex).
        body_box: ``(xmin, ymin, xmax, ymax)`` of the body, max exclusive.
    """

    class_id: int
    hu: np.ndarray
    image: np.ndarray
    label_map: np.ndarray
    instances: list[tuple[int, np.ndarray]]
    patient_id: str
    slice_number: int
    body_box: tuple[int, int, int, int]


def _split_code(split: str) -> int:
    if split not in SPLIT_CODES:
        raise ConfigError(f"split: expected one of {sorted(SPLIT_CODES)}, got {split!r}")
    return SPLIT_CODES[split]


def patient_id(class_id: int, patient: int, split: str) -> str:
    """Phantom patient id, prefixed ``PH`` so it is never mistaken for a real one."""
    return f"PH{_split_code(split)}{class_id}{patient:04d}"


def class_of_phantom_file(name: str) -> int | None:
    """The image class of a phantom slice from its file name (``<patient_id>_<slice>.png``
    or ``<prefix>_<patient_id>_0_<slice>.png``, see :func:`patient_id`); ``None`` when
    the name holds no phantom patient id."""
    match = re.search(r"PH\d(\d)\d{4}", name.replace("\\", "/").rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def phantom_class_name(name: str) -> str | None:
    """The image class name (``IMAGE_CLASS_NAMES``) of :func:`class_of_phantom_file`."""
    class_id = class_of_phantom_file(name)
    return None if class_id is None else IMAGE_CLASS_NAMES[class_id]


def _rng(seed: int, split: str, class_id: int, number: int, stream: int) -> np.random.Generator:
    """Independent generator per (seed, split, class, patient-or-slice, stream)."""
    split_key = int.from_bytes(hashlib.sha256(split.encode()).digest()[:4], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, split_key, class_id, number, stream]))


def _scanner(hu: np.ndarray, noise_hu: float, rng: np.random.Generator) -> np.ndarray:
    """Scanner point-spread blur and mildly correlated quantum noise."""
    scale = hu.shape[0] / 512.0
    if 0.7 * scale >= 0.3:
        hu = ndimage.gaussian_filter(hu, 0.7 * scale)
    if noise_hu > 0:
        noise = ndimage.gaussian_filter(rng.standard_normal(hu.shape, dtype=np.float32), 0.6)
        hu = hu + noise * (noise_hu / (float(noise.std()) + 1e-6))
    return np.maximum(hu, _HU_FLOOR).astype(np.float32)


def _components(label_map: np.ndarray, value: int, min_area: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Masks of the components of ``value`` larger than ``min_area`` (8-connectivity,
    raster order) and a mask of the smaller ones."""
    components = connected_components(label_map == value, connectivity=2)
    areas = np.bincount(components.ravel())
    areas[0] = 0
    small = (areas > 0) & (areas <= min_area)
    large = [components == i for i in np.flatnonzero(areas > min_area)]
    return large, small[components]


def label_map_instances(label_map: np.ndarray, min_area: int) -> list[tuple[int, np.ndarray]]:
    """Connected components (8-connectivity) of labels 1, 2, 3 with more than ``min_area``
    pixels, as ``(label, bool mask)``; the same rule the CNCB loader applies."""
    return [
        (value, mask)
        for value in (LABEL_LUNG, LABEL_GGO, LABEL_CONSOLIDATION)
        for mask in _components(label_map, value, min_area)[0]
    ]


def _label_map_and_instances(
    lungs: np.ndarray, ggo: np.ndarray, consolidation: np.ndarray, min_area: int
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """Label map (lung field 1, GGO 2, consolidation 3; lesions override lung) and its
    instances. Lesion fragments too small to be instances revert to lung, then tiny
    lung fragments to background, so every labelled pixel belongs to an instance."""
    label_map = np.zeros(lungs.shape, dtype=np.uint8)
    label_map[lungs] = LABEL_LUNG
    label_map[ggo] = LABEL_GGO
    label_map[consolidation] = LABEL_CONSOLIDATION
    found: dict[int, list[np.ndarray]] = {}
    for value, fallback in ((LABEL_CONSOLIDATION, LABEL_LUNG), (LABEL_GGO, LABEL_LUNG), (LABEL_LUNG, LABEL_BACKGROUND)):
        found[value], small = _components(label_map, value, min_area)
        label_map[small] = fallback
    instances = [(value, mask) for value in (LABEL_LUNG, LABEL_GGO, LABEL_CONSOLIDATION) for mask in found[value]]
    return label_map, instances


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def generate_slice(
    class_id: int,
    index: int,
    *,
    config: PhantomConfig = DEFAULT_PHANTOM_CONFIG,
    seed: int = 0,
    split: str = "train",
    with_lesions: bool = True,
) -> PhantomSlice:
    """Slice ``index`` of class ``class_id`` in ``split``.

    Slices ``index // config.slices_per_patient`` share one patient (anatomy and disease
    profile); the result depends only on ``(class_id, index, config, seed, split)``,
    never on which other slices were generated. ``with_lesions=False`` draws the same
    patient's slice without its lesions: the control that shows the classes differ only
    through the lesions (``tests/test_phantom.py``).
    """
    if class_id not in range(len(IMAGE_CLASS_NAMES)):
        expected = ", ".join(f"{code} ({name})" for code, name in enumerate(IMAGE_CLASS_NAMES))
        raise ConfigError(f"class_id: expected one of {expected}, got {class_id}")
    if index < 0:
        raise ConfigError(f"index: must be >= 0, got {index}")
    patient, k = divmod(index, config.slices_per_patient)
    pid = patient_id(class_id, patient, split)
    patient_rng = _rng(seed, split, class_id, patient, 0)
    anatomy_params = sample_anatomy(patient_rng, config.slices_per_patient)
    profile = sample_profile(class_id, patient_rng, config)
    slice_rng = _rng(seed, split, class_id, index, 1)
    anatomy = render_anatomy(anatomy_params, k, config.image_size, slice_rng)
    lesions = draw_lesions(class_id if with_lesions else 0, profile, anatomy, slice_rng, config)
    hu = _scanner(anatomy.hu, config.noise_hu, slice_rng)
    lungs = anatomy.lungs[0] | anatomy.lungs[1]
    label_map, instances = _label_map_and_instances(lungs, lesions.ggo, lesions.consolidation, config.min_area())
    return PhantomSlice(
        class_id=class_id,
        hu=hu,
        image=hu_to_covidx_uint8(hu),
        label_map=label_map,
        instances=instances,
        patient_id=pid,
        slice_number=scan_slice_number(anatomy_params, k),
        body_box=_box(anatomy.body),
    )
