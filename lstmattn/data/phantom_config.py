"""Knobs of the synthetic CT phantoms: image size, noise and the lesion difficulty.

The defaults aim at a three-class task (Normal / CP / COVID-19) that a small CNN learns
to roughly 80–95 % accuracy: the classes differ in lesion *pattern* (distribution,
density, shape), and a tunable share of slices borrows the other class's pattern or
shows only small, faint lesions.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from lstmattn.errors import ConfigError

__all__ = [
    "PHANTOM_GENERATOR_VERSION",
    "PhantomConfig",
    "DEFAULT_PHANTOM_CONFIG",
]

#: Bumped whenever the pixels a given config and seed produce change.
PHANTOM_GENERATOR_VERSION: int = 2

_PROBABILITIES = (
    "faint_lesion_prob",
    "overlap_prob",
    "covid_bilateral_prob",
    "cp_bilateral_prob",
)
_POSITIVE = ("lesion_contrast", "lesion_size", "lesion_count")


@dataclass(frozen=True)
class PhantomConfig:
    """Generator settings; every field is serialised into ``phantom.yaml``.

    Args:
        image_size: side of the square slice in pixels; anatomy scales with it.
        slices_per_patient: consecutive slices drawn from one phantom "patient"
            (shared anatomy and disease profile, neighbouring slice levels).
        noise_hu: standard deviation of the (slightly correlated) CT noise in HU.
        lesion_contrast: multiplies each lesion's attenuation rise over the lung.
        lesion_size: multiplies lesion radii.
        lesion_count: multiplies the expected number of COVID-19 patches.
        faint_lesion_prob: share of diseased slices whose lesions are small and faint.
        overlap_prob: share of diseased slices with the *other* class's features
            (CP with peripheral GGO; COVID-19 with a single or central lesion).
        covid_bilateral_prob: share of COVID-19 patients with lesions in both lungs.
        cp_bilateral_prob: share of CP patients with lesions in both lungs.
        min_instance_area: at 512 px, components of at most this many pixels are not
            instances (the reference code's ``area <= 100``); scaled by
            ``(image_size / 512) ** 2`` for other sizes, see :meth:`min_area`.
    """

    image_size: int = 512
    slices_per_patient: int = 4
    noise_hu: float = 18.0
    lesion_contrast: float = 1.0
    lesion_size: float = 1.0
    lesion_count: float = 1.0
    faint_lesion_prob: float = 0.15
    overlap_prob: float = 0.2
    covid_bilateral_prob: float = 0.8
    cp_bilateral_prob: float = 0.2
    min_instance_area: int = 100

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, image_size: int) -> "PhantomConfig":
        """The generator settings of a run: ``data.phantom_options`` (the difficulty
        knobs) at the model's ``image_size``; an unknown knob is a one-line error."""
        known = [f.name for f in fields(cls) if f.name != "image_size"]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(f"data.phantom_options: unknown setting(s) {unknown}; known: {known}")
        return cls(**{**options, "image_size": image_size})

    def __post_init__(self) -> None:
        if not 64 <= self.image_size <= 2048:
            raise ConfigError(f"image_size: must be in [64, 2048], got {self.image_size}")
        if self.slices_per_patient < 1:
            raise ConfigError(f"slices_per_patient: must be >= 1, got {self.slices_per_patient}")
        if self.min_instance_area < 0:
            raise ConfigError(f"min_instance_area: must be >= 0, got {self.min_instance_area}")
        for name in _PROBABILITIES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}: must be a probability in [0, 1], got {getattr(self, name)}")
        if self.noise_hu < 0.0:
            raise ConfigError(f"noise_hu: must be >= 0, got {self.noise_hu}")
        for name in _POSITIVE:
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"{name}: must be positive, got {getattr(self, name)}")

    def min_area(self) -> int:
        """Instance area threshold at this ``image_size`` (components ``<=`` it are dropped)."""
        return int(round(self.min_instance_area * (self.image_size / 512) ** 2))

    def as_dict(self) -> dict[str, int | float]:
        """Plain field → value mapping (for YAML)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: The named default: 512 px slices, moderate noise, 20 % class overlap.
DEFAULT_PHANTOM_CONFIG = PhantomConfig()
