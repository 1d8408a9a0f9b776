"""The segmentation result file, ``results/segmentation_test.json``, as typed values.

It holds the §4.2 mask AP of Table 1 at IoU 0.5, 0.75 and [0.5:0.95] in four variants
(per image or over the pooled data set; all classes or the lesion classes only) and the
semantic Dice of the lesion classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from lstmattn.errors import DataError, LstmattnError
from lstmattn.results.files import as_float, require

__all__ = ["AP_VARIANTS", "SegmentationResult", "parse_segmentation"]

AP_VARIANTS: tuple[str, ...] = ("per_image/all_classes", "per_image/lesions", "dataset/all_classes", "dataset/lesions")
"""The mask-AP variants the evaluation writes, ``<aggregation>/<scope>``."""

@dataclass(frozen=True)
class SegmentationResult:
    """§4.2 mask AP and Dice of one evaluated segmentation split.

    Attributes:
        split: ``"segmentation_test"``.
        n: number of evaluated slices.
        ap: AP variant (:data:`AP_VARIANTS`) → ``"AP@0.5"`` / ``"AP@0.75"`` / ``"AP@[0.5:0.95]"`` → AP as a
            fraction (NaN where the file has ``null``).
        dice: ``"dataset"`` / ``"mean_per_image"`` → lesion class → semantic Dice
            (see :class:`lstmattn.metrics.DiceResult`); empty when the file has none.
        path: the file it was read from.
    """

    split: str
    n: int
    ap: Mapping[str, Mapping[str, float]]
    dice: Mapping[str, Mapping[str, float]]
    path: Path

    def ap_of(self, variant: str) -> Mapping[str, float]:
        """The AP values of ``variant``; :class:`LstmattnError` naming the file and the
        known variants when it has none."""
        if variant not in self.ap:
            raise LstmattnError(f"{self.path}: no AP variant {variant!r}; known: {sorted(self.ap)}")
        return self.ap[variant]


def _numbers(values: Any, path: Path, what: str) -> Mapping[str, float]:
    if not isinstance(values, dict):
        raise DataError(path, f"{what} must be an object of numbers")
    return MappingProxyType({str(key): as_float(value, path, f"{what} {key}") for key, value in values.items()})


def parse_segmentation(data: Mapping[str, Any], path: Path) -> SegmentationResult:
    """The :class:`SegmentationResult` in the parsed ``segmentation_test.json`` at ``path``."""
    ap = {str(variant): _numbers(values, path, f"AP {variant}") for variant, values in require(data, "ap", dict, path).items()}
    dice = data.get("dice") or {}
    if not isinstance(dice, dict):
        raise DataError(path, "'dice' must be an object")
    return SegmentationResult(
        str(data.get("split", "segmentation_test")),
        require(data, "n", int, path),
        MappingProxyType(ap),
        MappingProxyType({str(kind): _numbers(values, path, f"Dice {kind}") for kind, values in dice.items()}),
        path,
    )
