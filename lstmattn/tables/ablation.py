"""The ablation tables (chapter 5): one-shot model variants against the default run.

Two families: each variant of :data:`lstmattn.variants.ABLATIONS` changes one setting of
the default one-shot run from the paper's description to the authors' published code
(numbered as the book's page "The authors' code" numbers them: ``Ablation.item``); each of :data:`lstmattn.variants.IDEAS` takes one of the
paper's own ideas out of the model. A table shows F1 (Eq. 13), COVID-19 sensitivity
(Eq. 11) and mask AP@0.5 (§4.2), each with Δ = variant − default of the same seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lstmattn.results import RunResults, read_runs
from lstmattn.tables.banner import banner
from lstmattn.tables.format import NOT_RUN, is_missing
from lstmattn.labels import ONE_SHOT
from lstmattn.tables.result import TableResult
from lstmattn.tables.rows import Row, classification_values, frame, run_meta, segmentation_values, used_runs
from lstmattn.variants import ABLATIONS, Ablation, IdeaAblation, ablation

__all__ = ["ablation_table", "seed_noise_summary", "effects_beyond_noise"]

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


_Variant = str | Ablation | IdeaAblation

#: Per family: table name, title, and the note that says what a variant is.
_FAMILIES = {
    "differences": ("ablations", "Ablations: paper vs reference code",
                    "Each variant changes one setting of the default run from the paper's description to the authors' "
                    "published code (or to §3's reading where §4 reports another)"),
    "ideas": ("ablation_ideas", "Ablations: the paper's ideas taken out",
              "Each variant takes one of the paper's own ideas out of the default run and trains it at the same "
              "budget"),
}


def _known(variant: _Variant) -> Ablation | IdeaAblation | None:
    return variant if isinstance(variant, (Ablation, IdeaAblation)) else ablation(variant)


def _family(variants: Sequence[_Variant]) -> str:
    """``"ideas"`` when every variant is one of the paper's ideas taken out, else ``"differences"``."""
    known = [_known(variant) for variant in variants]
    return "ideas" if known and all(isinstance(k, IdeaAblation) for k in known) else "differences"


def _description(variant: _Variant) -> tuple[str, str]:
    """(name, description) of a variant; unknown names have no description."""
    known = _known(variant)
    if known is None:
        return str(variant), ""
    if isinstance(known, IdeaAblation):
        return known.variant, f"instead of {known.idea}: {known.instead}"
    if known.default:  # the default is §4's reported model; the variant is §3's reading
        return known.variant, (f"variant: {known.paper}; default: {known.default} (code: {known.code}; "
                               f"{_code_difference(known.item)})")
    return known.variant, f"code: {known.code} (paper: {known.paper}; {_code_difference(known.item)})"


def _code_difference(item: int) -> str:
    """Where the book describes code difference ``item``: its page "The authors' code"."""
    return f"code difference {item} on the page 'The authors' code'"


def ablation_table(
    runs_root: str | Path,
    profile: str = "quick",
    variants: Sequence[_Variant] | None = None,
    *,
    model: str = ONE_SHOT,
    ap_variant: str = "per_image/all_classes",
    seed: int | Sequence[int] | None = None,
) -> TableResult:
    """Named variants of ``model`` (``identity.variant`` of their runs) against its default
    run: F1, COVID-19 sensitivity and AP@0.5, each with Δ vs the default of the same seed.

    ``variants`` defaults to the 'paper vs reference code' ablations of
    :data:`lstmattn.variants.ABLATIONS`; :data:`lstmattn.variants.IDEAS` gives the table of
    the paper's ideas taken out (its own name and title); unknown names are shown without
    description.
    ``seed`` keeps the runs of one seed or of several (one row per run; the repeats
    :func:`seed_noise_summary` compares), ``None`` every run.
    """
    root = Path(runs_root)
    seeds = None if seed is None else {seed} if isinstance(seed, int) else set(seed)
    runs = [run for run in read_runs(root, profile=profile)
            if run.identity.model == model and (seeds is None or run.identity.seed in seeds)]

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

    variants = tuple(variants) if variants is not None else ABLATIONS
    name_of_table, title, lead = _FAMILIES[_family(variants)]
    rows = rows_for("default", None, "profile defaults (paper as written)")
    for variant in variants:
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
        f"{lead}; Δ = variant − default of the same seed.",
        f"F1 and COVID-19 sensitivity in percent with bootstrap 95 % intervals; AP@0.5 as a fraction ({ap_variant}).",
        "A Δ smaller than the width of the intervals is not evidence of an effect, least of all with one seed.",
    )
    table = frame(rows, _COLUMNS, with_paper=False)
    table.insert(2, "variant", [row["variant"] for row in rows])
    return TableResult(name_of_table, f"{title} ({model})", _COLUMNS, _UNITS, table,
                       banner(used_runs(runs, rows, ("default", "variant")), profile, root), notes,
                       reference="default")


def seed_noise_summary(table: TableResult) -> pd.DataFrame:
    """Each arm of an :func:`ablation_table` built over several seeds, against the seed noise.

    One row per arm (the default, then each variant): the seeds it ran with, and per
    metric the mean over those seeds, the range (min–max) and, for a variant, Δ mean =
    variant mean − default mean and whether the effect **exceeds the seed noise**: the
    variant's range and the default's do not overlap (every seed of one arm beats every
    seed of the other). With fewer than two seeds in either arm there is no noise to
    compare with, and the verdict is ``"1 seed"``. The default's own Δ and verdict cells
    are empty. Without any run the summary has its columns and no row.
    """
    runs = table.frame[table.frame["status"].isin(["default", "variant"])]
    default = runs[runs["status"] == "default"]
    decimals = {column: 3 if table.units[column] == "fraction" else 2 for column in table.columns}
    rows = []
    for label, arm in runs.groupby("row", sort=False):
        row: dict[str, object] = {"arm": label, "seeds": ", ".join(str(int(seed)) for seed in sorted(arm["seed"]))}
        for column in table.columns:
            values, base = arm[f"{column} ours"].dropna(), default[f"{column} ours"].dropna()
            places = decimals[column]
            row[f"{column} mean"] = round(float(values.mean()), places) if len(values) else np.nan
            row[f"{column} range"] = f"{values.min():.{places}f}–{values.max():.{places}f}" if len(values) else NOT_RUN
            if label == "default":  # the reference of every Δ: nothing to compare
                row[f"{column} Δ mean"] = row[f"{column} beyond seed noise"] = ""
                continue
            row[f"{column} Δ mean"] = round(float(values.mean() - base.mean()), places) if len(values) and len(base) else np.nan
            if len(values) < 2 or len(base) < 2:
                row[f"{column} beyond seed noise"] = "1 seed"
            else:
                disjoint = values.min() > base.max() or values.max() < base.min()
                row[f"{column} beyond seed noise"] = "yes" if disjoint else "no"
        rows.append(row)
    columns = ["arm", "seeds"] + [f"{column} {part}" for column in table.columns
                                  for part in ("mean", "range", "Δ mean", "beyond seed noise")]
    return pd.DataFrame(rows, columns=columns)


def effects_beyond_noise(summary: pd.DataFrame) -> list[str]:
    """``"<variant> (<metric>)"`` for every cell of a :func:`seed_noise_summary` whose
    verdict is ``"yes"``, in table order."""
    suffix = " beyond seed noise"
    verdicts = [column for column in summary.columns if column.endswith(suffix)]
    return [f"{arm} ({column[: -len(suffix)]})" for arm, row in zip(summary["arm"], summary[verdicts].itertuples(index=False))
            for column, verdict in zip(verdicts, row) if verdict == "yes"]
