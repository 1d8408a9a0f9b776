"""How the tables print numbers: cell statuses, intervals, Δ and run metadata.

Tables 2-4 are in percent with two decimals and the bootstrap 95 % interval,
``95.10 (93.20–96.80)``; Table 1 and chapter 7's segmentation table as AP and Dice
fractions with three decimals and the bootstrap 95 % interval over the test slices,
``0.605 (0.571–0.640)``, or ``0.605 §`` for a run evaluated before per-slice scores were
kept, which has no interval.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = [
    "NOT_RUN",
    "NOT_AVAILABLE",
    "QUOTED_NOT_RERUN",
    "UNCERTAIN_MARK",
    "INCONSISTENT_MARK",
    "NO_INTERVAL_MARK",
    "DASH",
    "decimals_for",
    "is_missing",
    "format_interval",
    "format_delta",
    "format_plain",
]

NOT_RUN = "not run"
"""Status and cell text of a row whose model has no evaluated run."""

NOT_AVAILABLE = "not available"
"""Status and cell text of a row whose split the data does not have (Table 3)."""

QUOTED_NOT_RERUN = "quoted, not re-run"
"""Source of a paper row with no registered model of ours (e.g. COVID-CT-Mask-Net)."""

UNCERTAIN_MARK = "†"
"""Marks a paper cell whose column assignment is uncertain (no Δ against it)."""

INCONSISTENT_MARK = "‡"
"""Marks a printed paper value that contradicts the other values of its row (the
table's notes say why; :attr:`lstmattn.tables.paper_values.PaperCell.note`)."""

NO_INTERVAL_MARK = "§"
"""Marks a value of ours shown without its interval because its run was evaluated before
the per-slice segmentation scores a bootstrap over slices needs were kept."""

DASH = "–"
"""A cell the paper (or the result file) leaves empty."""


def decimals_for(unit: str) -> int:
    """Printed decimals of a table unit: 2 for ``percent``, 3 for AP ``fraction``."""
    return 2 if unit == "percent" else 3


def is_missing(value: Any) -> bool:
    """``None``, NaN or ``pd.NA``."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def format_interval(estimate: float | None, low: float | None = None, high: float | None = None, *,
                    decimals: int = 2, interval_missing: bool = False) -> str:
    """``95.10 (93.20–96.80)``; just ``95.10`` without an interval, ``95.10 §``
    (:data:`NO_INTERVAL_MARK`) when ``interval_missing`` says the value should have one
    but its run predates it; ``""`` for NaN."""
    if is_missing(estimate):
        return ""
    text = f"{estimate:.{decimals}f}"
    if not (is_missing(low) or is_missing(high)):
        text += f" ({low:.{decimals}f}–{high:.{decimals}f})"
    elif interval_missing:
        text += f" {NO_INTERVAL_MARK}"
    return text


def format_delta(delta: float | None, *, decimals: int = 2) -> str:
    """Signed difference, ``+1.23`` / ``-0.45``; ``""`` for NaN."""
    if is_missing(delta):
        return ""
    return f"{delta:+.{decimals}f}"


def format_plain(value: Any) -> str:
    """Run metadata as text: ``""`` for missing, integers without ``.0``."""
    if is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
