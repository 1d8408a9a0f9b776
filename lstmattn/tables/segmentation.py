"""Table 1 (§4.2): lesion segmentation, mask AP on the segmentation test split.

Our AP values carry their bootstrap 95 % interval over the test slices; a run evaluated
before per-slice scores were kept shows its value with
:data:`~lstmattn.tables.format.NO_INTERVAL_MARK` instead. :func:`estimate_cells` and
:func:`interval_note` do the same for chapter 7's segmentation table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from lstmattn.errors import LstmattnError
from lstmattn.labels import LESION_NAMES, SEGMENTATION_NAMES
from lstmattn.results import AP_VARIANTS, Estimate, RunResults, SegmentationResult, read_runs
from lstmattn.tables.banner import banner
from lstmattn.tables.paper_values import TABLE1
from lstmattn.tables.result import NO_INTERVAL, TableResult
from lstmattn.tables.rows import Row, frame, paper_table_rows, used_runs

__all__ = ["table1", "estimate_cells", "interval_note"]


def estimate_cells(column: str, estimate: Estimate, result: SegmentationResult) -> Row:
    """``<column> ours/low/high`` of ``estimate`` (a value of ``result``) and
    ``<column> no interval``: whether ``result`` predates intervals, so that the value is
    printed without one, marked."""
    return {f"{column} ours": estimate.estimate, f"{column} low": estimate.low, f"{column} high": estimate.high,
            f"{column} {NO_INTERVAL}": not result.has_intervals}


def interval_note(results: Iterable[SegmentationResult]) -> tuple[str, ...]:
    """The note on our intervals, with the confidence and resamples the ``results`` used;
    none when no result has intervals."""
    settings = sorted({(estimate.confidence, result.n_resamples) for result in results if result.has_intervals
                       for groups in (result.ap_intervals, result.dice_intervals)
                       for estimates in groups.values() for estimate in estimates.values()})
    if not settings:
        return ()
    how = "; ".join(f"{confidence * 100:g} %, {n_resamples:,} resamples" for confidence, n_resamples in settings)
    return (f"Ours: bootstrap percentile intervals over the test slices ({how}) in brackets: each resample draws "
            "as many slices as the test split has, with replacement.",)


def table1(runs_root: str | Path, profile: str = "quick", *, ap_variant: str = "per_image/all_classes",
           seed: int | None = None) -> TableResult:
    """Table 1 (§4.2): mask AP@0.5, AP@0.75 and AP@[0.5:0.95] on the segmentation test
    split, with bootstrap intervals over the test slices.

    ``ap_variant`` is one of :data:`lstmattn.results.AP_VARIANTS`: per-image (the
    authors' template) or data-set-level AP, over all classes or the lesion classes only.
    """
    if ap_variant not in AP_VARIANTS:
        raise LstmattnError(f"ap_variant must be one of {AP_VARIANTS}, got {ap_variant!r}")
    root = Path(runs_root)
    runs = read_runs(root, profile=profile, seed=seed)

    def extract(run: RunResults) -> tuple[Row, int] | None:
        result = run.segmentation
        if result is None:
            return None
        values: Row = {}
        for column in TABLE1.columns:
            values.update(estimate_cells(column, result.ap_estimate(ap_variant, column), result))
        return values, result.n

    rows = paper_table_rows(TABLE1, runs, extract)
    used = used_runs(runs, rows)
    aggregation, scope = ap_variant.split("/")
    how = ("AP per test image, averaged over images (VOC all-point, the authors' template)" if aggregation == "per_image"
           else "AP over the pooled test set, per class")
    which = (f"all classes ({', '.join(SEGMENTATION_NAMES.values())})" if scope == "all_classes"
             else f"lesion classes only ({', '.join(LESION_NAMES)})")
    notes = (f"AP variant: {ap_variant}: {how}; {which}.",
             *interval_note(run.segmentation for run in used if run.segmentation is not None), *TABLE1.notes)
    return TableResult(TABLE1.name, f"{TABLE1.title} [{ap_variant}]", TABLE1.columns,
                       {column: TABLE1.unit for column in TABLE1.columns}, frame(rows, TABLE1.columns),
                       banner(used, profile, root), notes)
