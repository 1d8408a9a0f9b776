"""The task's vocabulary, defined once: image classes (§3.8) and segmentation labels (§3.1).

Every layer names classes and lesions through this module; display colours for them
live in :mod:`lstmattn.viz.style`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

__all__ = [
    "IMAGE_CLASS_NAMES",
    "TWO_CLASS_NAMES",
    "class_names_for",
    "LUNG_LABEL",
    "LESION_LABELS",
    "SEGMENTATION_NAMES",
    "LESION_NAMES",
    "ONE_SHOT",
]

IMAGE_CLASS_NAMES: tuple[str, ...] = ("Normal", "CP", "COVID-19")
"""Class order of COVIDx-CT and of the paper's code: 0 Normal, 1 CP, 2 COVID-19."""

TWO_CLASS_NAMES: tuple[str, ...] = ("Negative", "COVID-19")
"""Class order of the two-class task (Table 4, iCTCF): 0 Negative, 1 COVID-19."""


def class_names_for(num_classes: int) -> tuple[str, ...]:
    """The class names of a classifier with ``num_classes`` outputs (3 or 2)."""
    if num_classes == len(IMAGE_CLASS_NAMES):
        return IMAGE_CLASS_NAMES
    if num_classes == len(TWO_CLASS_NAMES):
        return TWO_CLASS_NAMES
    return tuple(f"class {i}" for i in range(num_classes))


LUNG_LABEL = 1
"""Segmentation label of the lung field (CNCB label maps: 0 background, 1 lungs)."""

SEGMENTATION_NAMES: Mapping[int, str] = MappingProxyType({1: "lungs", 2: "GGO", 3: "consolidation"})
"""Instance label → name of the segmentation branch's classes (§3.1)."""

LESION_NAMES: Mapping[str, int] = MappingProxyType({"GGO": 2, "consolidation": 3})
"""Lesion class name → instance label."""

LESION_LABELS: tuple[int, ...] = tuple(LESION_NAMES.values())
"""Instance labels of the lesion classes (GGO, consolidation)."""

ONE_SHOT = "one-shot-lstm-attention"
"""Registry name of the paper's model (:mod:`lstmattn.model.registry`), used wherever a
run, table row or chapter names it."""
