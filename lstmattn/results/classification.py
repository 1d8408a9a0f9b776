"""A classification split's result file, ``results/<split>_metrics.json``, as typed values.

The file holds the §4.3 metrics of one evaluated split (per-class sensitivity, Eq. 11;
precision, Eq. 12; the class-weighted F1 of Eq. 13; the paper's "overall" sensitivity
and precision), each with its bootstrap 95 % interval, and the confusion matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from lstmattn.errors import DataError
from lstmattn.labels import TWO_CLASS_NAMES
from lstmattn.results.files import as_float, require

__all__ = ["Estimate", "ClassificationResult", "parse_classification"]


@dataclass(frozen=True)
class Estimate:
    """A metric's point estimate with its bootstrap percentile interval [low, high].

    Values are fractions as written by the evaluation (``0.9574``); NaN where the file
    has ``null``.
    """

    estimate: float
    low: float
    high: float
    confidence: float = 0.95

    def scaled(self, factor: float) -> Estimate:
        """The same estimate in another unit, e.g. ``scaled(100)`` for percent."""
        return Estimate(self.estimate * factor, self.low * factor, self.high * factor, self.confidence)


@dataclass(frozen=True)
class ClassificationResult:
    """§4.3 metrics of one evaluated classification split.

    Attributes:
        split: ``"test"``, ``"holdout"`` (Table 3), ``"ictcf"`` (Table 4), ...
        n: number of evaluated slices.
        class_names: names of classes 0..C-1 (:mod:`lstmattn.labels`).
        metrics: metric name → :class:`Estimate`; names as
            :class:`lstmattn.metrics.ClassificationReport` defines them (``"f1"``,
            ``"f1_paper_weights"``, ``"sensitivity"``, ``"precision"``, ``"accuracy"``,
            ``"sensitivity/<class>"``, ...).
        confusion: ``C × C`` counts, rows = true class, columns = predicted class.
        path: the file it was read from.
    """

    split: str
    n: int
    class_names: tuple[str, ...]
    metrics: Mapping[str, Estimate]
    confusion: tuple[tuple[int, ...], ...]
    path: Path

    @property
    def is_two_class(self) -> bool:
        """Whether this is a two-class (Negative / COVID-19, Table 4) result."""
        return len(self.class_names) == len(TWO_CLASS_NAMES)

    @property
    def support(self) -> tuple[int, ...]:
        """Slices per true class (the confusion matrix's row sums)."""
        return tuple(sum(row) for row in self.confusion)

    def metric(self, name: str) -> Estimate | None:
        """The metric ``name`` (e.g. ``"f1"``, Eq. 13), or ``None`` when the file lacks it."""
        return self.metrics.get(name)

    def sensitivity(self, class_name: str) -> Estimate | None:
        """Eq. 11: the sensitivity of ``class_name``, or ``None`` when the file lacks it."""
        return self.metrics.get(f"sensitivity/{class_name}")

    def confusion_frame(self) -> pd.DataFrame:
        """The confusion matrix as a frame: index ``true``, columns ``predicted``, class names."""
        frame = pd.DataFrame([list(row) for row in self.confusion], index=list(self.class_names),
                             columns=list(self.class_names))
        frame.index.name, frame.columns.name = "true", "predicted"
        return frame


def _estimate(entry: Any, path: Path, name: str) -> Estimate:
    if not isinstance(entry, dict):
        raise DataError(path, f"metric {name!r} must be an object with estimate, low and high")
    values = [as_float(entry.get(key), path, f"metric {name!r} {key}") for key in ("estimate", "low", "high")]
    confidence = entry.get("confidence")
    return Estimate(*values, confidence=0.95 if confidence is None else as_float(confidence, path, f"metric {name!r} confidence"))


def parse_classification(data: Mapping[str, Any], split: str, path: Path) -> ClassificationResult:
    """The :class:`ClassificationResult` in the parsed ``<split>_metrics.json`` at ``path``."""
    class_names = tuple(str(name) for name in require(data, "class_names", list, path))
    metrics = {str(name): _estimate(entry, path, str(name)) for name, entry in require(data, "metrics", dict, path).items()}
    confusion = require(data, "confusion", list, path)
    size = len(class_names)
    if len(confusion) != size or any(not isinstance(row, list) or len(row) != size for row in confusion):
        raise DataError(path, f"'confusion' must be a {size} × {size} matrix (one row and column per class)")
    try:
        counts = tuple(tuple(int(value) for value in row) for row in confusion)
    except (TypeError, ValueError) as error:
        raise DataError(path, f"'confusion' must hold counts ({error})") from error
    return ClassificationResult(split, require(data, "n", int, path), class_names, MappingProxyType(metrics), counts, path)
