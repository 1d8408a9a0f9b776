"""The segmentation result file, ``results/segmentation_test.json``, as typed values.

It holds the §4.2 mask AP of Table 1 at IoU 0.5, 0.75 and [0.5:0.95] in four variants
(per image or over the pooled data set; all classes or the lesion classes only) and the
semantic Dice of the lesion classes; files written since per-slice scores are kept
(``results/segmentation_test_slices.json.gz``) add ``intervals``, a bootstrap 95 %
interval over the test slices for each of those numbers. Files written before have
none: their values read as before, with :attr:`SegmentationResult.has_intervals` False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from lstmattn.errors import DataError, LstmattnError
from lstmattn.results.classification import Estimate
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
        ap_intervals: like ``ap``, each value as an :class:`Estimate` with its bootstrap
            interval over the slices; empty for a file written before per-slice scores.
        dice_intervals: like ``dice``, with intervals; empty likewise.
        n_resamples: the bootstrap resamples of the intervals; ``None`` without intervals.
    """

    split: str
    n: int
    ap: Mapping[str, Mapping[str, float]]
    dice: Mapping[str, Mapping[str, float]]
    path: Path
    ap_intervals: Mapping[str, Mapping[str, Estimate]] = field(default_factory=lambda: MappingProxyType({}))
    dice_intervals: Mapping[str, Mapping[str, Estimate]] = field(default_factory=lambda: MappingProxyType({}))
    n_resamples: int | None = None

    @property
    def has_intervals(self) -> bool:
        """Whether the file carries bootstrap intervals (those written before per-slice
        scores were kept do not)."""
        return self.n_resamples is not None

    def ap_of(self, variant: str) -> Mapping[str, float]:
        """The AP values of ``variant``; :class:`LstmattnError` naming the file and the
        known variants when it has none."""
        if variant not in self.ap:
            raise LstmattnError(f"{self.path}: no AP variant {variant!r}; known: {sorted(self.ap)}")
        return self.ap[variant]

    def ap_estimate(self, variant: str, name: str) -> Estimate:
        """AP ``name`` (``"AP@0.5"``, ``"AP@0.75"``, ``"AP@[0.5:0.95]"``) of ``variant``
        (:meth:`ap_of`) with its bootstrap interval: NaN bounds without one
        (:attr:`has_intervals`), NaN throughout when the file lacks the value."""
        return _with_interval(self.ap_of(variant).get(name, math.nan),
                              self.ap_intervals.get(variant, {}).get(name))

    def dice_estimate(self, kind: str, lesion: str) -> Estimate:
        """Dice of ``lesion`` (``"GGO"``, ``"consolidation"``, ``"any lesion"``), ``kind``
        ``"dataset"`` or ``"mean_per_image"``, with its interval as :meth:`ap_estimate`."""
        return _with_interval(self.dice.get(kind, {}).get(lesion, math.nan),
                              self.dice_intervals.get(kind, {}).get(lesion))


def _with_interval(value: float, interval: Estimate | None) -> Estimate:
    """``value`` with the bounds of ``interval`` (NaN bounds without one)."""
    if interval is None:
        return Estimate(value, math.nan, math.nan)
    return Estimate(value, interval.low, interval.high, interval.confidence)


def _numbers(values: Any, path: Path, what: str) -> Mapping[str, float]:
    if not isinstance(values, dict):
        raise DataError(path, f"{what} must be an object of numbers")
    return MappingProxyType({str(key): as_float(value, path, f"{what} {key}") for key, value in values.items()})


def _estimate(entry: Any, path: Path, what: str) -> Estimate:
    if not isinstance(entry, dict):
        raise DataError(path, f"interval of {what} must be an object with estimate, low and high")
    values = [as_float(entry.get(key), path, f"interval of {what} {key}") for key in ("estimate", "low", "high")]
    return Estimate(*values, confidence=as_float(entry.get("confidence", 0.95), path, f"interval of {what} confidence"))


def _estimates(groups: Any, path: Path, what: str) -> Mapping[str, Mapping[str, Estimate]]:
    """``group → name → interval`` of the ``intervals`` section's ``what`` (``ap``, ``dice``)."""
    if not isinstance(groups, dict) or not all(isinstance(entries, dict) for entries in groups.values()):
        raise DataError(path, f"'intervals' → {what!r} must be an object of objects")
    return MappingProxyType({
        str(group): MappingProxyType({str(name): _estimate(entry, path, f"{what} {group} {name}")
                                      for name, entry in entries.items()})
        for group, entries in groups.items()
    })


def parse_segmentation(data: Mapping[str, Any], path: Path) -> SegmentationResult:
    """The :class:`SegmentationResult` in the parsed ``segmentation_test.json`` at ``path``
    (with or without ``intervals``)."""
    ap = {str(variant): _numbers(values, path, f"AP {variant}") for variant, values in require(data, "ap", dict, path).items()}
    dice = data.get("dice") or {}
    if not isinstance(dice, dict):
        raise DataError(path, "'dice' must be an object")
    result = SegmentationResult(
        str(data.get("split", "segmentation_test")),
        require(data, "n", int, path),
        MappingProxyType(ap),
        MappingProxyType({str(kind): _numbers(values, path, f"Dice {kind}") for kind, values in dice.items()}),
        path,
    )
    if "intervals" not in data:
        return result
    intervals = require(data, "intervals", dict, path)
    return replace(result, ap_intervals=_estimates(intervals.get("ap", {}), path, "ap"),
                   dice_intervals=_estimates(intervals.get("dice", {}), path, "dice"),
                   n_resamples=require(intervals, "n_resamples", int, path))
