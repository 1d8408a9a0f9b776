"""Chapter 7's tables: the models on real CT slices, beside results published on that data.

* :func:`real_classification_table`: the two-class test split of the folder-per-class
  SARS-CoV-2 CT-scan slices: per-class sensitivity and precision, F1 (Eq. 13), accuracy
  and ROC AUC, each with its bootstrap 95 % interval, and the F1 of xDNN published on
  the whole set beside ours;
* :func:`real_segmentation_table`: the MedSeg test split: per-class Dice (GGO,
  consolidation), infection Dice (any lesion) and lesion mask AP, each with its
  bootstrap 95 % interval over the test slices (marked as missing for a run evaluated
  before per-slice scores were kept), with Inf-Net's published Dice beside ours.

The published values were measured on other splits under other protocols, so they stand
beside ours and are never subtracted from them: there is no Δ column, the rule the
paper's tables follow for runs on other data than the paper's.

Rows are the default runs of one profile (the real-data profile) whose results exist,
one per model, named as in Tables 1-2; the one-shot model's row is always there
(``not run`` without a run). Both tables state the protocol differences and check the
chapter's targets (:mod:`lstmattn.tables.published_values`) in their notes, with the
measured values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from lstmattn.labels import ONE_SHOT
from lstmattn.metrics import ANY_LESION
from lstmattn.results import Estimate, RunResults, read_runs
from lstmattn.tables.banner import banner
from lstmattn.tables.format import NOT_RUN, format_interval, is_missing
from lstmattn.tables.paper_values import TABLE1, TABLE2, PaperRow, PaperTable
from lstmattn.tables.published_values import (
    CLASSIFICATION_TARGETS,
    MEDSEG_PROTOCOL,
    MEDSEG_PUBLISHED,
    SARSCOV2_PROTOCOL,
    SARSCOV2_PUBLISHED,
    SEGMENTATION_TARGETS,
)
from lstmattn.tables.result import TableResult
from lstmattn.tables.rows import Extract, Row, frame, paper_table_rows, used_runs
from lstmattn.tables.segmentation import estimate_cells, interval_note

__all__ = ["REAL_CLASSIFICATION_COLUMNS", "REAL_SEGMENTATION_COLUMNS", "real_classification_table", "real_segmentation_table"]

#: Column → metric of ``results/test_metrics.json`` (two-class results).
REAL_CLASSIFICATION_COLUMNS: Mapping[str, str] = {
    "Sensitivity COVID-19": "sensitivity/COVID-19",
    "Sensitivity Negative": "sensitivity/Negative",
    "Precision COVID-19": "precision/COVID-19",
    "Precision Negative": "precision/Negative",
    "F1": "f1",
    "Accuracy": "accuracy",
    "AUC": "auc",
}

#: Dice column → lesion class of ``results/segmentation_test.json`` → ``dice`` → ``mean_per_image``.
REAL_SEGMENTATION_COLUMNS: Mapping[str, str] = {
    "GGO Dice": "GGO",
    "Consolidation Dice": "consolidation",
    "Infection Dice": ANY_LESION,
}

_AP_VARIANT = "per_image/lesions"
_AP_COLUMNS = ("AP@0.5", "AP@[0.5:0.95]")
_CLASSIFIER_PREFIX = "classifier-"
_NO_ESTIMATE = Estimate(np.nan, np.nan, np.nan)


_SOURCE = "trained here on real CT"


def _published_table(name: str, title: str, columns: Sequence[str], unit: str, models: Sequence[PaperRow],
                     published: PaperRow) -> PaperTable:
    """A table whose rows are ``models`` (label and model) with ``published``'s cells."""
    rows = tuple(PaperRow(row.label, published.cells, row.model, _SOURCE, row.reference) for row in models)
    return PaperTable(name, title, tuple(columns), rows, unit)


def _published_rows(table: PaperTable, runs: Sequence[RunResults], extract: Extract) -> list[Row]:
    """The rows of ``table``, the published values beside ours and no Δ: they come from
    other splits, other training and (for Inf-Net) another test split, which the notes
    state, so a difference would not measure anything."""
    return paper_table_rows(table, runs, extract, missing_status=NOT_RUN)


def _models(paper: PaperTable, runs: Sequence[RunResults], has_result: Extract) -> list[PaperRow]:
    """The rows of ``paper`` with a default run that has a result, and the one-shot model's."""
    found = {run.identity.model for run in runs if run.identity.variant is None and has_result(run) is not None}
    return [row for row in paper.rows if row.model is not None and (row.model == ONE_SHOT or row.model in found)]


def _target_note(what: str, threshold: float, value: float, unit: str) -> str:
    """``Target: what >= threshold: reached (value).``, or NOT reached."""
    shown = f"{threshold:.2f} %" if unit == "percent" else f"{threshold:.2f}"
    measured = f"{value:.2f} %" if unit == "percent" else f"{value:.3f}"
    if is_missing(value):
        return f"Target: {what} >= {shown}: not measured (no evaluated run)."
    return f"Target: {what} >= {shown}: {'reached' if value >= threshold else 'NOT reached'} (measured {measured})."


def real_classification_table(runs_root: str | Path, profile: str, *, seed: int | None = None) -> TableResult:
    """The two-class test split of the real-data runs of ``profile`` under ``runs_root``:
    per-class sensitivity and precision, F1, accuracy and AUC in percent with bootstrap
    95 % intervals; the published xDNN F1 beside ours (no Δ: another protocol)."""
    root = Path(runs_root)
    runs = read_runs(root, profile=profile, seed=seed)

    def extract(run: RunResults) -> tuple[Row, int] | None:
        test = run.classification.get("test")
        if test is None or not test.is_two_class:
            return None
        values: Row = {}
        for column, metric in REAL_CLASSIFICATION_COLUMNS.items():
            estimate = (test.metric(metric) or _NO_ESTIMATE).scaled(100.0)
            values.update({f"{column} ours": estimate.estimate, f"{column} low": estimate.low, f"{column} high": estimate.high})
        return values, test.n

    columns = tuple(REAL_CLASSIFICATION_COLUMNS)
    table = _published_table("real_classification", "Real CT: two-class test split (SARS-CoV-2 CT-scan slices)", columns,
                             "percent", _models(TABLE2, runs, extract), SARSCOV2_PUBLISHED)
    rows = _published_rows(table, runs, extract)
    result = frame(rows, columns)
    one_shot = result[(result["model"] == ONE_SHOT) & (result["status"] == "evaluated")]
    f1 = float(one_shot["F1 ours"].iloc[0]) if len(one_shot) else np.nan
    classifiers = result[result["model"].fillna("").str.startswith(_CLASSIFIER_PREFIX) & (result["status"] == "evaluated")]
    notes = [
        "Ours: bootstrap 95 % intervals (1,000 resamples) in brackets; F1 is Eq. 13 with the class shares of the test "
        "set; AUC is the ROC AUC of the logit difference COVID-19 − Negative.",
        f"Published beside ours: {SARSCOV2_PUBLISHED.label}, F1 {SARSCOV2_PUBLISHED.cells['F1'].text} %, on the "
        "whole set under its authors' protocol; side by side for context, not subtracted from ours.",
        SARSCOV2_PROTOCOL,
        _target_note("one-shot model F1", CLASSIFICATION_TARGETS["F1"], f1, "percent"),
    ]
    if len(one_shot) and len(classifiers):
        best = classifiers.loc[classifiers["F1 ours"].idxmax()]
        verdict = "reached" if f1 >= best["F1 ours"] else "NOT reached"
        notes.append(f"Target: one-shot model F1 not below the best classifier trained with the same budget "
                     f"({best['row']}, F1 {format_interval(best['F1 ours'], best['F1 low'], best['F1 high'])} %): "
                     f"{verdict} (one-shot {f1:.2f} %).")
    return TableResult(table.name, table.title, columns, {column: "percent" for column in columns}, result,
                       banner(used_runs(runs, rows), profile, root), tuple(notes), available=bool(used_runs(runs, rows)),
                       reference="published")


def real_segmentation_table(runs_root: str | Path, profile: str, *, seed: int | None = None) -> TableResult:
    """The MedSeg test split of the real-data runs of ``profile`` under ``runs_root``: Dice
    of GGO, consolidation and any lesion (mean over slices) and lesion mask AP
    (per image), each with its bootstrap 95 % interval over the test slices; Inf-Net's
    published Dice beside ours (no Δ: another split and protocol)."""
    root = Path(runs_root)
    runs = read_runs(root, profile=profile, seed=seed)

    def extract(run: RunResults) -> tuple[Row, int] | None:
        result = run.segmentation
        if result is None:
            return None
        values: Row = {}
        for column, lesion in REAL_SEGMENTATION_COLUMNS.items():
            values.update(estimate_cells(column, result.dice_estimate("mean_per_image", lesion), result))
        for column in _AP_COLUMNS:
            values.update(estimate_cells(column, result.ap_estimate(_AP_VARIANT, column), result))
        return values, result.n

    columns = (*REAL_SEGMENTATION_COLUMNS, *_AP_COLUMNS)
    table = _published_table("real_segmentation", f"Real CT: MedSeg lesion segmentation test split [{_AP_VARIANT}]",
                             columns, "fraction", _models(TABLE1, runs, extract), MEDSEG_PUBLISHED)
    rows = _published_rows(table, runs, extract)
    result = frame(rows, columns)
    one_shot = result[(result["model"] == ONE_SHOT) & (result["status"] == "evaluated")]
    used = used_runs(runs, rows)
    notes = [
        "Dice: the union of the predicted instances of a class (score >= 0.5) against the union of its true "
        "instances, averaged over the test slices; infection = GGO and consolidation together. AP: mask AP per "
        "test slice over the lesion classes (no lung class in MedSeg), averaged over slices.",
        *interval_note(run.segmentation for run in used if run.segmentation is not None),
        f"Published beside ours: {MEDSEG_PUBLISHED.label}, on its own test split under its authors' protocol; "
        "side by side for context, not subtracted from ours.",
        MEDSEG_PROTOCOL,
        *(_target_note(f"one-shot model {column}", threshold,
                       float(one_shot[f"{column} ours"].iloc[0]) if len(one_shot) else np.nan, "fraction")
          for column, threshold in SEGMENTATION_TARGETS.items()),
    ]
    return TableResult(table.name, table.title, columns, {column: "fraction" for column in columns}, result,
                       banner(used, profile, root), tuple(notes), available=bool(used), reference="published")
