"""The paper's Tables 1-4 and the ablation table, built from run result files only.

Every table puts the paper's value, ours and Δ = ours − paper side by side, one row
per model and run (with run id, profile, data set, seed and commit), and carries a
banner that says which data and profile produced it. On synthetic phantom data the
banner says plainly that the numbers are not a reproduction of the paper.

Sources of numbers:

* ours — ``runs/<run-id>/results/*.json`` written by
  :func:`lstmattn.engine.results.evaluate_run` (collected by :func:`collect_results`);
* the paper — :mod:`lstmattn.paper_tables` (uncertain cells flagged with ``†`` and never
  used for Δ; rows quoted from other publications marked as such).

Formats: Tables 2-4 in percent with two decimals and the bootstrap 95 % interval,
``95.10 (93.20–96.80)``; Table 1 as AP fractions with three decimals (the segmentation
result files carry no interval). A run that does not exist is a ``not run`` cell, a
split the data does not have a ``not available`` cell; neither raises.

Typical use::

    t2 = table2("runs", "quick")
    t2                     # renders as HTML in a notebook (banner, table, notes)
    write_table(t2, "runs/tables")   # table2.csv + table2.md
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml

from lstmattn.config import load_config

from lstmattn.errors import LstmattnError
from lstmattn.paper_tables import (
    ABLATIONS,
    QUOTED,
    TABLE1,
    TABLE2,
    TABLE3,
    TABLE4,
    TEXT_NOTES,
    TWO_CLASS_VARIANT,
    Ablation,
    PaperRow,
    PaperTable,
)

__all__ = [
    "AP_VARIANTS",
    "NOT_RUN",
    "NOT_AVAILABLE",
    "TableResult",
    "collect_results",
    "table1",
    "table2",
    "table3",
    "table4",
    "ablation_table",
    "all_tables",
    "write_table",
    "format_interval",
    "format_delta",
    "confusion_frames",
    "segmentation_examples",
]

AP_VARIANTS = ("per_image/all_classes", "per_image/lesions", "dataset/all_classes", "dataset/lesions")
NOT_RUN = "not run"
NOT_AVAILABLE = "not available"
QUOTED_NOT_RERUN = "quoted, not re-run"
UNCERTAIN_MARK = "†"
ONE_SHOT = "one-shot-lstm-attention"
_DASH = "–"
_UNCERTAIN_NOTE = (f"{UNCERTAIN_MARK} uncertain cell of the re-assembled paper table (TABLES.md): shown for "
                   "reference only, no Δ computed against it.")
_META = ("run_id", "profile", "data", "seed", "commit", "n")


# --------------------------------------------------------------------------- formats
def _decimals(unit: str) -> int:
    return 2 if unit == "percent" else 3


def format_interval(estimate: float, low: float | None = None, high: float | None = None, *, decimals: int = 2) -> str:
    """``95.10 (93.20–96.80)``; just ``95.10`` without an interval; ``""`` for NaN."""
    if estimate is None or _isnan(estimate):
        return ""
    text = f"{estimate:.{decimals}f}"
    if low is not None and high is not None and not (_isnan(low) or _isnan(high)):
        text += f" ({low:.{decimals}f}–{high:.{decimals}f})"
    return text


def format_delta(delta: float | None, *, decimals: int = 2) -> str:
    """Signed difference, ``+1.23`` / ``-0.45``; ``""`` for NaN."""
    if delta is None or _isnan(delta):
        return ""
    return f"{delta:+.{decimals}f}"


def _isnan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- result
@dataclass
class TableResult:
    """A built table: numeric ``frame``, its ``banner`` and ``notes``.

    ``frame`` has one row per table row with columns ``row`` (label), ``model``
    (registered name or None), ``source``, ``status`` (``evaluated``, ``not run``,
    ``not available``, ``quoted``, ``default``/``variant`` for ablations), the run
    columns ``run_id, profile, data, seed, commit, n`` and, per metric column ``M`` (in
    the table's unit: percent or AP fraction), ``M paper``, ``M paper uncertain``,
    ``M ours``, ``M low``, ``M high`` and ``M Δ``. Ablation tables have no paper columns;
    their ``M Δ`` is relative to the default run.
    """

    name: str
    title: str
    columns: tuple[str, ...]
    units: Mapping[str, str]
    frame: pd.DataFrame
    banner: str
    notes: list[str] = field(default_factory=list)
    available: bool = True
    reference: str = "paper"  # what Δ is relative to: "paper" or "default"

    # ----------------------------------------------------------------- lookup
    def ours(self, model: str, column: str, *, row: int = 0) -> float:
        """Our value of ``column`` for ``model`` (the ``row``-th run of it); NaN when absent."""
        rows = self.frame[self.frame["model"] == model]
        if rows.empty or f"{column} ours" not in rows:
            return float("nan")
        return float(rows.iloc[row][f"{column} ours"])

    # ----------------------------------------------------------------- rendering
    def display_frame(self, *, compact: bool = False) -> pd.DataFrame:
        """Strings as printed: paper, ours (95 % CI) and Δ per metric, then the run columns.

        ``compact`` drops the ``profile`` and ``data`` columns (the banner states them).
        """
        records = []
        for _, row in self.frame.iterrows():
            record: dict[str, str] = {"Model": str(row["row"]), "Source": str(row["source"])}
            for column in self.columns:
                decimals = _decimals(self.units[column])
                if self.reference == "paper":
                    record[f"{column} paper"] = _paper_text(row, column)
                record[f"{column} ours"] = _ours_text(row, column, decimals)
                label = f"{column} Δ" if self.reference == "paper" else f"{column} Δ vs default"
                record[label] = format_delta(row.get(f"{column} Δ"), decimals=decimals)
            for key in _META:
                if compact and key in ("profile", "data"):
                    continue
                record[key] = _plain(row.get(key))
            records.append(record)
        return pd.DataFrame.from_records(records)

    def _all_notes(self) -> list[str]:
        notes = list(self.notes)
        if self.reference == "paper" and self.frame.filter(like="paper uncertain").any(axis=None):
            notes.append(_UNCERTAIN_NOTE)
        return notes

    def to_markdown(self) -> str:
        """Banner (first line), title, the table, then the notes as a list."""
        display = self.display_frame()
        lines = [self.banner, "", f"**{self.title}**", ""]
        lines.append("| " + " | ".join(_md(c) for c in display.columns) + " |")
        lines.append("|" + "|".join("---" for _ in display.columns) + "|")
        for values in display.itertuples(index=False):
            lines.append("| " + " | ".join(_md(v) for v in values) + " |")
        notes = self._all_notes()
        if notes:
            lines += [""] + [f"- {note}" for note in notes]
        return "\n".join(lines) + "\n"

    def styler(self, *, compact: bool = True) -> "pd.io.formats.style.Styler":
        """A pandas Styler of :meth:`display_frame` with the banner as caption."""
        return self.display_frame(compact=compact).style.hide(axis="index").set_caption(html.escape(self.banner))

    def to_html(self, *, compact: bool = True) -> str:
        """Banner (highlighted on phantom or missing data), title, table and notes."""
        phantom = "NOT a reproduction" in self.banner
        colour = "#b00020" if phantom or not self.available else "#333"
        parts = [
            f'<div style="border-left:4px solid {colour};padding:4px 8px;margin:4px 0;color:{colour}">'
            f"<b>{html.escape(self.banner)}</b></div>",
            f"<p><b>{html.escape(self.title)}</b></p>",
            self.display_frame(compact=compact).to_html(index=False, escape=True, na_rep=""),
        ]
        notes = self._all_notes()
        if notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in notes) + "</ul>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"TableResult({self.name!r}, rows={len(self.frame)}, available={self.available})\n{self.banner}"


def _plain(value: Any) -> str:
    """Run metadata as text: ``""`` for missing, integers without ``.0``."""
    if value is None or _isnan(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _md(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _paper_text(row: pd.Series, column: str) -> str:
    text = row.get(f"{column} paper text")
    if text is None or (isinstance(text, float) and math.isnan(text)) or text == "":
        return _DASH
    return f"{text} {UNCERTAIN_MARK}" if bool(row.get(f"{column} paper uncertain")) else str(text)


def _ours_text(row: pd.Series, column: str, decimals: int) -> str:
    status = row["status"]
    if status in (NOT_RUN, NOT_AVAILABLE):
        return status
    if status == "quoted":
        return _DASH
    value = row.get(f"{column} ours")
    if value is None or _isnan(value):
        return _DASH
    return format_interval(value, row.get(f"{column} low"), row.get(f"{column} high"), decimals=decimals)


# --------------------------------------------------------------------------- collect
def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise LstmattnError(f"{path}: cannot read result file ({error})") from error
    if not isinstance(data, dict):
        raise LstmattnError(f"{path}: result file must hold a JSON object")
    return data


def _variant(run_id: str, profile: str, model: str, seed: Any) -> str | None:
    """``None`` for the default run ``<profile>-<model>-s<seed>``, else the variant name
    (the middle of ``<profile>-<model>-<variant>-s<seed>``, or the whole id)."""
    head, tail = f"{profile}-{model}", f"-s{seed}"
    if run_id == head + tail:
        return None
    if run_id.startswith(head + "-") and run_id.endswith(tail):
        return run_id[len(head) + 1 : -len(tail)]
    return run_id


def collect_results(runs_root: str | Path, profile: str | None = None, *, seed: int | None = None) -> pd.DataFrame:
    """One row per evaluated run under ``runs_root`` (optionally of one profile/seed).

    Columns: ``run_id, model, variant, profile, seed, data, is_phantom, commit, created,
    path, splits`` and two object columns: ``classification`` (split → the parsed
    ``<split>_metrics.json``) and ``segmentation`` (the parsed ``segmentation_test.json``
    or None). A run folder without result files is not evaluated and is left out.
    ``profile`` may also be a YAML config file (as the book accepts); its ``profile``
    key selects the runs.
    """
    if profile is not None and profile.endswith((".yaml", ".yml")):
        profile = load_config(profile).profile
    root = Path(runs_root)
    rows = []
    for record_path in sorted(root.glob("*/record.json")) if root.is_dir() else []:
        run_path = record_path.parent
        results = run_path / "results"
        metric_files = sorted(results.glob("*_metrics.json"))
        segmentation_file = results / "segmentation_test.json"
        if not metric_files and not segmentation_file.is_file():
            continue
        record = _read_json(record_path)
        classification = {p.name[: -len("_metrics.json")]: _read_json(p) for p in metric_files}
        segmentation = _read_json(segmentation_file) if segmentation_file.is_file() else None
        header = next(iter(classification.values()), None) or segmentation or {}
        row = {
            "run_id": header.get("run_id", record.get("run_id", run_path.name)),
            "model": header.get("model", record.get("model")),
            "profile": header.get("profile", record.get("profile")),
            "seed": header.get("seed", record.get("seed")),
            "data": header.get("data", (record.get("data") or {}).get("description", "?")),
            "is_phantom": bool(header.get("is_phantom", "phantom" in str(record.get("data", "")))),
            "commit": str(header.get("commit", record.get("git_commit", "unknown")))[:12],
            "created": record.get("created", ""),
            "path": str(run_path),
            "splits": ",".join(sorted(classification) + (["segmentation_test"] if segmentation else [])),
            "classification": classification,
            "segmentation": segmentation,
        }
        row["variant"] = _variant(run_path.name, str(row["profile"]), str(row["model"]), row["seed"])
        rows.append(row)
    columns = ["run_id", "model", "variant", "profile", "seed", "data", "is_phantom", "commit", "created", "path",
               "splits", "classification", "segmentation"]
    frame = pd.DataFrame(rows, columns=columns)
    if profile is not None:
        frame = frame[frame["profile"] == profile]
    if seed is not None:
        frame = frame[frame["seed"] == seed]
    return frame.sort_values(["model", "seed", "run_id"]).reset_index(drop=True)


# --------------------------------------------------------------------------- banner
def _banner(runs: pd.DataFrame, profile: str | None, root: Path, *, prefix: str = "") -> str:
    """One line: which data, profile, seeds and commits; a plain warning on phantoms."""
    if runs.empty:
        text = f"No evaluated runs of profile '{profile}' under {root}: only the paper's values are shown."
        return f"{prefix}{text}" if prefix else text
    data = "; ".join(sorted(set(map(str, runs["data"]))))
    seeds = ", ".join(str(s) for s in sorted(set(runs["seed"])))
    commits = ", ".join(sorted(set(map(str, runs["commit"]))))
    parts = []
    if runs["is_phantom"].any():
        parts.append(f"PHANTOM DATA — these numbers are NOT a reproduction of the paper: the models were trained "
                     f"and tested on {data}, not on the paper's COVIDx-CT/CNCB data; the paper's values are shown "
                     "only to read the layout.")
    else:
        parts.append(f"Data: {data}.")
    profile_text = f"Profile '{profile}'" if profile else "Profiles " + ", ".join(sorted(set(runs["profile"])))
    if profile and profile != "paper":
        profile_text += " (reduced settings, not the paper's training schedule)"
    parts.append(f"{profile_text}; {len(runs)} run(s); seed(s) {seeds}; commit(s) {commits}.")
    return prefix + " ".join(parts)


# --------------------------------------------------------------------------- rows
def _metric_key(column: str, class_names: Sequence[str], f1_metric: str) -> str:
    if column == "F1":
        return f1_metric
    if column in ("Sensitivity", "Precision"):
        return column.lower()
    if column == "Negative":
        return "sensitivity/" + ("Negative" if "Negative" in class_names else "Normal")
    return f"sensitivity/{column}"


def _paper_cells(row: PaperRow | None, columns: Sequence[str], unit: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in columns:
        cell = row.cell(column) if row else None
        values[f"{column} paper"] = cell.value if cell else np.nan
        values[f"{column} paper text"] = cell.text if cell else ""
        values[f"{column} paper uncertain"] = bool(cell and cell.uncertain)
    return values


def _delta(values: dict[str, Any], column: str) -> float:
    if values.get(f"{column} paper uncertain"):
        return np.nan
    ours, paper = values.get(f"{column} ours", np.nan), values.get(f"{column} paper", np.nan)
    return float(ours - paper) if not (_isnan(ours) or _isnan(paper)) else np.nan


def _run_meta(run: pd.Series | None, n: Any = None) -> dict[str, Any]:
    if run is None:
        return {key: None for key in _META}
    return {"run_id": run["run_id"], "profile": run["profile"], "data": run["data"], "seed": run["seed"],
            "commit": run["commit"], "n": n}


def _classification_values(metrics: Mapping[str, Any], columns: Sequence[str], f1_metric: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    class_names = metrics.get("class_names", [])
    for column in columns:
        entry = metrics.get("metrics", {}).get(_metric_key(column, class_names, f1_metric))
        for suffix, key in (("ours", "estimate"), ("low", "low"), ("high", "high")):
            values[f"{column} {suffix}"] = 100.0 * float(entry[key]) if entry and entry.get(key) is not None else np.nan
    return values


def _segmentation_values(segmentation: Mapping[str, Any], columns: Sequence[str], ap_variant: str) -> dict[str, Any]:
    ap = (segmentation.get("ap") or {}).get(ap_variant)
    if ap is None:
        raise LstmattnError(f"segmentation result of {segmentation.get('run_id')}: no AP variant {ap_variant!r}; "
                            f"known: {sorted(segmentation.get('ap') or {})}")
    values: dict[str, Any] = {}
    for column in columns:
        values[f"{column} ours"] = float(ap[column]) if ap.get(column) is not None else np.nan
        values[f"{column} low"] = values[f"{column} high"] = np.nan
    return values


def _paper_table_rows(
    paper: PaperTable,
    runs: pd.DataFrame,
    extract,
    *,
    missing_status: str = NOT_RUN,
    variants: Sequence[str | None] = (None,),
) -> list[dict[str, Any]]:
    """Rows in the paper's order: one per run of a row's model (default runs, or runs of
    the given ``variants``), ``missing_status`` when the model has no run, ``quoted``
    for rows without a model of ours."""
    rows = []
    for paper_row in paper.rows:
        base = {"row": paper_row.label, "model": paper_row.model, **_paper_cells(paper_row, paper.columns, paper.unit)}
        if paper_row.model is None:
            source = QUOTED if paper_row.source == QUOTED else QUOTED_NOT_RERUN
            rows.append({**base, "source": source, "status": "quoted", **_run_meta(None)})
            continue
        wanted = runs["variant"].isin([v for v in variants if v is not None])
        if None in variants:
            wanted |= runs["variant"].isna()
        model_runs = runs[(runs["model"] == paper_row.model) & wanted]
        extracted = [(run, extract(run)) for _, run in model_runs.iterrows()]
        extracted = [(run, found) for run, found in extracted if found is not None]
        if not extracted:
            rows.append({**base, "source": paper_row.source, "status": missing_status, **_run_meta(None)})
            continue
        for run, (values, n) in extracted:
            row = {**base, "source": paper_row.source, "status": "evaluated", **_run_meta(run, n), **values}
            rows.append(row)
    for row in rows:
        for column in paper.columns:
            row[f"{column} Δ"] = _delta(row, column) if row["status"] == "evaluated" else np.nan
    return rows


def _frame(rows: list[dict[str, Any]], columns: Sequence[str], *, with_paper: bool = True) -> pd.DataFrame:
    ordered = ["row", "model", "source", "status", *_META]
    for column in columns:
        if with_paper:
            ordered += [f"{column} paper", f"{column} paper text", f"{column} paper uncertain"]
        ordered += [f"{column} ours", f"{column} low", f"{column} high", f"{column} Δ"]
    frame = pd.DataFrame(rows).reindex(columns=ordered)
    for key in ("seed", "n"):
        frame[key] = pd.to_numeric(frame[key], errors="coerce").astype("Int64")
    return frame


def _select(runs_root: str | Path, profile: str | None, seed: int | None) -> tuple[Path, pd.DataFrame]:
    root = Path(runs_root)
    return root, collect_results(root, profile, seed=seed)


def _is_two_class(metrics: Mapping[str, Any]) -> bool:
    return len(metrics.get("class_names", [])) == 2


# --------------------------------------------------------------------------- tables
def table1(runs_root: str | Path, profile: str | None = "quick", *, ap_variant: str = "per_image/all_classes",
           seed: int | None = None) -> TableResult:
    """Table 1 (§4.2): mask AP@0.5, AP@0.75 and AP@[0.5:0.95] on the segmentation test split.

    ``ap_variant`` is one of :data:`AP_VARIANTS`: per-image (the authors' template) or
    data-set-level AP, over all classes or the lesion classes only.
    """
    if ap_variant not in AP_VARIANTS:
        raise LstmattnError(f"ap_variant must be one of {AP_VARIANTS}, got {ap_variant!r}")
    root, runs = _select(runs_root, profile, seed)

    def extract(run: pd.Series):
        segmentation = run["segmentation"]
        if segmentation is None:
            return None
        return _segmentation_values(segmentation, TABLE1.columns, ap_variant), segmentation.get("n")

    rows = _paper_table_rows(TABLE1, runs, extract)
    used = runs[runs["run_id"].isin([r["run_id"] for r in rows if r["status"] == "evaluated"])]
    aggregation, scope = ap_variant.split("/")
    how = ("AP per test image, averaged over images (VOC all-point, the authors' template)" if aggregation == "per_image"
           else "AP over the pooled test set, per class")
    which = "all classes (lungs, GGO, consolidation)" if scope == "all_classes" else "lesion classes only (GGO, consolidation)"
    notes = [
        f"AP variant: {ap_variant}: {how}; {which}.",
        *TABLE1.notes,
    ]
    return TableResult(TABLE1.name, f"{TABLE1.title} [{ap_variant}]", TABLE1.columns,
                       {c: TABLE1.unit for c in TABLE1.columns}, _frame(rows, TABLE1.columns),
                       _banner(used, profile, root), notes)


def table2(runs_root: str | Path, profile: str | None = "quick", *, f1_metric: str = "f1",
           seed: int | None = None) -> TableResult:
    """Table 2 (§4.3): per-class sensitivity, F1 (Eq. 13), overall sensitivity and precision.

    ``f1_metric`` is ``"f1"`` (Eq. 13 with the class shares of the evaluated set) or
    ``"f1_paper_weights"`` (the reference code's fixed 0.45/0.35/0.20).
    """
    root, runs = _select(runs_root, profile, seed)

    def extract(run: pd.Series):
        metrics = run["classification"].get("test")
        if metrics is None or _is_two_class(metrics):
            return None
        return _classification_values(metrics, TABLE2.columns, f1_metric), metrics.get("n")

    rows = _paper_table_rows(TABLE2, runs, extract)
    used = runs[runs["run_id"].isin([r["run_id"] for r in rows if r["status"] == "evaluated"])]
    f1_note = ("F1 (ours): Eq. 13 with the class shares of the evaluated test set as weights."
               if f1_metric == "f1" else "F1 (ours): Eq. 13 with the reference code's fixed weights 0.45/0.35/0.20.")
    notes = [f1_note, "Ours: bootstrap 95 % intervals (1,000 resamples) in brackets.", *_input_size_notes(used),
             *TABLE2.notes, *TEXT_NOTES]
    return TableResult(TABLE2.name, TABLE2.title, TABLE2.columns, {c: TABLE2.unit for c in TABLE2.columns},
                       _frame(rows, TABLE2.columns), _banner(used, profile, root), notes)


def _input_size_notes(used: pd.DataFrame) -> list[str]:
    """A note when the compared runs saw images of different sizes (e.g. the quick
    profile's torchvision classifiers at ``model.classifier_image_size``)."""
    sizes: dict[int, list[str]] = {}
    for _, run in used.iterrows():
        config_path = Path(run["path"]) / "config.yaml"
        if not config_path.is_file():
            continue
        model = yaml.safe_load(config_path.read_text())["model"]
        is_classifier = str(run["model"]).startswith("classifier-")
        size = (model.get("classifier_image_size") or model["image_size"]) if is_classifier else model["image_size"]
        sizes.setdefault(int(size), []).append(str(run["model"]))
    if len(sizes) < 2:
        return []
    listed = "; ".join(f"{size}² for {', '.join(sorted(models))}" for size, models in sorted(sizes.items()))
    return [f"Input sizes differ between rows: {listed} (model.image_size / model.classifier_image_size); "
            "read the comparison with that in mind."]


def _split_table(paper: PaperTable, runs_root: str | Path, profile: str | None, seed: int | None, *,
                 pick, missing_status: str, missing_banner: str, phantom_notes: Iterable[str],
                 variants: Sequence[str | None] = (None,)) -> TableResult:
    root, runs = _select(runs_root, profile, seed)

    def extract(run: pd.Series):
        metrics = pick(run)
        if metrics is None:
            return None
        return _classification_values(metrics, paper.columns, "f1"), metrics.get("n")

    rows = _paper_table_rows(paper, runs, extract, missing_status=missing_status, variants=variants)
    used = runs[runs["run_id"].isin([r["run_id"] for r in rows if r["status"] == "evaluated"])]
    available = not used.empty
    notes = list(phantom_notes) if used["is_phantom"].any() else []
    if available:
        banner = _banner(used, profile, root)
    else:
        data = "; ".join(sorted(set(map(str, runs["data"])))) or "no evaluated runs"
        banner = missing_banner.format(profile=profile, data=data, root=root)
    result_notes = ["Ours: bootstrap 95 % intervals (1,000 resamples) in brackets; F1 is Eq. 13 with the class "
                    "shares of the evaluated set.", *paper.notes, *notes]
    return TableResult(paper.name, paper.title, paper.columns, {c: paper.unit for c in paper.columns},
                       _frame(rows, paper.columns), banner, result_notes, available=available)


def table3(runs_root: str | Path, profile: str | None = "quick", *, seed: int | None = None) -> TableResult:
    """Table 3 (§4.4): the hold-out part of the COVIDx-CT train split
    (``results/holdout_metrics.json``); the paper's values alone when no run has it.
    On phantoms the hold-out is the generator's ``holdout`` split."""
    return _split_table(
        TABLE3, runs_root, profile, seed,
        pick=lambda run: run["classification"].get("holdout"),
        missing_status=NOT_AVAILABLE,
        missing_banner=("NOT AVAILABLE ON THIS DATA — the hold-out split (COVIDx CT-1 train minus the 3,000 training "
                        "slices) does not exist for the data of profile '{profile}' ({data}); only the paper's values "
                        "are shown."),
        phantom_notes=("Phantom stand-in: the hold-out split is a further set of phantom slices drawn like the "
                       "training set, from patients the model never saw. The paper's hold-out is the rest of the "
                       "COVIDx CT-1 train split, which shares patients with its 3,000 training slices, so the two are "
                       "not the same kind of test.",),
    )


def _ictcf_metrics(run: pd.Series) -> Mapping[str, Any] | None:
    classification = run["classification"]
    if "ictcf" in classification:
        return classification["ictcf"]
    test = classification.get("test")
    return test if test is not None and _is_two_class(test) else None


def table4(runs_root: str | Path, profile: str | None = "quick", *, seed: int | None = None) -> TableResult:
    """Table 4 (§4.4): two-class iCTCF test split (``results/ictcf_metrics.json`` or a
    two-class ``test_metrics.json``) of default runs or runs of the ``two-class``
    variant; ``not run`` cells and the paper's values otherwise. On phantoms the
    two-class run sees the Normal (as Negative) and COVID-19 phantoms only."""
    return _split_table(
        TABLE4, runs_root, profile, seed,
        pick=_ictcf_metrics,
        missing_status=NOT_RUN,
        missing_banner=("NOT RUN — no run of profile '{profile}' under {root} has two-class results (a run with "
                        "model.num_image_classes=2: data.source='ictcf', or the two-class phantom variant); only the "
                        "paper's values are shown."),
        phantom_notes=("Phantom stand-in: two-class runs (model.num_image_classes=2) trained and tested on the Normal "
                       "(labelled Negative) and COVID-19 phantoms; the CP phantoms are left out. The paper trains on "
                       "600 iCTCF slices with a ResNeXt50+FPN backbone; the backbone here is the profile's.",),
        variants=(None, TWO_CLASS_VARIANT),
    )


def _ablation(variant: str | Ablation) -> Ablation | None:
    if isinstance(variant, Ablation):
        return variant
    return next((a for a in ABLATIONS if a.variant == variant), None)


def ablation_table(
    runs_root: str | Path,
    profile: str | None = "quick",
    variants: Sequence[str | Ablation] | None = None,
    *,
    model: str = ONE_SHOT,
    ap_variant: str = "per_image/all_classes",
    seed: int | None = None,
) -> TableResult:
    """Named variants of ``model`` (run ids ``<profile>-<model>-<variant>-s<seed>``) against
    its default run: F1, COVID-19 sensitivity and AP@0.5, each with Δ vs the default.

    ``variants`` defaults to the 'paper vs reference code' ablations of
    :data:`lstmattn.paper_tables.ABLATIONS`; unknown names are shown without description.
    """
    root, runs = _select(runs_root, profile, seed)
    runs = runs[runs["model"] == model]
    columns = ("F1", "COVID-19", "AP@0.5")
    units = {"F1": "percent", "COVID-19": "percent", "AP@0.5": "fraction"}

    def values_of(run: pd.Series) -> tuple[dict[str, Any], Any]:
        values: dict[str, Any] = {f"{c} {s}": np.nan for c in columns for s in ("ours", "low", "high")}
        metrics = run["classification"].get("test")
        n = None
        if metrics is not None:
            values.update(_classification_values(metrics, ("F1", "COVID-19"), "f1"))
            n = metrics.get("n")
        if run["segmentation"] is not None:
            values.update(_segmentation_values(run["segmentation"], ("AP@0.5",), ap_variant))
        return values, n

    def row_for(label: str, variant: str | None, description: str) -> list[dict[str, Any]]:
        matched = runs[runs["variant"].isna()] if variant is None else runs[runs["variant"] == variant]
        status = "default" if variant is None else "variant"
        base = {"row": label, "model": model, "source": description, "variant": variant}
        if matched.empty:
            return [{**base, "status": NOT_RUN, **_run_meta(None)}]
        out = []
        for _, run in matched.iterrows():
            values, n = values_of(run)
            out.append({**base, "status": status, **_run_meta(run, n), **values})
        return out

    rows = row_for("default", None, "profile defaults (paper as written)")
    for variant in variants if variants is not None else ABLATIONS:
        ablation = _ablation(variant)
        name = ablation.variant if ablation else str(variant)
        description = (f"code: {ablation.code} (paper: {ablation.paper}; REFERENCE_CODE.md §6 item {ablation.item})"
                       if ablation else "")
        rows += row_for(name, name, description)
    defaults = {row["seed"]: row for row in rows if row["status"] == "default"}
    for row in rows:
        reference = defaults.get(row["seed"])
        for column in columns:
            ok = row["status"] == "variant" and reference is not None
            ours = row.get(f"{column} ours", np.nan)
            base_value = reference.get(f"{column} ours", np.nan) if reference else np.nan
            row[f"{column} Δ"] = float(ours - base_value) if ok and not (_isnan(ours) or _isnan(base_value)) else np.nan
    used = runs[runs["run_id"].isin([r["run_id"] for r in rows if r["status"] in ("default", "variant")])]
    notes = [
        "Each variant changes one setting of the default run from the paper's description to the authors' "
        "published code; Δ = variant − default of the same seed.",
        f"F1 and COVID-19 sensitivity in percent with bootstrap 95 % intervals; AP@0.5 as a fraction ({ap_variant}).",
        "A Δ smaller than the width of the intervals is not evidence of an effect, least of all with one seed.",
    ]
    frame = _frame(rows, columns, with_paper=False)
    frame.insert(2, "variant", [row.get("variant") for row in rows])
    return TableResult("ablations", f"Ablations: paper vs reference code ({model})", columns, units, frame,
                       _banner(used, profile, root), notes, reference="default")


def all_tables(runs_root: str | Path, profile: str | None = "quick", *, seed: int | None = None) -> dict[str, TableResult]:
    """Every table the book shows, by file name."""
    return {
        "table1": table1(runs_root, profile, seed=seed),
        "table1_lesions": table1(runs_root, profile, ap_variant="per_image/lesions", seed=seed),
        "table2": table2(runs_root, profile, seed=seed),
        "table3": table3(runs_root, profile, seed=seed),
        "table4": table4(runs_root, profile, seed=seed),
        "ablations": ablation_table(runs_root, profile, seed=seed),
    }


def write_table(result: TableResult, out_dir: str | Path, name: str | None = None) -> dict[str, Path]:
    """Write ``<name>.csv`` (the numeric frame) and ``<name>.md`` (banner first, then the
    formatted table and notes); returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = name or result.name
    paths = {"csv": out / f"{name}.csv", "markdown": out / f"{name}.md"}
    for key, path in paths.items():
        tmp = path.with_name(f".{path.name}.tmp")
        if key == "csv":
            result.frame.to_csv(tmp, index=False)
        else:
            tmp.write_text(result.to_markdown())
        tmp.replace(path)
    return paths


# --------------------------------------------------------------------------- chapter helpers
def confusion_frames(runs_root: str | Path, profile: str | None = "quick", models: Sequence[str] | None = None, *,
                     split: str = "test", seed: int | None = None) -> dict[str, pd.DataFrame]:
    """Confusion matrices (rows true, columns predicted) of the default runs, from their
    ``<split>_metrics.json``; keyed by run id, in ``models`` order."""
    runs = collect_results(runs_root, profile, seed=seed)
    runs = runs[runs["variant"].isna()]
    frames: dict[str, pd.DataFrame] = {}
    for model in models if models is not None else sorted(set(runs["model"])):
        for _, run in runs[runs["model"] == model].iterrows():
            metrics = run["classification"].get(split)
            if metrics is None:
                continue
            names = metrics["class_names"]
            frame = pd.DataFrame(metrics["confusion"], index=names, columns=names)
            frame.index.name, frame.columns.name = "true", "predicted"
            frames[run["run_id"]] = frame
    return frames


def segmentation_examples(run: Any, n: int = 3, *, device: str | None = None, score_threshold: float = 0.5):
    """The first ``n`` slices of ``run``'s segmentation test split with the model's
    predictions: a list of ``(SlicePrediction, truth_lesion_map)``, the truth map being
    ``uint8[H, W]`` with 2 for GGO and 3 for consolidation (like the prediction's)."""
    import torch

    from lstmattn.engine.datasets import build_data
    from lstmattn.engine.evaluation import class_names_for
    from lstmattn.engine.predict import LESION_LABELS, predict_slices
    from lstmattn.engine.results import load_trained_model
    from lstmattn.engine.runs import RunDirectory
    from lstmattn.engine.trainer import resolve_device

    run = run if isinstance(run, RunDirectory) else RunDirectory(Path(run))
    config = run.config()
    recorded_root = (run.record().get("data") or {}).get("root")
    if config.data.root is None and config.data.source == "phantom" and recorded_root and Path(recorded_root).is_dir():
        config = replace(config, data=replace(config.data, root=recorded_root))  # reuse the run's phantom cache
    dataset = build_data(config, progress=False).segmentation_test
    device_ = resolve_device(device)
    model = load_trained_model(run, "best", device_)
    arrays, truths = [], []
    for index in range(min(n, len(dataset))):
        image, target = dataset[index]
        arrays.append((image[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy())
        truth = np.zeros(arrays[-1].shape, dtype=np.uint8)
        for label in LESION_LABELS:
            selected = target["masks"][target["labels"] == label]
            if len(selected):
                truth[selected.bool().any(0).numpy()] = label
        truths.append(truth)
    predictions = predict_slices(model, arrays, class_names=class_names_for(config.model.num_image_classes),
                                 score_threshold=score_threshold, device=device_)
    return list(zip(predictions, truths))
