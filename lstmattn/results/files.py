"""Where a run folder keeps its files, and how one JSON file of them is read.

Layout written by the engine (``lstmattn.engine.runs`` and ``lstmattn.engine.results``)::

    runs/<run-id>/
      record.json                    identity, git commit, creation time, ...
      config.yaml                    the resolved ExperimentConfig
      results/<split>_metrics.json   §4.3 metrics with bootstrap intervals, confusion matrix
      results/<split>_predictions.csv one row per slice
      results/segmentation_test.json §4.2 mask AP (Table 1) and semantic Dice, with bootstrap
                                     intervals over the slices (files written since
                                     per-slice scores are kept)
      results/segmentation_test_slices.json.gz the per-slice scores those come from
      results/segmentation_<split>.json the same for another segmentation split
                                     (``lstmattn evaluate RUN --data FOLDER``)

Every reading error is a :class:`~lstmattn.errors.DataError` whose message starts with
the offending file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from lstmattn.errors import DataError

__all__ = [
    "RECORD_FILE",
    "CONFIG_FILE",
    "LOG_FILE",
    "RESULTS_FOLDER",
    "METRICS_SUFFIX",
    "PREDICTIONS_SUFFIX",
    "SEGMENTATION_FILE",
    "SEGMENTATION_PREFIX",
    "read_json_object",
    "require",
    "as_float",
]

RECORD_FILE = "record.json"
CONFIG_FILE = "config.yaml"
LOG_FILE = "log.jsonl"
RESULTS_FOLDER = "results"
METRICS_SUFFIX = "_metrics.json"
PREDICTIONS_SUFFIX = "_predictions.csv"
SEGMENTATION_FILE = "segmentation_test.json"
SEGMENTATION_PREFIX = "segmentation_"


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`DataError` when it is missing, not JSON or
    not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"cannot read JSON ({error})") from error
    if not isinstance(data, dict):
        raise DataError(path, "must hold a JSON object")
    return data


def require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    """``data[key]``, checked to be of ``kind``; :class:`DataError` naming ``path`` otherwise."""
    if key not in data:
        raise DataError(path, f"no {key!r} key")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise DataError(path, f"{key!r} must be {_kind_name(kind)}, got {type(value).__name__}")
    return value


def as_float(value: Any, path: Path, what: str) -> float:
    """A JSON number (``null`` → NaN) as float; :class:`DataError` naming ``path`` otherwise."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(path, f"{what} must be a number, got {value!r}")
    return float(value)


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _kinds(kind))
