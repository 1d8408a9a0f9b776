"""The paper's claims against our runs, with the seed spread in view (the closing
statements of chapters 3 and 4).

A claim compares two models on one metric over the seeds each was trained with (every
evaluated run of the profile, whatever its seed, default variant only). The verdict uses
the same rule as chapter 5's seed-noise summary: one model is ahead **beyond the seed
noise** only when the two ranges (min–max over seeds) are disjoint; overlapping ranges
mean this profile cannot tell them apart. With a single run on both sides there is no
noise estimate at all, and the verdict says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from lstmattn.results import RunResults, read_runs
from lstmattn.tables.rows import classification_values, segmentation_values

__all__ = ["ArmValues", "Verdict", "arm_values", "verdict", "compare_sentence", "best_of"]

Verdict = Literal["ahead", "behind", "within the seed noise", "one run each", "not run"]

_PERCENT_METRICS = ("F1", "COVID-19")


@dataclass(frozen=True)
class ArmValues:
    """One model's values of ``metric`` over its runs (one per seed, seed order)."""

    model: str
    metric: str
    seeds: tuple[int, ...]
    values: tuple[float, ...]

    @property
    def low(self) -> float:
        return min(self.values) if self.values else np.nan

    @property
    def high(self) -> float:
        return max(self.values) if self.values else np.nan

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else np.nan

    def describe(self, decimals: int) -> str:
        """``0.612 (0.481–0.642, 3 seeds)``, ``94.10 (1 seed)`` or ``not run``."""
        if not self.values:
            return "not run"
        if len(self.values) == 1:
            return f"{self.values[0]:.{decimals}f} (1 seed)"
        return f"{self.mean:.{decimals}f} ({self.low:.{decimals}f}–{self.high:.{decimals}f}, {len(self.values)} seeds)"


def _value(run: RunResults, metric: str, ap_variant: str) -> float:
    if metric in _PERCENT_METRICS:
        test = run.classification.get("test")
        return np.nan if test is None else float(classification_values(test, (metric,), "f1")[f"{metric} ours"])
    if run.segmentation is None:
        return np.nan
    return float(segmentation_values(run.segmentation, (metric,), ap_variant)[f"{metric} ours"])


def arm_values(runs_root: str | Path, profile: str, model: str, metric: str, *,
               seeds: Sequence[int] | None = None, ap_variant: str = "per_image/all_classes") -> ArmValues:
    """``metric`` (``F1``, ``COVID-19`` in percent; ``AP@0.5`` etc. as fractions of
    ``ap_variant``) of every default-variant run of ``model`` under ``runs_root`` (of
    ``seeds`` only, when given)."""
    pairs = sorted((run.identity.seed, _value(run, metric, ap_variant)) for run in read_runs(runs_root, profile=profile)
                   if run.identity.model == model and run.identity.variant is None
                   and (seeds is None or run.identity.seed in seeds))
    pairs = [(seed, value) for seed, value in pairs if not np.isnan(value)]
    return ArmValues(model, metric, tuple(seed for seed, _ in pairs), tuple(value for _, value in pairs))


def verdict(ours: ArmValues, other: ArmValues) -> Verdict:
    """Whether ``ours`` is ahead of / behind ``other`` beyond the seed noise (disjoint
    ranges), within it, or cannot be judged (one run on each side, or none)."""
    if not ours.values or not other.values:
        return "not run"
    if ours.low > other.high:
        return "ahead" if len(ours.values) + len(other.values) > 2 else "one run each"
    if ours.high < other.low:
        return "behind" if len(ours.values) + len(other.values) > 2 else "one run each"
    return "within the seed noise"


def compare_sentence(ours: ArmValues, other: ArmValues, decimals: int) -> str:
    """A plain sentence: both arms' values and the :func:`verdict`."""
    judged = verdict(ours, other)
    head = f"{ours.model} {ours.describe(decimals)} against {other.model} {other.describe(decimals)}"
    if judged == "not run":
        return f"{head}: a model was not run, so there is nothing to conclude."
    if judged == "one run each":
        return f"{head}: one run each, so the seed noise is unknown and the difference proves nothing."
    if judged == "within the seed noise":
        return f"{head}: the ranges overlap, so this profile cannot tell the two apart."
    return f"{head}: {ours.model} is {judged} beyond the seed noise (the ranges do not overlap)."


def best_of(arms: Sequence[ArmValues]) -> ArmValues | None:
    """The arm with the highest mean (``None`` when no arm was run)."""
    ran = [arm for arm in arms if arm.values]
    return max(ran, key=lambda arm: arm.mean) if ran else None
