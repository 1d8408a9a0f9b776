"""Table rows from run results: the paper's cells beside ours, Δ, and the run columns.

Every builder turns its runs into row dicts with these helpers and then into the
numeric frame of a :class:`~lstmattn.tables.result.TableResult` with :func:`frame`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from lstmattn.results import ClassificationResult, Estimate, RunResults, SegmentationResult
from lstmattn.tables.banner import COMMIT_LENGTH
from lstmattn.tables.format import NOT_RUN, QUOTED_NOT_RERUN, is_missing
from lstmattn.tables.paper_values import THIS_PAPER, PaperRow, PaperTable
from lstmattn.tables.result import META_COLUMNS, NO_INTERVAL

__all__ = [
    "Row",
    "Extract",
    "run_meta",
    "classification_values",
    "segmentation_values",
    "paper_table_rows",
    "used_runs",
    "frame",
]

Row = dict[str, Any]
"""One table row before it becomes a frame row."""

Extract = Callable[[RunResults], tuple[Row, int] | None]
"""A run → (its metric values for the row, slices evaluated), or ``None`` when the run
has no result for the table."""

_NO_ESTIMATE = Estimate(np.nan, np.nan, np.nan)


def run_meta(run: RunResults | None, n: int | None = None) -> Row:
    """The run columns of a row (all ``None`` without a run)."""
    if run is None:
        return {key: None for key in META_COLUMNS}
    return {"run_id": run.run_id, "profile": run.identity.profile, "data": run.identity.data,
            "seed": run.identity.seed, "commit": run.commit[:COMMIT_LENGTH], "n": n, "provenance": run.source_label}


def _metric_name(column: str, class_names: Sequence[str], f1_metric: str) -> str:
    """The metric of a Table 2-4 column: per-class sensitivity (Eq. 11), ``f1_metric``
    (Eq. 13) or the paper's overall sensitivity / precision. The Negative column is the
    Normal class of three-class data."""
    if column == "F1":
        return f1_metric
    if column in ("Sensitivity", "Precision"):
        return column.lower()
    if column == "Negative":
        return "sensitivity/" + ("Negative" if "Negative" in class_names else "Normal")
    return f"sensitivity/{column}"


def classification_values(result: ClassificationResult, columns: Sequence[str], f1_metric: str) -> Row:
    """``<column> ours/low/high`` in percent for the Table 2-4 ``columns``; NaN where the
    result lacks the metric."""
    values: Row = {}
    for column in columns:
        estimate = result.metric(_metric_name(column, result.class_names, f1_metric)) or _NO_ESTIMATE
        percent = estimate.scaled(100.0)
        values.update({f"{column} ours": percent.estimate, f"{column} low": percent.low, f"{column} high": percent.high})
    return values


def segmentation_values(result: SegmentationResult, columns: Sequence[str], ap_variant: str) -> Row:
    """``<column> ours`` (AP fractions of ``ap_variant``) for the AP ``columns``, without
    interval (the ablation table and the claims compare point values across seeds; Tables
    1 and chapter 7's show intervals: :func:`lstmattn.tables.segmentation.estimate_cells`)."""
    ap = result.ap_of(ap_variant)
    values: Row = {}
    for column in columns:
        values[f"{column} ours"] = ap.get(column, np.nan)
        values[f"{column} low"] = values[f"{column} high"] = np.nan
    return values


def _paper_cells(row: PaperRow, columns: Sequence[str]) -> Row:
    values: Row = {}
    for column in columns:
        cell = row.cell(column)
        values[f"{column} paper"] = cell.value if cell else np.nan
        values[f"{column} paper text"] = cell.text if cell else ""
        values[f"{column} paper uncertain"] = bool(cell and cell.uncertain)
        values[f"{column} paper note"] = cell.note if cell else ""
    return values


def _delta(row: Row, column: str) -> float:
    """Δ = ours − paper; NaN against an uncertain paper cell or a missing value."""
    if row.get(f"{column} paper uncertain"):
        return np.nan
    ours, paper = row.get(f"{column} ours", np.nan), row.get(f"{column} paper", np.nan)
    return np.nan if is_missing(ours) or is_missing(paper) else float(ours - paper)


def is_paper_data(run: RunResults, paper: PaperTable) -> bool:
    """Whether ``run`` was trained and tested on the data the paper measured ``paper`` on,
    for that table's task, so that Δ = ours − paper means something: its classification
    source for Tables 2-4 (COVIDx CT-1; iCTCF for Table 4), its segmentation source for
    Table 1 (CNCB), whatever the other task's data were; never on phantoms."""
    source = run.identity.segmentation_source if paper.task == "segmentation" else run.identity.source
    return not run.identity.is_phantom and source in paper.data_sources


def paper_table_rows(paper: PaperTable, runs: Sequence[RunResults], extract: Extract, *,
                     missing_status: str = NOT_RUN, variants: Sequence[str | None] = (None,)) -> list[Row]:
    """Rows in the paper's order: one per run of a row's model (default runs, or runs of
    the given ``variants``) that ``extract`` finds a result in, ``missing_status`` when
    there is none, ``quoted`` for rows without a model of ours (their source: the paper
    row's, or "quoted, not re-run" for the paper's own rows). Δ = ours − paper only
    for runs on the data of ``paper`` (:func:`is_paper_data`); other rows show both
    values side by side, without Δ."""
    rows = []
    for paper_row in paper.rows:
        base = {"row": paper_row.label, "model": paper_row.model, **_paper_cells(paper_row, paper.columns)}
        if paper_row.model is None:
            source = QUOTED_NOT_RERUN if paper_row.source == THIS_PAPER else paper_row.source
            rows.append({**base, "source": source, "status": "quoted", **run_meta(None)})
            continue
        found = [(run, extract(run)) for run in runs
                 if run.identity.model == paper_row.model and run.identity.variant in variants]
        evaluated = [(run, extracted) for run, extracted in found if extracted is not None]
        if not evaluated:
            rows.append({**base, "source": paper_row.source, "status": missing_status, **run_meta(None)})
        for run, (values, n) in evaluated:
            rows.append({**base, "source": paper_row.source, "status": "evaluated", "paper_data": is_paper_data(run, paper),
                         **run_meta(run, n), **values})
    for row in rows:
        for column in paper.columns:
            comparable = row["status"] == "evaluated" and row.get("paper_data", False)
            row[f"{column} Δ"] = _delta(row, column) if comparable else np.nan
    return rows


def used_runs(runs: Sequence[RunResults], rows: Sequence[Row], statuses: Sequence[str] = ("evaluated",)) -> list[RunResults]:
    """The runs that fill a row of one of the ``statuses`` (for the banner)."""
    used = {row["run_id"] for row in rows if row["status"] in statuses}
    return [run for run in runs if run.run_id in used]


def frame(rows: Sequence[Row], columns: Sequence[str], *, with_paper: bool = True) -> pd.DataFrame:
    """The numeric frame of a table (column order of :class:`TableResult`); ``M no
    interval`` only for the columns whose rows say it."""
    ordered = ["row", "model", "source", "status", "paper_data", *META_COLUMNS]
    for column in columns:
        if with_paper:
            ordered += [f"{column} paper", f"{column} paper text", f"{column} paper uncertain", f"{column} paper note"]
        ordered += [f"{column} ours", f"{column} low", f"{column} high", f"{column} Δ"]
        flag = f"{column} {NO_INTERVAL}"
        if any(flag in row for row in rows):
            ordered.append(flag)
    result = pd.DataFrame(list(rows)).reindex(columns=ordered)
    for key in ("seed", "n"):
        result[key] = pd.to_numeric(result[key], errors="coerce").astype("Int64")
    return result
