"""The ablation table (chapter 5): paper-vs-reference-code variants against the default run.

Each variant (:data:`lstmattn.variants.ABLATIONS`) changes one setting of the default
one-shot run from the paper's description to the authors' published code
(``REFERENCE_CODE.md`` §6); the table shows F1 (Eq. 13), COVID-19 sensitivity (Eq. 11)
and mask AP@0.5 (§4.2), each with Δ = variant − default of the same seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from lstmattn.results import RunResults, read_runs
from lstmattn.tables.banner import banner
from lstmattn.tables.format import NOT_RUN, is_missing
from lstmattn.labels import ONE_SHOT
from lstmattn.tables.result import TableResult
from lstmattn.tables.rows import Row, classification_values, frame, run_meta, segmentation_values, used_runs
from lstmattn.variants import ABLATIONS, Ablation, ablation

__all__ = ["ablation_table"]

_COLUMNS = ("F1", "COVID-19", "AP@0.5")
_UNITS = {"F1": "percent", "COVID-19": "percent", "AP@0.5": "fraction"}


def _values(run: RunResults, ap_variant: str) -> tuple[Row, int | None]:
    """The run's F1, COVID-19 sensitivity and AP@0.5 (NaN where it has no such result)."""
    values: Row = {f"{column} {suffix}": np.nan for column in _COLUMNS for suffix in ("ours", "low", "high")}
    test = run.classification.get("test")
    if test is not None:
        values.update(classification_values(test, ("F1", "COVID-19"), "f1"))
    if run.segmentation is not None:
        values.update(segmentation_values(run.segmentation, ("AP@0.5",), ap_variant))
    return values, test.n if test is not None else None


def _description(variant: str | Ablation) -> tuple[str, str]:
    """(name, description) of a variant; unknown names have no description."""
    known = variant if isinstance(variant, Ablation) else ablation(variant)
    if known is None:
        return str(variant), ""
    if known.default:  # the default is §4's reported model; the variant is §3's reading
        return known.variant, (f"variant: {known.paper}; default: {known.default} (code: {known.code}; "
                               f"REFERENCE_CODE.md §6 item {known.item})")
    return known.variant, f"code: {known.code} (paper: {known.paper}; REFERENCE_CODE.md §6 item {known.item})"


def ablation_table(
    runs_root: str | Path,
    profile: str = "quick",
    variants: Sequence[str | Ablation] | None = None,
    *,
    model: str = ONE_SHOT,
    ap_variant: str = "per_image/all_classes",
    seed: int | None = None,
) -> TableResult:
    """Named variants of ``model`` (``identity.variant`` of their runs) against its default
    run: F1, COVID-19 sensitivity and AP@0.5, each with Δ vs the default of the same seed.

    ``variants`` defaults to the 'paper vs reference code' ablations of
    :data:`lstmattn.variants.ABLATIONS`; unknown names are shown without description.
    """
    root = Path(runs_root)
    runs = [run for run in read_runs(root, profile=profile, seed=seed) if run.identity.model == model]

    def rows_for(label: str, variant: str | None, description: str) -> list[Row]:
        base = {"row": label, "model": model, "source": description, "variant": variant}
        matched = [run for run in runs if run.identity.variant == variant]
        if not matched:
            return [{**base, "status": NOT_RUN, **run_meta(None)}]
        status = "default" if variant is None else "variant"
        rows = []
        for run in matched:
            values, n = _values(run, ap_variant)
            rows.append({**base, "status": status, **run_meta(run, n), **values})
        return rows

    rows = rows_for("default", None, "profile defaults (paper as written)")
    for variant in variants if variants is not None else ABLATIONS:
        name, description = _description(variant)
        rows += rows_for(name, name, description)
    defaults = {row["seed"]: row for row in rows if row["status"] == "default"}
    for row in rows:
        reference = defaults.get(row["seed"]) if row["status"] == "variant" else None
        for column in _COLUMNS:
            ours = row.get(f"{column} ours", np.nan)
            base_value = reference.get(f"{column} ours", np.nan) if reference else np.nan
            row[f"{column} Δ"] = np.nan if is_missing(ours) or is_missing(base_value) else float(ours - base_value)
    notes = (
        "Each variant changes one setting of the default run from the paper's description to the authors' "
        "published code; Δ = variant − default of the same seed.",
        f"F1 and COVID-19 sensitivity in percent with bootstrap 95 % intervals; AP@0.5 as a fraction ({ap_variant}).",
        "A Δ smaller than the width of the intervals is not evidence of an effect, least of all with one seed.",
    )
    table = frame(rows, _COLUMNS, with_paper=False)
    table.insert(2, "variant", [row["variant"] for row in rows])
    return TableResult("ablations", f"Ablations: paper vs reference code ({model})", _COLUMNS, _UNITS, table,
                       banner(used_runs(runs, rows, ("default", "variant")), profile, root), notes,
                       reference="default")
