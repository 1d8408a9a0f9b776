"""Every number of a whole built book (chapters 3-5 and 7) against its source.

The browser tests are skipped unless ``LSTMATTN_BUILT_BOOK`` names a book build folder
(``--out`` of ``lstmattn book build``) and ``LSTMATTN_BUILT_RUNS`` its runs folder;
``.ci/run`` sets both after its smoke build of every chapter. Building chapters 3-5 trains
27 runs, too slow for the unit tests, which build a small book (``tests/test_site.py``).

Every page of the site must load offline, without console errors and without a single
request to anything but ``file:``, ``data:``, ``blob:`` and ``about:`` URLs.

Every cell of every result table (a table with a ``run_id`` column: Tables 1-4, the two
ablation tables, chapter 7's real-CT tables), of chapter 5's seed-noise summaries and of
chapter 4's classifier claims is classified by its column and checked against its source:

* "ours": the run's result file (``test_metrics.json``, ``holdout_metrics.json``,
  ``ictcf_metrics.json``, ``segmentation_test.json``), estimate and interval bounds, to the
  printed decimals; in Table 1 and chapter 7's segmentation table a value from a
  ``segmentation_test.json`` without ``intervals`` (written before per-slice scores were
  kept) must carry the § mark and no interval, one from a file with them its interval;
* paper / published: the printed text of :mod:`lstmattn.tables.paper_values` /
  :mod:`lstmattn.tables.published_values`, with the † (uncertain) and ‡ (inconsistent) marks;
* Δ: ours − paper (only for runs on the paper's data, never against an uncertain cell) or
  variant − default of the same seed, recomputed from the result files;
* seed summaries: mean, range, Δ mean and verdict recomputed from the listed seeds' runs;
* run columns: ``run_id`` (a run folder), ``seed`` (``record.json``), ``n`` (the result
  file's), ``commit``, ``profile``, ``data``, ``provenance``; ``Model``/``Source`` against
  the paper row or the run's variant.
* banner and notes: the banner above a result table names exactly the runs of its rows
  (their number, seeds, commits, profile, and PHANTOM DATA exactly when one ran on
  phantoms); the § note names exactly the runs with § cells, and the range note of a
  seed table (chapters 3 and 4) equals the range of its rows.

A column or table the test does not know, or a value it cannot parse where a number is
expected, fails with the table's title, row and column. The numbers glued into the prose
(myst-nb ``{glue:text}``) must be the rendered text of the executed notebooks' glue
values, and those that name a result must equal it (:data:`RESULT_GLUES`); a glue that is
neither there nor in :data:`OTHER_GLUES` fails. The cell → metric mapping is written out
here independently of :mod:`lstmattn.tables`; the helpers are tested on hand-made tables
at the end of this file (those tests always run).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence

import pytest

from lstmattn.engine.plan import REAL_DATA_PROFILE
from lstmattn.tables.paper_values import QUOTED, TABLE1, TABLE2, TABLE3, TABLE4, THIS_PAPER, PaperRow, PaperTable
from lstmattn.tables.published_values import MEDSEG_PUBLISHED, SARSCOV2_PUBLISHED
from test_site import CHROMIUM, LAUNCH_FLAGS

BUILT_BOOK = os.environ.get("LSTMATTN_BUILT_BOOK")
BUILT_RUNS = os.environ.get("LSTMATTN_BUILT_RUNS")

built_book = pytest.mark.skipif(not (BUILT_BOOK and BUILT_RUNS),
                                reason="set LSTMATTN_BUILT_BOOK and LSTMATTN_BUILT_RUNS (.ci/run does)")

#: Each table's title (the bold line above it; none for plain pandas frames), banner (the
#: line above the title), notes (the list below it) and cells.
TABLES_WITH_TITLES_JS = """
tables => tables.map(t => {
  const before = t.previousElementSibling;
  const banner = before && before.previousElementSibling;
  const after = t.nextElementSibling;
  return {
    title: before && before.tagName !== 'STYLE' ? before.textContent.trim() : "",
    banner: banner && banner.tagName === 'DIV' ? banner.textContent.trim() : "",
    notes: after && after.tagName === 'UL' ? Array.from(after.querySelectorAll('li')).map(li => li.textContent.trim()) : [],
    headers: Array.from(t.querySelectorAll('thead tr:last-child th')).map(c => c.textContent.trim()),
    rows: Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.querySelectorAll('th, td')).map(c => c.textContent.trim())),
  };
})
"""
PASTED_JS = "nodes => nodes.map(n => n.textContent)"
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

DASH = "–"
MISSING_OURS = ("not run", "not available")
META = ("run_id", "profile", "data", "seed", "commit", "n", "provenance", "status")
STATUSES = ("evaluated", "not run", "not available", "quoted", "default", "variant")
REAL_SOURCE = "trained here on real CT"
QUOTED_NOT_RERUN = "quoted, not re-run"
ABLATION_DEFAULT_SOURCE = "profile defaults (paper as written)"
ONE_SHOT = "one-shot-lstm-attention"
TWO_CLASS = "two-class"

# The metric behind each column, written out here (not taken from lstmattn.tables).
CLASSIFICATION_METRIC = {"COVID-19": "sensitivity/COVID-19", "CP": "sensitivity/CP", "F1": "f1",
                         "Sensitivity": "sensitivity", "Precision": "precision"}
REAL_CLASSIFICATION_METRIC = {"Sensitivity COVID-19": "sensitivity/COVID-19", "Sensitivity Negative": "sensitivity/Negative",
                              "Precision COVID-19": "precision/COVID-19", "Precision Negative": "precision/Negative",
                              "F1": "f1", "Accuracy": "accuracy", "AUC": "auc"}
REAL_DICE = {"GGO Dice": "GGO", "Consolidation Dice": "consolidation", "Infection Dice": "any lesion"}
AP_COLUMNS = ("AP@0.5", "AP@0.75", "AP@[0.5:0.95]")
ABLATION_COLUMNS = ("F1", "COVID-19", "AP@0.5")

NO_INTERVAL_MARK = "§"  # ours without the interval its run predates
NUMBER = r"[-+]?\d+(?:\.\d+)?"
OURS = re.compile(rf"^({NUMBER})(?: \(({NUMBER})–({NUMBER})\))?( {NO_INTERVAL_MARK})?$")


class TableError(AssertionError):
    """A cell that disagrees with its source, or that the test cannot classify."""


# --------------------------------------------------------------------------- numbers
def decimals_of(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def agrees(text: str, expected: float, decimals: int | None = None) -> bool:
    """Whether the printed number ``text`` is ``expected`` to its printed decimals (which
    must be ``decimals`` when given)."""
    if not re.fullmatch(NUMBER, text) or (decimals is not None and decimals_of(text) != decimals):
        return False
    if expected is None or math.isnan(expected):
        return False
    return abs(float(text) - expected) <= 0.5 * 10 ** -decimals_of(text) + 1e-9


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------- runs
class Runs:
    """A runs folder as the test reads it: ``record.json`` and ``results/*.json`` per run."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.records: dict[str, dict] = {}
        for path in sorted(self.root.glob("*/record.json")):
            self.records[path.parent.name] = json.loads(path.read_text())
        self._results: dict[tuple[str, str], dict | None] = {}

    def record(self, run_id: str) -> dict:
        if run_id not in self.records:
            raise TableError(f"run {run_id!r} has no folder with a record.json under {self.root}")
        return self.records[run_id]

    def identity(self, run_id: str) -> dict:
        return self.record(run_id)["identity"]

    def results(self, run_id: str, name: str) -> dict | None:
        key = (run_id, name)
        if key not in self._results:
            path = self.root / run_id / "results" / name
            self._results[key] = json.loads(path.read_text()) if path.is_file() else None
        return self._results[key]

    def find(self, model: str, variant: str | None, profile: str, seed: int | None = None) -> list[str]:
        """Run ids of ``model``/``variant`` runs of ``profile`` (of ``seed``), by seed."""
        found = [(identity["seed"], run_id) for run_id, record in self.records.items()
                 for identity in [record["identity"]]
                 if identity["model"] == model and identity.get("variant") == variant
                 and identity["profile"] == profile and (seed is None or identity["seed"] == seed)]
        return [run_id for _, run_id in sorted(found)]

    def commits(self, run_id: str) -> set[str]:
        found = {str(self.record(run_id).get("git_commit", ""))}
        for path in (self.root / run_id / "results").glob("*.json"):
            commit = json.loads(path.read_text()).get("commit")
            if commit:
                found.add(str(commit))
        return found


@dataclass(frozen=True)
class Value:
    """A metric of a run as a table prints it: estimate, interval bounds (or None), printed
    decimals, the ``n`` of the result file it comes from, and whether that file predates
    the interval, so the value is printed without it, with the § mark."""

    estimate: float
    low: float | None
    high: float | None
    decimals: int
    n: int | None
    predates_interval: bool = False


def _classification(runs: Runs, run_id: str, file: str, metric: str) -> Value | None:
    data = runs.results(run_id, file)
    if data is None:
        return None
    entry = data["metrics"].get(metric)
    if entry is None or _missing(entry.get("estimate")):
        return Value(math.nan, None, None, 2, data.get("n"))
    scale = lambda v: None if _missing(v) else 100 * v  # noqa: E731
    return Value(100 * entry["estimate"], scale(entry.get("low")), scale(entry.get("high")), 2, data.get("n"))


def _lookup(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _segmentation(runs: Runs, run_id: str, path: Sequence[str]) -> Value | None:
    """A value of ``segmentation_test.json`` (``path``: ``ap``/``dice`` and on) with its
    interval from ``intervals`` → the same path; a file without ``intervals`` predates them."""
    data = runs.results(run_id, "segmentation_test.json")
    if data is None:
        return None
    value = _lookup(data, path)
    estimate = math.nan if _missing(value) else float(value)
    if "intervals" not in data:
        return Value(estimate, None, None, 3, data.get("n"), predates_interval=True)
    interval = _lookup(data["intervals"], path) or {}
    low, high = interval.get("low"), interval.get("high")
    return Value(estimate, None if _missing(low) else low, None if _missing(high) else high, 3, data.get("n"))


# --------------------------------------------------------------------------- table families
@dataclass(frozen=True)
class Family:
    """What a titled result table is: its metric columns and where their values come from."""

    name: str
    columns: tuple[str, ...]
    value: Callable[[Runs, str, str], Value | None]  # (runs, run_id, column) → the run's value
    paper: PaperTable | None = None  # "M paper" and Δ = ours − paper
    published: PaperRow | None = None  # "M published", never a Δ
    labels: PaperTable | None = None  # row labels of a published table: the paper table's
    ablation_model: str | None = None  # Δ vs default of the same seed


def _bracket(title: str) -> str:
    found = re.search(r"\[([^\]]+)\]\s*$", title)
    if not found:
        raise TableError(f"{title!r}: no [AP variant] in the title")
    return found.group(1)


def _class_metric(column: str, file: str, runs: Runs, run_id: str) -> Value | None:
    if column == "Negative":
        data = runs.results(run_id, file)
        names = data["class_names"] if data else []
        return _classification(runs, run_id, file, "sensitivity/" + ("Negative" if "Negative" in names else "Normal"))
    if column not in CLASSIFICATION_METRIC:
        raise TableError(f"no metric known for column {column!r}")
    return _classification(runs, run_id, file, CLASSIFICATION_METRIC[column])


def _table4_file(runs: Runs, run_id: str) -> str:
    return "ictcf_metrics.json" if runs.results(run_id, "ictcf_metrics.json") is not None else "test_metrics.json"


def family_of(title: str) -> Family:
    """The family of a table with a run_id column, from its title; unknown titles fail."""
    if title.startswith("Table 1:"):
        variant = _bracket(title)
        return Family("Table 1", TABLE1.columns, lambda r, i, c: _segmentation(r, i, ("ap", variant, c)), paper=TABLE1)
    if title.startswith("Table 2:"):
        return Family("Table 2", TABLE2.columns, lambda r, i, c: _class_metric(c, "test_metrics.json", r, i), paper=TABLE2)
    if title.startswith("Table 3:"):
        return Family("Table 3", TABLE3.columns, lambda r, i, c: _class_metric(c, "holdout_metrics.json", r, i), paper=TABLE3)
    if title.startswith("Table 4:"):
        return Family("Table 4", TABLE4.columns, lambda r, i, c: _class_metric(c, _table4_file(r, i), r, i), paper=TABLE4)
    if title.startswith("Ablations:"):
        model = re.search(r"\(([^()]+)\)\s*$", title)
        if not model:
            raise TableError(f"{title!r}: no (model) at the end of the ablation table's title")
        return Family("Ablations", ABLATION_COLUMNS, _ablation_value, ablation_model=model.group(1))
    if title.startswith("Real CT: two-class"):
        def real_class(r: Runs, i: str, c: str) -> Value | None:
            return _classification(r, i, "test_metrics.json", REAL_CLASSIFICATION_METRIC[c])
        return Family("Real CT", tuple(REAL_CLASSIFICATION_METRIC), real_class, published=SARSCOV2_PUBLISHED, labels=TABLE2)
    if title.startswith("Real CT: MedSeg"):
        variant = _bracket(title)

        def real_seg(r: Runs, i: str, c: str) -> Value | None:
            path = ("dice", "mean_per_image", REAL_DICE[c]) if c in REAL_DICE else ("ap", variant, c)
            return _segmentation(r, i, path)
        return Family("Real CT", (*REAL_DICE, "AP@0.5", "AP@[0.5:0.95]"), real_seg, published=MEDSEG_PUBLISHED, labels=TABLE1)
    raise TableError(f"table {title!r} has a run_id column but is of no family the test knows")


def _ablation_value(runs: Runs, run_id: str, column: str) -> Value | None:
    if column == "AP@0.5":
        value = _segmentation(runs, run_id, ("ap", "per_image/all_classes", column))
        test = runs.results(run_id, "test_metrics.json")
        n = test.get("n") if test else None
        return Value(math.nan, None, None, 3, n) if value is None else Value(value.estimate, None, None, 3, n)
    value = _classification(runs, run_id, "test_metrics.json", CLASSIFICATION_METRIC[column])
    return Value(math.nan, None, None, 2, None) if value is None else value


def _split_header(header: str, family: Family) -> tuple[str, str]:
    """(metric column, kind) of a header: kind is ours, paper, published, delta or default-delta."""
    for suffix, kind in ((" Δ vs default", "default-delta"), (" Δ", "delta"), (" ours", "ours"),
                         (" paper", "paper"), (" published", "published")):
        if header.endswith(suffix):
            column = header[: -len(suffix)]
            allowed = {"ours": True, "paper": family.paper is not None, "published": family.published is not None,
                       "delta": family.paper is not None, "default-delta": family.ablation_model is not None}[kind]
            if column in family.columns and allowed:
                return column, kind
    raise TableError(f"unknown column {header!r}")


def _paper_text(row: PaperRow | None, column: str) -> str:
    cell = row.cell(column) if row else None
    if cell is None:
        return DASH
    return cell.text + (" †" if cell.uncertain else "") + (" ‡" if cell.note else "")


def _on_paper_data(identity: Mapping[str, Any], paper: PaperTable) -> bool:
    source = identity.get("segmentation_source") if paper.task == "segmentation" else identity.get("source")
    return not identity.get("is_phantom", True) and source in paper.data_sources


def _check_ours(text: str, value: Value | None) -> None:
    if value is None or math.isnan(value.estimate):
        if text != DASH:
            raise TableError(f"shows {text!r} where the result file has no value (expected {DASH!r})")
        return
    match = OURS.match(text)
    if not match:
        raise TableError(f"cannot parse {text!r} as a number (with its interval)")
    estimate, low, high, mark = match.groups()
    if value.predates_interval and not mark:
        raise TableError(f"shows {text!r} without the {NO_INTERVAL_MARK} mark of a result file written before "
                         "intervals over slices")
    if mark and not value.predates_interval:
        raise TableError(f"shows the {NO_INTERVAL_MARK} mark ({text!r}) for a result file that is not missing an interval")
    if not agrees(estimate, value.estimate, value.decimals):
        raise TableError(f"shows {estimate}, the result file {value.estimate:.{value.decimals + 3}f}")
    if value.low is not None and value.high is not None:
        if low is None:
            raise TableError(f"shows {text!r} without the interval of the result file")
        for shown, expected in ((low, value.low), (high, value.high)):
            if not agrees(shown, expected, value.decimals):
                raise TableError(f"interval bound {shown}, the result file {expected:.{value.decimals + 3}f}")
    elif low is not None:
        raise TableError(f"shows an interval ({text!r}) that the result file does not have")


def _check_delta(text: str, expected: float | None, decimals: int) -> None:
    if expected is None or math.isnan(expected):
        if text != "":
            raise TableError(f"shows Δ {text!r} where none can be computed")
        return
    if not re.fullmatch(r"[-+]\d+\.\d+", text) or not agrees(text, expected, decimals):
        raise TableError(f"shows Δ {text!r}, recomputed {expected:+.{decimals + 3}f}")


def check_result_table(table: Mapping[str, Any], runs: Runs) -> int:
    """Check every cell of a table with a run_id column; returns the number of cells."""
    title, headers = table["title"], table["headers"]
    family = family_of(title)
    checked = 0
    if "banner" in table:
        check_banner(table, runs)
        check_notes(table, runs)
    for index, row in enumerate(table["rows"]):
        if len(row) != len(headers):
            raise TableError(f"{title!r}, row {index}: {len(row)} cells under {len(headers)} headers")
        cells = dict(zip(headers, row))
        label = cells.get("Model", "")
        where = f"{title!r}, row {index} ({label!r})"
        try:
            checked += _check_row(family, headers, cells, runs)
        except TableError as error:
            raise TableError(f"{where}: {error}") from None
    return checked


def _table_runs(table: Mapping[str, Any]) -> list[str]:
    """The run ids a result table shows, in order, each once."""
    index = list(table["headers"]).index("run_id")
    return list(dict.fromkeys(row[index] for row in table["rows"] if row[index]))


def check_banner(table: Mapping[str, Any], runs: Runs) -> None:
    """The banner above a result table names exactly the runs of its rows: their number,
    seeds, commits and profile, and says PHANTOM DATA exactly when one ran on phantoms."""
    title, text, shown = table["title"], table["banner"], _table_runs(table)
    if not text:
        raise TableError(f"{title!r}: no banner above the table")
    if not shown:
        if not text.startswith("No evaluated runs"):
            raise TableError(f"{title!r}: no run in the table, but the banner says {text!r}")
        return
    found = re.search(r"Profile '([^']+)'.*?; (\d+) run\(s\); seed\(s\) ([\d, ]+?)(?:;|\.).*commit\(s\) ([0-9a-f, ]+)\.$", text)
    if not found:
        raise TableError(f"{title!r}: banner {text!r} does not name profile, runs, seeds and commits")
    profile, count, seeds, commits = found.groups()
    records = [runs.record(run_id) for run_id in shown]
    expected = {
        "profile": {record["identity"]["profile"] for record in records} == {profile},
        "run count": int(count) == len(shown),
        "seeds": seeds.split(", ") == [str(seed) for seed in sorted({record["identity"]["seed"] for record in records})],
        "commits": commits.split(", ") == sorted({str(record["git_commit"])[:12] for record in records}),
        "phantom": text.startswith("PHANTOM DATA") == any(record["identity"]["is_phantom"] for record in records),
    }
    wrong = [name for name, ok in expected.items() if not ok]
    if wrong:
        raise TableError(f"{title!r}: banner {text!r} disagrees with the runs {shown} on {', '.join(wrong)}")


def check_notes(table: Mapping[str, Any], runs: Runs) -> None:
    """The notes under a result table that carry run results: the § note names exactly
    the runs whose values show §, and a seed table's range note equals the rows' range."""
    headers, rows = list(table["headers"]), table["rows"]
    for note in table["notes"]:
        if note.startswith(f"{NO_INTERVAL_MARK} no interval:"):
            marked = [row[headers.index("run_id")] for row in rows
                      if any(cell.endswith(f" {NO_INTERVAL_MARK}") for cell in row)]
            named = note.split(":", 1)[1].split(" was ")[0].split(" were ")[0].strip().split(", ")
            if sorted(dict.fromkeys(marked)) != sorted(named):
                raise TableError(f"{table['title']!r}: § note names {named}, § cells belong to {marked}")
        elif note.startswith("Range of the estimates over the "):
            count = int(re.match(r"Range of the estimates over the (\d+) seeds", note).group(1))
            if count != len(rows):
                raise TableError(f"{table['title']!r}: range note over {count} seeds, {len(rows)} rows")
            for part in note.split(" seeds: ", 1)[1].rstrip(".").split("; "):
                column, span = part.rsplit(" ", 1)
                low, high = span.split(DASH)
                values = [float(OURS.match(row[headers.index(f"{column} ours")]).group(1)) for row in rows]
                if not (agrees(low, min(values)) and agrees(high, max(values))):
                    raise TableError(f"{table['title']!r}: range note {column} {low}–{high}, rows "
                                     f"{min(values)}–{max(values)}")


def _check_row(family: Family, headers: Sequence[str], cells: Mapping[str, str], runs: Runs) -> int:
    label, run_id = cells.get("Model", ""), cells.get("run_id", "")
    identity = runs_identity = None
    if run_id:
        runs_identity = identity = runs.identity(run_id)
        record = runs.record(run_id)
        if record.get("run_id", run_id) != run_id:
            raise TableError(f"column 'run_id': {run_id!r} but its record.json says {record.get('run_id')!r}")
    # The row's label → the paper row (and the model its run must be of).
    paper_row: PaperRow | None = None
    labels = family.paper or family.labels
    if labels is not None:
        paper_row = next((row for row in labels.rows if row.label == label), None)
        if paper_row is None:
            raise TableError(f"column 'Model': {label!r} is no row of the paper's {labels.name}")
        if identity is not None:
            variants = (None, TWO_CLASS) if family.paper is TABLE4 else (None,)
            if identity["model"] != paper_row.model or identity.get("variant") not in variants:
                raise TableError(f"column 'Model': {label!r} is model {paper_row.model!r}, run {run_id!r} is "
                                 f"{identity['model']!r} variant {identity.get('variant')!r}")
    elif family.ablation_model is not None and identity is not None:
        variant = None if label == "default" else label
        if identity["model"] != family.ablation_model or identity.get("variant") != variant:
            raise TableError(f"column 'Model': {label!r} but run {run_id!r} is {identity['model']!r} variant "
                             f"{identity.get('variant')!r}")
    checked = 0
    for header in headers:
        text = cells[header]
        try:
            _check_cell(family, header, text, cells, run_id, runs_identity, paper_row, runs)
        except TableError as error:
            raise TableError(f"column {header!r}: {error}") from None
        checked += 1
    return checked


def _check_cell(family: Family, header: str, text: str, cells: Mapping[str, str], run_id: str,
                identity: Mapping[str, Any] | None, paper_row: PaperRow | None, runs: Runs) -> None:
    if header == "Model":
        if not text:
            raise TableError("no row label")
        return
    if header == "Source":
        if family.paper is not None:
            assert paper_row is not None
            expected = (QUOTED_NOT_RERUN if paper_row.model is None and paper_row.source == THIS_PAPER
                        else paper_row.source)
        elif family.published is not None:
            expected = REAL_SOURCE
        elif cells.get("Model") == "default":
            expected = ABLATION_DEFAULT_SOURCE
        else:  # a variant's description: free text
            if not text:
                raise TableError("no description of the variant")
            return
        if text != expected:
            raise TableError(f"{text!r}, expected {expected!r}")
        return
    if header in META:
        _check_meta(family, header, text, cells, run_id, identity, runs)
        return
    column, kind = _split_header(header, family)
    if kind == "paper":
        if text != _paper_text(paper_row, column):
            raise TableError(f"{text!r}, the paper prints {_paper_text(paper_row, column)!r}")
        return
    if kind == "published":
        if text != _paper_text(family.published, column):
            raise TableError(f"{text!r}, published {_paper_text(family.published, column)!r}")
        return
    value = family.value(runs, run_id, column) if run_id else None
    if kind == "ours":
        if not run_id:
            allowed = (DASH,) if paper_row is not None and paper_row.model is None else MISSING_OURS
            if text not in allowed:
                raise TableError(f"{text!r} in a row without a run (expected one of {allowed})")
            return
        _check_ours(text, value)
        return
    decimals = 3 if column.startswith("AP@") or column in REAL_DICE else 2
    if kind == "delta":
        assert family.paper is not None
        cell = paper_row.cell(column) if paper_row else None
        expected = None
        if (run_id and value is not None and cell is not None and not cell.uncertain and identity is not None
                and _on_paper_data(identity, family.paper)):
            expected = value.estimate - cell.value
        _check_delta(text, expected, decimals)
        return
    # variant − default of the same seed
    expected = None
    if run_id and identity is not None and identity.get("variant") is not None and value is not None:
        defaults = runs.find(identity["model"], None, identity["profile"], identity["seed"])
        if len(defaults) > 1:
            raise TableError(f"several default runs of seed {identity['seed']}: {defaults}")
        if defaults:
            base = family.value(runs, defaults[0], column)
            if base is not None:
                expected = value.estimate - base.estimate
    _check_delta(text, expected, decimals)


def _check_meta(family: Family, header: str, text: str, cells: Mapping[str, str], run_id: str,
                identity: Mapping[str, Any] | None, runs: Runs) -> None:
    if header == "status":
        if text not in STATUSES:
            raise TableError(f"unknown status {text!r}")
        return
    if not run_id:
        if text:
            raise TableError(f"{text!r} in a row without a run")
        return
    assert identity is not None
    record = runs.record(run_id)
    if header == "run_id":
        return  # its folder and record.json were read above
    if header == "seed":
        expected = str(identity["seed"])
    elif header == "profile":
        expected = str(identity["profile"])
    elif header == "data":
        expected = str(identity["data"])
    elif header == "provenance":
        provenance = record.get("provenance") or {}
        if provenance.get("source") == "store":
            if not re.match(r"^(STALE )?stored: trained ", text):
                raise TableError(f"{text!r} for a run copied from the result store")
            return
        expected = "recomputed in this build"
    elif header == "commit":
        if len(text) != 12 or not any(commit.startswith(text) for commit in runs.commits(run_id)):
            raise TableError(f"{text!r} is not the commit of run {run_id!r} ({sorted(runs.commits(run_id))})")
        return
    else:  # n: the slices of the result file the row's numbers come from
        ns = {value.n for column in family.columns for value in [family.value(runs, run_id, column)]
              if value is not None and value.n is not None}
        if len(ns) != 1:
            raise TableError(f"the result files of {run_id!r} give n = {sorted(ns)}")
        expected = str(ns.pop())
    if text != expected:
        raise TableError(f"{text!r}, run {run_id!r} has {expected!r}")


# --------------------------------------------------------------------------- seed summary
SUMMARY_PARTS = (" beyond seed noise", " Δ mean", " mean", " range")


def check_seed_summary(summary: Mapping[str, Any], ablation: Mapping[str, Any], runs: Runs) -> dict[str, list[str]]:
    """Check a seed-noise summary against the runs of ``ablation`` (the ablation table it
    summarises); returns ``{"yes": ["<arm> (<metric>)", ...]}``, the effects beyond the
    noise, in table order."""
    title = f"seed-noise summary of {ablation['title']!r}"
    family = family_of(ablation["title"])
    arms: dict[str, list[str]] = {}
    ablation_headers = ablation["headers"]
    for row in ablation["rows"]:
        cells = dict(zip(ablation_headers, row))
        if cells.get("run_id"):
            arms.setdefault(cells["Model"], []).append(cells["run_id"])
    headers = summary["headers"]

    def values(arm: str, column: str) -> list[float]:
        found = [family.value(runs, run_id, column) for run_id in arms.get(arm, [])]
        return [value.estimate for value in found if value is not None and not math.isnan(value.estimate)]

    beyond: list[str] = []
    for index, row in enumerate(summary["rows"]):
        cells = dict(zip(headers, row))
        arm = cells.get("arm", "")
        for header in headers:
            text = cells[header]
            where = f"{title}, row {index} ({arm!r}), column {header!r}"
            try:
                verdict = _check_summary_cell(header, text, index, arm, arms, runs, values)
            except TableError as error:
                raise TableError(f"{where}: {error}") from None
            if verdict:
                beyond.append(verdict)
        if len(row) != len(headers):
            raise TableError(f"{title}, row {index}: {len(row)} cells under {len(headers)} headers")
    return {"yes": beyond}


def _check_summary_cell(header: str, text: str, index: int, arm: str, arms: Mapping[str, list[str]], runs: Runs,
                        values: Callable[[str, str], list[float]]) -> str | None:
    if header == "":  # the pandas index
        if text != str(index):
            raise TableError(f"index {text!r}, expected {index}")
        return None
    if header == "arm":
        if arm not in arms:
            raise TableError(f"arm {arm!r} has no run in the ablation table")
        return None
    if header == "seeds":
        expected = ", ".join(str(seed) for seed in sorted(runs.identity(run_id)["seed"] for run_id in arms[arm]))
        if text != expected:
            raise TableError(f"{text!r}, the arm's runs have seeds {expected!r}")
        return None
    part = next((part for part in SUMMARY_PARTS if header.endswith(part)), None)
    column = header[: -len(part)] if part else None
    if column not in ABLATION_COLUMNS:
        raise TableError(f"unknown column {header!r}")
    places = 3 if column.startswith("AP@") else 2
    ours, base = values(arm, column), values("default", column)
    if part == " mean":
        _check_rounded(text, sum(ours) / len(ours) if ours else math.nan, places)
    elif part == " range":
        expected = "not run"
        if ours:
            match = re.fullmatch(rf"({NUMBER})–({NUMBER})", text)
            if not match or not (agrees(match.group(1), min(ours), places) and agrees(match.group(2), max(ours), places)):
                raise TableError(f"{text!r}, recomputed {min(ours):.{places + 3}f}–{max(ours):.{places + 3}f}")
        elif text != expected:
            raise TableError(f"{text!r}, expected {expected!r}")
    elif arm == "default":
        if text != "":
            raise TableError(f"{text!r} in the default's row")
    elif part == " Δ mean":
        _check_rounded(text, sum(ours) / len(ours) - sum(base) / len(base) if ours and base else math.nan, places)
    else:
        expected = ("1 seed" if len(ours) < 2 or len(base) < 2
                    else "yes" if min(ours) > max(base) or max(ours) < min(base) else "no")
        if text != expected:
            raise TableError(f"{text!r}, recomputed {expected!r}")
        return f"{arm} ({column})" if expected == "yes" else None
    return None


def _check_rounded(text: str, expected: float, places: int) -> None:
    """A value rounded to ``places`` that pandas prints with as few decimals as its column needs."""
    if math.isnan(expected):
        if text not in ("NaN", "nan", ""):
            raise TableError(f"{text!r} where nothing can be computed")
        return
    if not re.fullmatch(NUMBER, text) or decimals_of(text) > places or \
            abs(float(text) - expected) > 0.5 * 10 ** -places + 1e-9:
        raise TableError(f"{text!r}, recomputed {expected:.{places + 3}f} (to {places} decimals)")


# --------------------------------------------------------------------------- arms (claims)
def arm(runs: Runs, model: str, profile: str, metric: str, ap_variant: str = "per_image/all_classes") -> list[float]:
    """``metric`` of every default run of ``model`` in ``profile``, by seed (NaN dropped)."""
    found = []
    for run_id in runs.find(model, None, profile):
        if metric.startswith("AP@"):
            value = _segmentation(runs, run_id, ("ap", ap_variant, metric))
        else:
            value = _classification(runs, run_id, "test_metrics.json", CLASSIFICATION_METRIC[metric])
        if value is not None and not math.isnan(value.estimate):
            found.append(value.estimate)
    return found


def check_arm_text(text: str, values: Sequence[float], decimals: int) -> None:
    """``16.67 (16.67–16.67, 3 seeds)``, ``33.33 (1 seed)`` or ``not run`` against ``values``."""
    if not values:
        if text != "not run":
            raise TableError(f"{text!r} for a model with no run")
        return
    if len(values) == 1:
        match = re.fullmatch(rf"({NUMBER}) \(1 seed\)", text)
        if not match or not agrees(match.group(1), values[0], decimals):
            raise TableError(f"{text!r}, recomputed {values[0]:.{decimals + 3}f} (1 seed)")
        return
    match = re.fullmatch(rf"({NUMBER}) \(({NUMBER})–({NUMBER}), (\d+) seeds\)", text)
    expected = (sum(values) / len(values), min(values), max(values))
    if not match or int(match.group(4)) != len(values) or not all(
            agrees(shown, value, decimals) for shown, value in zip(match.groups()[:3], expected)):
        raise TableError(f"{text!r}, recomputed mean {expected[0]:.{decimals + 3}f}, range "
                         f"{expected[1]:.{decimals + 3}f}–{expected[2]:.{decimals + 3}f}, {len(values)} seeds")


def verdict(ours: Sequence[float], other: Sequence[float]) -> str:
    if not ours or not other:
        return "not run"
    if min(ours) > max(other):
        return "ahead" if len(ours) + len(other) > 2 else "one run each"
    if max(ours) < min(other):
        return "behind" if len(ours) + len(other) > 2 else "one run each"
    return "within the seed noise"


#: The words of a claim sentence that say its verdict.
VERDICT_WORDS = {"not run": "was not run", "one run each": "one run each", "within the seed noise": "the ranges overlap",
                 "ahead": "is ahead beyond the seed noise", "behind": "is behind beyond the seed noise"}


def check_claim(text: str, arms: Mapping[str, Sequence[float]], decimals: int) -> None:
    """``<model> <arm text> against <model> <arm text>: <verdict>`` against the recomputed arms."""
    match = re.fullmatch(r"(\S+) (.+?) against (\S+) (.+?): (.+)", text)
    if not match:
        raise TableError(f"cannot parse the claim {text!r}")
    ours, ours_text, other, other_text, rest = match.groups()
    for model, shown in ((ours, ours_text), (other, other_text)):
        if model not in arms:
            raise TableError(f"the claim {text!r} names {model!r}, which the test does not expect")
        check_arm_text(shown, arms[model], decimals)
    words = VERDICT_WORDS[verdict(arms[ours], arms[other])]
    if words not in rest:
        raise TableError(f"the claim {text!r} does not say {words!r}")


CLAIMS_HEADERS = ["", "classifier", "F1 (mean, range)", "one-shot model"]


def check_classifier_claims(table: Mapping[str, Any], runs: Runs, profile: str) -> int:
    """Chapter 4's table of the one-shot model's F1 against each classifier's."""
    one_shot = arm(runs, ONE_SHOT, profile, "F1")
    ran = {identity["model"] for record in runs.records.values() for identity in [record["identity"]]
           if identity["model"].startswith("classifier-") and identity["profile"] == profile}
    shown = set()
    for index, row in enumerate(table["rows"]):
        cells = dict(zip(table["headers"], row))
        model = cells["classifier"]
        where = f"classifier claims, row {index} ({model!r})"
        if cells[""] != str(index) or not model.startswith("classifier-"):
            raise TableError(f"{where}: index {cells['']!r}, classifier {model!r}")
        values = arm(runs, model, profile, "F1")
        try:
            check_arm_text(cells["F1 (mean, range)"], values, 2)
        except TableError as error:
            raise TableError(f"{where}, column 'F1 (mean, range)': {error}") from None
        if cells["one-shot model"] != verdict(one_shot, values):
            raise TableError(f"{where}, column 'one-shot model': {cells['one-shot model']!r}, recomputed "
                             f"{verdict(one_shot, values)!r}")
        shown.add(model)
    if not ran <= shown:
        raise TableError(f"classifier claims: no row for {sorted(ran - shown)}")
    return len(table["rows"]) * 4


# --------------------------------------------------------------------------- glue
GLUE_ROLE = re.compile(r"\{(glue[^}]*)\}`([^`]*)`")


def glue_values(notebook: Mapping[str, Any]) -> dict[str, str]:
    """Glued name → its ``text/plain`` in an executed notebook."""
    glued: dict[str, str] = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            name = (output.get("metadata") or {}).get("scrapbook", {}).get("name")
            if name is not None:
                text = output.get("data", {}).get("application/papermill.record/text/plain")
                if text is None:
                    raise TableError(f"glue {name!r} has no text/plain")
                glued[name] = "".join(text) if isinstance(text, list) else text
    return glued


def glue_references(notebook: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, format spec) of every ``{glue:text}`` role of the notebook's Markdown, in order."""
    found = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for role, content in GLUE_ROLE.findall(source):
            if role != "glue:text":
                raise TableError(f"glue role {{{role}}}`{content}`: only {{glue:text}} is checked; extend the test")
            name, _, spec = content.partition(":")
            found.append((name, spec))
    return found


def render_glue(text: str, spec: str) -> str:
    """How ``{glue:text}`` prints a glued text/plain with a format spec (myst-nb's rule)."""
    try:
        value: Any = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if not spec:
        return str(value)
    kind = spec[-1]
    value = str(value) if kind == "s" else int(value) if kind in "bcdoxX" else float(value) if kind in "eEfFgGn%" else value
    return format(value, spec)


@dataclass(frozen=True)
class Glue:
    """A glued result: the run (``model``, ``variant`` None, the chapter's profile or the
    real-data one, the chapter's seed) and its value, or a published value; ``template``
    is how the notebook prints it (``{}``: the role's format spec)."""

    model: str | None
    value: Callable[[Runs, str], float | str | None]  # (runs, run_id) → value
    real: bool = False
    template: str = "{}"


def _metric(metric: str, file: str = "test_metrics.json") -> Callable[[Runs, str], float | None]:
    def value(runs: Runs, run_id: str) -> float | None:
        found = _classification(runs, run_id, file, metric)
        return None if found is None else found.estimate
    return value


def _seg(*path: str) -> Callable[[Runs, str], float | None]:
    def value(runs: Runs, run_id: str) -> float | None:
        found = _segmentation(runs, run_id, path)
        return None if found is None else found.estimate
    return value


#: (chapter, glued name) → the result it names.
RESULT_GLUES: dict[tuple[str, str], Glue] = {
    ("02_model", "run_id"): Glue(ONE_SHOT, lambda runs, run_id: run_id),
    ("03_segmentation", "t1_ap50"): Glue(ONE_SHOT, _seg("ap", "per_image/all_classes", "AP@0.5")),
    ("03_segmentation", "t1_ap50_lesions"): Glue(ONE_SHOT, _seg("ap", "per_image/lesions", "AP@0.5")),
    ("03_segmentation", "t1_ap50_mask_rcnn"): Glue("mask-rcnn", _seg("ap", "per_image/all_classes", "AP@0.5")),
    ("03_segmentation", "t1_ap_mean"): Glue(ONE_SHOT, _seg("ap", "per_image/all_classes", "AP@[0.5:0.95]")),
    ("04_classification", "covid_sensitivity"): Glue(ONE_SHOT, _metric("sensitivity/COVID-19")),
    ("04_classification", "f1"): Glue(ONE_SHOT, _metric("f1")),
    ("04_classification", "covid_sensitivity_affinity"): Glue("one-shot-affinity", _metric("sensitivity/COVID-19")),
    ("04_classification", "f1_resnet50"): Glue("classifier-resnet50", _metric("f1")),
    ("06_attention", "run_id"): Glue(ONE_SHOT, lambda runs, run_id: run_id),
    ("06_attention", "test_f1"): Glue(ONE_SHOT, _metric("f1"), template="{} %"),
    ("06_attention", "test_accuracy"): Glue(ONE_SHOT, _metric("accuracy"), template="{} %"),
    ("06_attention", "test_n"): Glue(ONE_SHOT, lambda runs, run_id: (runs.results(run_id, "test_metrics.json") or {}).get("n")),
    ("07_real_ct", "real_f1"): Glue(ONE_SHOT, _metric("f1"), real=True),
    ("07_real_ct", "real_auc"): Glue(ONE_SHOT, _metric("auc"), real=True),
    ("07_real_ct", "xdnn_f1"): Glue(None, lambda runs, run_id: SARSCOV2_PUBLISHED.cells["F1"].value),
    ("07_real_ct", "real_ggo"): Glue(ONE_SHOT, _seg("dice", "mean_per_image", "GGO"), real=True),
    ("07_real_ct", "real_consolidation"): Glue(ONE_SHOT, _seg("dice", "mean_per_image", "consolidation"), real=True),
    ("07_real_ct", "real_infection"): Glue(ONE_SHOT, _seg("dice", "mean_per_image", "any lesion"), real=True),
    ("07_real_ct", "real_infection_mask_rcnn"): Glue("mask-rcnn", _seg("dice", "mean_per_image", "any lesion"), real=True),
}

#: (chapter, glued name) of the claims over several seeds, checked by :func:`check_glued_claims`.
CLAIM_GLUES: dict[tuple[str, str], str] = {
    ("03_segmentation", "claim_mask_rcnn"): "claim",
    ("03_segmentation", "claim_heads_only"): "claim",
    ("03_segmentation", "claim_affinity"): "claim",
    ("04_classification", "one_shot_f1_seeds"): "arm",
    ("04_classification", "best_classifier"): "best",
    ("04_classification", "best_classifier_f1"): "best arm",
    ("04_classification", "classifiers_one_shot_ahead"): "count ahead",
    ("04_classification", "classifiers_one_shot_within"): "count within the seed noise",
    ("04_classification", "classifiers_one_shot_behind"): "count behind",
    ("05_ablations", "effects_beyond_noise"): "beyond ablations",
    ("05_ablations", "ideas_beyond_noise"): "beyond ablation_ideas",
    ("07_real_ct", "real_claim_classification"): "claim",
    ("07_real_ct", "real_claim_segmentation"): "claim",
}

#: (chapter, glued name) of glues that name no result file: text, counts of things, the
#: config's values, or numbers the notebook computes from the model (chapter 6's attention),
#: checked only to be what the prose shows.
OTHER_GLUES: frozenset[tuple[str, str]] = frozenset({
    ("01_data", "ct1_test_slices"), ("01_data", "ct1_train_slices"), ("01_data", "ct1_holdout_slices"),
    ("01_data", "data_description"), ("01_data", "n_test_slices"), ("01_data", "n_seg_test"),
    ("02_model", "beta"), ("02_model", "channels"), ("02_model", "image_size"), ("02_model", "slice_file"),
    ("02_model", "roi_score_thresh"), ("02_model", "roi_nms_thresh"), ("02_model", "roi_order"),
    ("02_model", "trace_check"), ("02_model", "params_total"), ("02_model", "params_trainable"),
    ("02_model", "weight_copies"),
    ("06_attention", "uniform_alpha"), ("06_attention", "roi_order"), ("06_attention", "alpha_peak"),
    ("06_attention", "alpha_peak_ratio"), ("06_attention", "lesion_iou"), ("06_attention", "lesion_slices"),
    ("06_attention", "segmentation_slices"), ("06_attention", "share_uniform"), ("06_attention", "share_pos"),
    ("06_attention", "share_neg"), ("06_attention", "entropy_pos"), ("06_attention", "entropy_neg"),
})


def check_glue_text(shown: str, expected: float | str | None, template: str, spec: str) -> None:
    """The prose ``shown`` for a glued result: ``template`` around the value, which must
    agree with ``expected`` to the printed decimals (or be it, for text and integers)."""
    if expected is None:
        raise TableError(f"prose {shown!r}: the result file has no such value")
    head, _, tail = template.partition("{}")
    if not (shown.startswith(head) and shown.endswith(tail)):
        raise TableError(f"prose {shown!r} is not {template!r}")
    number = shown[len(head): len(shown) - len(tail)]
    if isinstance(expected, str) or isinstance(expected, int):
        if number != str(expected):
            raise TableError(f"prose {shown!r}, the result is {expected!r}")
        return
    decimals = int(spec[1:-1]) if re.fullmatch(r"\.\d+f", spec) else None
    if not agrees(number, float(expected), decimals):
        raise TableError(f"prose {shown!r}, the result is {expected!r}")


def check_glues(chapter: str, notebook: Mapping[str, Any], pasted: Sequence[str], runs: Runs, profile: str, seed: int,
                extra: Mapping[str, Callable[[str], None]] | None = None) -> int:
    """Every glue of a chapter: rendered as the page shows it, and checked against its
    result where it names one. ``extra`` checks the claim glues (name → check of its text)."""
    glued, references = glue_values(notebook), glue_references(notebook)
    rendered = []
    for name, spec in references:
        if name not in glued:
            raise TableError(f"{chapter}: the prose refers to glue {name!r}, which the notebook never glued")
        rendered.append(render_glue(glued[name], spec))
    for (name, _), shown, expected in zip(references, pasted, rendered):
        if shown != expected:
            raise TableError(f"{chapter}: the prose shows {shown!r} for glue {name!r}, which renders as {expected!r}")
    if len(pasted) != len(rendered):
        raise TableError(f"{chapter}: the page shows {len(pasted)} glued values, the notebook's prose refers to "
                         f"{len(rendered)}: {[name for name, _ in references]}")
    unreferenced = set(glued) - {name for name, _ in references}
    if unreferenced:
        raise TableError(f"{chapter}: glued but never shown in the prose: {sorted(unreferenced)}")
    specs = {name: spec for name, spec in references}
    shown_text = dict(zip((name for name, _ in references), rendered))
    for name in glued:
        key = (chapter, name)
        if key in RESULT_GLUES:
            glue = RESULT_GLUES[key]
            expected: float | str | None
            if glue.model is None:
                expected = glue.value(runs, "")
            else:
                found = runs.find(glue.model, None, REAL_DATA_PROFILE if glue.real else profile, seed)
                if len(found) != 1:
                    raise TableError(f"{chapter}: glue {name!r}: {len(found)} default runs of {glue.model!r} seed {seed}")
                expected = glue.value(runs, found[0])
            try:
                check_glue_text(shown_text[name], expected, glue.template, specs[name])
            except TableError as error:
                raise TableError(f"{chapter}: glue {name!r}: {error}") from None
        elif key in CLAIM_GLUES:
            if extra is None or name not in extra:
                raise TableError(f"{chapter}: glue {name!r} has no claim check")
            try:
                extra[name](shown_text[name])
            except TableError as error:
                raise TableError(f"{chapter}: glue {name!r}: {error}") from None
        elif key not in OTHER_GLUES:
            raise TableError(f"{chapter}: glue {name!r} is neither mapped to a result (RESULT_GLUES, CLAIM_GLUES) "
                             "nor listed in OTHER_GLUES")
    return len(glued)


def claim_checks(chapter: str, runs: Runs, profile: str, beyond: Mapping[str, list[str]]) -> dict[str, Callable[[str], None]]:
    """The checks of a chapter's claim glues (:data:`CLAIM_GLUES`)."""
    checks: dict[str, Callable[[str], None]] = {}
    if chapter == "03_segmentation":
        arms = {model: arm(runs, model, profile, "AP@0.5")
                for model in (ONE_SHOT, "mask-rcnn", "mask-rcnn-heads-only", "one-shot-affinity")}
        for name in ("claim_mask_rcnn", "claim_heads_only", "claim_affinity"):
            checks[name] = lambda text, arms=arms: check_claim(text, arms, 3)
    elif chapter == "04_classification":
        one_shot = arm(runs, ONE_SHOT, profile, "F1")
        classifiers = sorted({identity["model"] for record in runs.records.values() for identity in [record["identity"]]
                              if identity["model"].startswith("classifier-") and identity["profile"] == profile})
        arms = {model: arm(runs, model, profile, "F1") for model in classifiers}
        ran = {model: values for model, values in arms.items() if values}
        best = max(ran, key=lambda model: sum(ran[model]) / len(ran[model])) if ran else None

        def exact(expected: str) -> Callable[[str], None]:
            def check(text: str) -> None:
                if text != expected:
                    raise TableError(f"{text!r}, recomputed {expected!r}")
            return check

        checks["one_shot_f1_seeds"] = lambda text: check_arm_text(text, one_shot, 2)
        checks["best_classifier"] = exact(best or "none")
        checks["best_classifier_f1"] = ((lambda text: check_arm_text(text, ran[best], 2)) if best else exact("not run"))
        verdicts = [verdict(one_shot, values) for values in arms.values()]
        for name, what in (("classifiers_one_shot_ahead", "ahead"), ("classifiers_one_shot_within", "within the seed noise"),
                           ("classifiers_one_shot_behind", "behind")):
            checks[name] = exact(str(verdicts.count(what)))
    elif chapter == "05_ablations":
        for name, table in (("effects_beyond_noise", "ablations"), ("ideas_beyond_noise", "ablation_ideas")):
            if table in beyond:
                checks[name] = exact_list(beyond[table])
    elif chapter == "07_real_ct":
        from lstmattn.model.baselines import CLASSIFIERS, MASK_RCNN

        f1 = {model: arm(runs, model, REAL_DATA_PROFILE, "F1")
              for model in (ONE_SHOT, CLASSIFIERS["resnet18"], CLASSIFIERS["densenet121"])}
        ap = {model: arm(runs, model, REAL_DATA_PROFILE, "AP@0.5", "per_image/lesions") for model in (ONE_SHOT, MASK_RCNN)}
        checks["real_claim_classification"] = lambda text: check_claim(text, f1, 2)
        checks["real_claim_segmentation"] = lambda text: check_claim(text, ap, 3)
    return checks


def exact_list(items: Sequence[str]) -> Callable[[str], None]:
    expected = ", ".join(items) if items else "none"

    def check(text: str) -> None:
        if text != expected:
            raise TableError(f"{text!r}, the seed-noise summary on the page says {expected!r}")
    return check


def outside_requests(urls: Sequence[str]) -> list[str]:
    """The requests of a page that would leave the machine."""
    return [url for url in urls if not url.startswith(LOCAL_SCHEMES)]


def beyond_on_page(tables: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``"<arm> (<metric>)"`` of every "yes" verdict of each seed-noise summary on a page, by
    the family of the ablation table before it (the cells as printed, unchecked)."""
    beyond: dict[str, list[str]] = {}
    family = None
    for table in tables:
        if "run_id" in table["headers"] and table["title"].startswith("Ablations:"):
            family = "ablation_ideas" if "ideas" in table["title"] else "ablations"
        elif "arm" in table["headers"] and "seeds" in table["headers"] and family is not None:
            suffix = " beyond seed noise"
            beyond[family] = [f"{cells['arm']} ({header[: -len(suffix)]})" for row in table["rows"]
                              for cells in [dict(zip(table["headers"], row))]
                              for header in table["headers"] if header.endswith(suffix) and cells[header] == "yes"]
    return beyond


def check_page(name: str, tables: Sequence[Mapping[str, Any]], runs: Runs, profile: str) -> dict[str, Any]:
    """Every result table, seed summary and classifier-claims table of a page; returns the
    cells checked per family and the effects beyond the seed noise per summary."""
    checked: dict[str, int] = {}
    beyond: dict[str, list[str]] = {}
    last_ablation: Mapping[str, Any] | None = None
    for table in tables:
        headers = table["headers"]
        if "run_id" in headers:
            family = family_of(table["title"]).name
            checked[family] = checked.get(family, 0) + check_result_table(table, runs)
            if family == "Ablations":
                last_ablation = table
        elif "arm" in headers and "seeds" in headers:
            if last_ablation is None:
                raise TableError(f"{name}: a seed-noise summary before any ablation table")
            found = check_seed_summary(table, last_ablation, runs)
            key = "ablation_ideas" if "ideas" in last_ablation["title"] else "ablations"
            beyond[key] = found["yes"]
            checked[f"{key}_seed_summary"] = len(table["rows"]) * len(headers)
        elif headers == CLAIMS_HEADERS:
            checked["classifier claims"] = check_classifier_claims(table, runs, profile)
    return {"checked": checked, "beyond": beyond}


# =========================================================================== the built book
def _network_blocker(seen: list[str]) -> Callable[[Any], None]:
    """A route handler that lets local URLs through and aborts (and records) the rest. One
    parameter only: playwright passes the request too to a handler that takes two."""
    def handler(route: Any) -> None:
        url = route.request.url
        if outside_requests([url]):
            seen.append(url)
            route.abort()
        else:
            route.continue_()
    return handler


@pytest.fixture(scope="module")
def pages(playwright_api: ModuleType) -> dict[str, dict]:
    html = Path(BUILT_BOOK).resolve() / "_build" / "html"
    assert (html / "index.html").is_file(), f"no built site in {html}"
    loaded: dict[str, dict] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_FLAGS, headless=True)
        try:
            for path in sorted(html.glob("*.html")) + sorted((html / "notebooks").glob("*.html")):
                page = browser.new_page()
                errors: list[str] = []
                requests: list[str] = []
                page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))

                page.route("**/*", _network_blocker(requests))
                page.goto(path.as_uri(), wait_until="load")
                page.wait_for_timeout(200)  # index.html redirects to the first page
                page.wait_for_load_state("load")
                name = path.relative_to(html).as_posix()
                loaded[name] = {"errors": errors, "requests": requests,
                                "tables": page.eval_on_selector_all("table", TABLES_WITH_TITLES_JS),
                                "pasted": page.eval_on_selector_all(".pasted-text", PASTED_JS)}
                page.close()
        finally:
            browser.close()
    return loaded


@pytest.fixture(scope="module")
def book() -> dict[str, Any]:
    import yaml

    root = Path(BUILT_BOOK).resolve()
    profile = yaml.safe_load((root / "experiment.yaml").read_text())["profile"]
    return {"root": root, "profile": profile, "runs": Runs(Path(BUILT_RUNS).resolve())}


def _chapter_seed(notebook: Mapping[str, Any], root: Path) -> int:
    for cell in notebook["cells"]:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            parameters = ast.literal_eval(source.split("=", 1)[1].strip())
            if parameters.get("seed") is not None:
                return int(parameters["seed"])
    import yaml

    return int(yaml.safe_load((root / "experiment.yaml").read_text())["train"]["seed"])


@built_book
def test_no_page_of_the_whole_book_makes_a_network_request(pages: dict[str, dict]) -> None:
    assert {f"notebooks/0{n}_" for n in range(1, 8)} <= {name[:13] for name in pages}
    requested = {name: page["requests"] for name, page in pages.items() if page["requests"]}
    assert not requested, f"pages that reach for the network: {requested}"


@built_book
def test_every_page_of_the_whole_book_loads_without_console_errors(pages: dict[str, dict]) -> None:
    for name, page in pages.items():
        assert not page["errors"], f"{name}: {page['errors']}"


@built_book
def test_every_table_cell_equals_its_source(pages: dict[str, dict], book: dict[str, Any]) -> None:
    checked: dict[str, int] = {}
    for name, page in pages.items():
        found = check_page(name, page["tables"], book["runs"], book["profile"])
        page["beyond"] = found["beyond"]
        for family, count in found["checked"].items():
            checked[family] = checked.get(family, 0) + count
    expected = {"Table 1", "Table 2", "Table 3", "Table 4", "Ablations", "Real CT", "ablations_seed_summary",
                "ablation_ideas_seed_summary", "classifier claims"}
    assert expected <= set(checked), checked
    assert all(checked[family] for family in expected), checked


@built_book
def test_the_numbers_glued_into_the_prose_equal_their_results(pages: dict[str, dict], book: dict[str, Any]) -> None:
    notebooks = sorted((book["root"] / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 7, notebooks
    glued = 0
    for path in notebooks:
        chapter = path.stem
        notebook = json.loads(path.read_text())
        page = pages[f"notebooks/{chapter}.html"]
        beyond = beyond_on_page(page["tables"])  # the summaries' cells: test_every_table_cell_equals_its_source
        seed = _chapter_seed(notebook, book["root"])
        checks = claim_checks(chapter, book["runs"], book["profile"], beyond)
        glued += check_glues(chapter, notebook, page["pasted"], book["runs"], book["profile"], seed, checks)
    mapped = {chapter for chapter, _ in RESULT_GLUES} | {chapter for chapter, _ in CLAIM_GLUES}
    assert glued and mapped <= {path.stem for path in notebooks}


# =========================================================================== the helpers, on hand-made tables
def _write_run(root: Path, run_id: str, identity: dict, results: Mapping[str, dict], commit: str = "a" * 40) -> None:
    folder = root / run_id
    (folder / "results").mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps({"run_id": run_id, "identity": identity, "git_commit": commit}))
    for name, data in results.items():
        (folder / "results" / name).write_text(json.dumps({"commit": commit, **data}))


def _identity(model: str, seed: int = 0, variant: str | None = None, profile: str = "quick", phantom: bool = True) -> dict:
    return {"model": model, "variant": variant, "profile": profile, "seed": seed, "data": "phantoms",
            "is_phantom": phantom, "source": "phantom" if phantom else "covidx", "segmentation_source": "phantom"}


def _metrics(f1: float, covid: float = 0.5, n: int = 60) -> dict:
    entry = lambda v: {"estimate": v, "low": v - 0.1, "high": v + 0.05}  # noqa: E731
    return {"n": n, "class_names": ["Normal", "CP", "COVID-19"],
            "metrics": {"f1": entry(f1), "sensitivity/COVID-19": entry(covid), "sensitivity/CP": entry(0.25),
                        "sensitivity/Normal": entry(0.75), "sensitivity": entry(0.5), "precision": entry(0.4)}}


def _segmentation_file(ap50: float, n: int = 10) -> dict:
    ap = {"AP@0.5": ap50, "AP@0.75": ap50 / 2, "AP@[0.5:0.95]": ap50 / 3}
    return {"n": n, "ap": {"per_image/all_classes": ap, "per_image/lesions": ap}}


@pytest.fixture()
def fake_runs(tmp_path: Path) -> Runs:
    _write_run(tmp_path, "quick-one-shot-lstm-attention-s0", _identity(ONE_SHOT),
               {"test_metrics.json": _metrics(0.5), "segmentation_test.json": _segmentation_file(0.5)})
    _write_run(tmp_path, "quick-one-shot-lstm-attention-s1", _identity(ONE_SHOT, 1),
               {"test_metrics.json": _metrics(0.6), "segmentation_test.json": _segmentation_file(0.4)})
    for seed, f1 in ((0, 0.8), (1, 0.9)):
        _write_run(tmp_path, f"quick-one-shot-lstm-attention-x=1-s{seed}", _identity(ONE_SHOT, seed, "x=1"),
                   {"test_metrics.json": _metrics(f1), "segmentation_test.json": _segmentation_file(0.5)})
    _write_run(tmp_path, "quick-classifier-resnet18-s0", _identity("classifier-resnet18", phantom=False),
               {"test_metrics.json": _metrics(0.9)})
    return Runs(tmp_path)


def _table2(rows: list[list[str]], *, delta: bool = False) -> dict:
    headers = ["Model", "Source", "F1 paper", "F1 ours"] + (["F1 Δ"] if delta else []) + \
              ["COVID-19 paper", "COVID-19 ours", "run_id", "seed", "commit", "n", "provenance"]
    return {"title": "Table 2: image classification on the COVIDx-CT test split (21,191 slices)", "headers": headers,
            "rows": rows}


_ONE_SHOT_ROW = ["One Shot Model + LSTM+Attention", "this paper", "98.15", "50.00 (40.00–55.00)", "95.74",
                 "50.00 (40.00–55.00)", "quick-one-shot-lstm-attention-s0", "0", "a" * 12, "60", "recomputed in this build"]
_RESNET18_ROW = ["ResNet18", "this paper", "93.61", "90.00 (80.00–95.00)", "-3.61", "92.59", "50.00 (40.00–55.00)",
                 "quick-classifier-resnet18-s0", "0", "a" * 12, "60", "recomputed in this build"]
_QUOTED_ROW = ["DRE-Net [25]", QUOTED, "94 †", "–", "–", "–", "", "", "", "", ""]
_MASK_NET_ROW = ["COVID-CT-Mask-Net [23]", QUOTED_NOT_RERUN, "91.50", "–", "90.80", "–", "", "", "", "", ""]


def _raises(check: Callable[[], Any], *words: str) -> None:
    with pytest.raises(TableError) as caught:
        check()
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_a_result_table_that_equals_its_sources_passes(fake_runs: Runs) -> None:
    table = _table2([_ONE_SHOT_ROW, _MASK_NET_ROW, _QUOTED_ROW])
    assert check_result_table(table, fake_runs) == 3 * len(table["headers"])
    # ResNet18's run is on the paper's data (not a phantom): Δ = 90.00 − 93.61; the phantom run has none
    with_delta = _table2([_RESNET18_ROW, _ONE_SHOT_ROW[:4] + [""] + _ONE_SHOT_ROW[4:]], delta=True)
    assert check_result_table(with_delta, fake_runs) == 2 * len(with_delta["headers"])


@pytest.mark.parametrize("column, text, words", [
    (3, "50.01 (40.00–55.00)", ["F1 ours", "50.01"]),  # an estimate off by one in the last decimal
    (3, "50.00 (40.00–55.01)", ["F1 ours", "interval bound 55.01"]),
    (3, "50.0 (40.00–55.00)", ["F1 ours"]),  # other decimals than the table's
    (3, "50.00", ["without the interval"]),
    (3, "n/a", ["cannot parse 'n/a'"]),  # unparseable where a number is expected
    (2, "98.16", ["F1 paper", "98.15"]),  # the paper's printed text
    (4, "95.74 †", ["COVID-19 paper"]),  # a mark the paper cell does not carry
    (7, "1", ["column 'seed'"]),
    (8, "b" * 12, ["column 'commit'"]),
    (9, "59", ["column 'n'"]),
    (10, "stored: trained 2024-01-01 on x (fp32)", ["column 'provenance'"]),
    (1, "quoted, other data", ["column 'Source'"]),
    (0, "One Shot Model + LSTM", ["column 'Model'", "no row of the paper"]),
])
def test_a_result_table_cell_that_differs_from_its_source_fails(fake_runs: Runs, column: int, text: str,
                                                                 words: list[str]) -> None:
    row = list(_ONE_SHOT_ROW)
    row[column] = text
    _raises(lambda: check_result_table(_table2([row]), fake_runs), "Table 2", "row 0", *words)


def test_a_wrong_delta_an_unknown_column_or_table_fails(fake_runs: Runs) -> None:
    delta_row = list(_RESNET18_ROW)
    table = _table2([], delta=True)
    assert check_result_table({**table, "rows": [delta_row]}, fake_runs)
    delta_row[4] = "-3.62"
    _raises(lambda: check_result_table({**table, "rows": [delta_row]}, fake_runs), "column 'F1 Δ'", "-3.62")
    phantom_row = _ONE_SHOT_ROW[:4] + ["-48.15"] + _ONE_SHOT_ROW[4:]  # a phantom run: no Δ against the paper
    _raises(lambda: check_result_table({**table, "rows": [phantom_row]}, fake_runs), "where none can be computed")
    unknown = {**_table2([_ONE_SHOT_ROW + ["x"]]), "headers": _table2([])["headers"] + ["F1 median"]}
    _raises(lambda: check_result_table(unknown, fake_runs), "unknown column 'F1 median'")
    _raises(lambda: check_result_table({**_table2([_ONE_SHOT_ROW]), "title": "Table 9: new"}, fake_runs),
            "no family the test knows")
    quoted = list(_QUOTED_ROW)
    quoted[3] = "not run"
    _raises(lambda: check_result_table(_table2([quoted]), fake_runs), "row without a run")


def _table1(rows: list[list[str]]) -> dict:
    return {"title": "Table 1: lesion segmentation, mask AP on the 100-slice CNCB test split [per_image/all_classes]",
            "headers": ["Model", "Source", "AP@0.5 paper", "AP@0.5 ours", "run_id", "seed", "commit", "n", "provenance"],
            "rows": rows}


def test_table1_cells_show_the_interval_or_the_mark_of_a_file_without_one(fake_runs: Runs) -> None:
    """One-shot seed 0's segmentation file predates intervals; Mask R-CNN's has them."""
    with_intervals = _segmentation_file(0.3)
    with_intervals["intervals"] = {"n_resamples": 1000, "ap": {"per_image/all_classes": {
        "AP@0.5": {"estimate": 0.3, "low": 0.28, "high": 0.32, "confidence": 0.95}}}}
    _write_run(fake_runs.root, "quick-mask-rcnn-s0", _identity("mask-rcnn"), {"segmentation_test.json": with_intervals})
    runs = Runs(fake_runs.root)
    old = ["One Shot Model + LSTM+Attention", "this paper", "0.605", "0.500 §", "quick-one-shot-lstm-attention-s0", "0",
           "a" * 12, "10", "recomputed in this build"]
    new = ["Mask R-CNN", "this paper", "0.502", "0.300 (0.280–0.320)", "quick-mask-rcnn-s0", "0", "a" * 12, "10",
           "recomputed in this build"]
    assert check_result_table(_table1([old, new]), runs) == 2 * 9
    for row, text, words in ((old, "0.500", ["without the § mark"]),
                             (old, "0.500 (0.480–0.520) §", ["an interval", "does not have"]),
                             (new, "0.300", ["without the interval"]),
                             (new, "0.300 §", ["§ mark", "not missing an interval"]),
                             (new, "0.300 (0.280–0.321)", ["interval bound 0.321"])):
        changed = row[:3] + [text] + row[4:]
        _raises(lambda: check_result_table(_table1([changed]), runs), "Table 1", "AP@0.5 ours", *words)


def _ablation(rows: list[list[str]]) -> dict:
    return {"title": "Ablations: paper vs reference code (one-shot-lstm-attention)",
            "headers": ["Model", "Source", "F1 ours", "F1 Δ vs default", "AP@0.5 ours", "AP@0.5 Δ vs default", "run_id",
                        "seed", "commit", "n", "provenance"], "rows": rows}


_ABLATION_ROWS = [
    ["default", ABLATION_DEFAULT_SOURCE, "50.00 (40.00–55.00)", "", "0.500", "", "quick-one-shot-lstm-attention-s0",
     "0", "a" * 12, "60", "recomputed in this build"],
    ["default", ABLATION_DEFAULT_SOURCE, "60.00 (50.00–65.00)", "", "0.400", "", "quick-one-shot-lstm-attention-s1",
     "1", "a" * 12, "60", "recomputed in this build"],
    ["x=1", "code: x", "80.00 (70.00–85.00)", "+30.00", "0.500", "+0.000", "quick-one-shot-lstm-attention-x=1-s0",
     "0", "a" * 12, "60", "recomputed in this build"],
    ["x=1", "code: x", "90.00 (80.00–95.00)", "+30.00", "0.500", "+0.100", "quick-one-shot-lstm-attention-x=1-s1",
     "1", "a" * 12, "60", "recomputed in this build"],
]

_SUMMARY = {"title": "", "headers": ["", "arm", "seeds", "F1 mean", "F1 range", "F1 Δ mean", "F1 beyond seed noise",
                                     "AP@0.5 mean", "AP@0.5 range", "AP@0.5 Δ mean", "AP@0.5 beyond seed noise"],
            "rows": [["0", "default", "0, 1", "55.0", "50.00–60.00", "", "", "0.45", "0.400–0.500", "", ""],
                     ["1", "x=1", "0, 1", "85.0", "80.00–90.00", "30.0", "yes", "0.5", "0.500–0.500", "0.05", "no"]]}


def test_the_ablation_table_and_its_seed_summary_are_recomputed(fake_runs: Runs) -> None:
    ablation = _ablation([list(row) for row in _ABLATION_ROWS])
    found = check_page("05", [ablation, _SUMMARY], fake_runs, "quick")
    assert found["beyond"] == {"ablations": ["x=1 (F1)"]}
    assert set(found["checked"]) == {"Ablations", "ablations_seed_summary"}
    wrong = [list(row) for row in _ABLATION_ROWS]
    wrong[3][3] = "+20.00"
    _raises(lambda: check_page("05", [_ablation(wrong)], fake_runs, "quick"), "row 3 ('x=1')", "F1 Δ vs default")
    wrong = [list(row) for row in _ABLATION_ROWS]
    wrong[2][0] = "y=2"
    _raises(lambda: check_page("05", [_ablation(wrong)], fake_runs, "quick"), "column 'Model'")
    for row, column, text, words in ((1, 3, "84.0", "F1 mean"), (1, 4, "80.00–91.00", "F1 range"),
                                      (1, 5, "29.0", "F1 Δ mean"), (1, 10, "yes", "beyond seed noise"),
                                      (0, 2, "0, 1, 2", "seeds"), (0, 5, "0.0", "default")):
        summary = {**_SUMMARY, "rows": [list(r) for r in _SUMMARY["rows"]]}
        summary["rows"][row][column] = text
        _raises(lambda: check_page("05", [ablation, summary], fake_runs, "quick"), "seed-noise summary", words)
    unknown = {**_SUMMARY, "headers": _SUMMARY["headers"][:-1] + ["AP@0.5 median"]}
    _raises(lambda: check_page("05", [ablation, unknown], fake_runs, "quick"), "unknown column 'AP@0.5 median'")


def _notebook(glues: Mapping[str, str], prose: str) -> dict:
    outputs = [{"output_type": "display_data", "metadata": {"scrapbook": {"name": name}},
                "data": {"application/papermill.record/text/plain": text}} for name, text in glues.items()]
    return {"cells": [{"cell_type": "code", "source": "", "outputs": outputs},
                      {"cell_type": "markdown", "source": prose}]}


def test_the_glued_numbers_must_be_the_prose_and_their_results(fake_runs: Runs) -> None:
    notebook = _notebook({"f1": "50.0", "covid_sensitivity": "50.0", "f1_resnet50": "1.0",
                          "covid_sensitivity_affinity": "2.0"},
                         "F1 {glue:text}`f1:.2f` and {glue:text}`covid_sensitivity:.2f`.")
    assert render_glue("'21,191'", "") == "21,191" and render_glue("16.666", ".2f") == "16.67"
    pasted = ["50.00", "50.00"]
    del notebook["cells"][0]["outputs"][2:]  # f1_resnet50 and the affinity's: no such runs here
    assert check_glues("04_classification", notebook, pasted, fake_runs, "quick", 0, {}) == 2
    _raises(lambda: check_glues("04_classification", notebook, ["50.00", "50.01"], fake_runs, "quick", 0, {}),
            "the prose shows")
    tampered = _notebook({"f1": "49.0", "covid_sensitivity": "50.0"}, notebook["cells"][1]["source"])
    _raises(lambda: check_glues("04_classification", tampered, ["49.00", "50.00"], fake_runs, "quick", 0, {}),
            "glue 'f1'", "the result is")
    unmapped = _notebook({"f1": "50.0", "new_number": "3"}, "{glue:text}`f1:.2f` {glue:text}`new_number`")
    _raises(lambda: check_glues("04_classification", unmapped, ["50.00", "3"], fake_runs, "quick", 0, {}),
            "'new_number' is neither mapped")
    unshown = _notebook({"f1": "50.0", "covid_sensitivity": "50.0"}, "{glue:text}`f1:.2f`")
    _raises(lambda: check_glues("04_classification", unshown, ["50.00"], fake_runs, "quick", 0, {}), "never shown")
    check_glue_text("50.00 %", 50.0, "{} %", "")
    _raises(lambda: check_glue_text("50.01 %", 50.0, "{} %", ""), "the result is")


def test_claims_and_arms_are_recomputed() -> None:
    arms = {"a": [50.0, 60.0], "b": [90.0]}
    check_arm_text("55.00 (50.00–60.00, 2 seeds)", arms["a"], 2)
    check_arm_text("90.00 (1 seed)", arms["b"], 2)
    check_arm_text("not run", [], 2)
    _raises(lambda: check_arm_text("55.00 (50.00–60.00, 3 seeds)", arms["a"], 2), "2 seeds")
    check_claim("a 55.00 (50.00–60.00, 2 seeds) against b 90.00 (1 seed): a is behind beyond the seed noise (the ranges "
                "do not overlap).", arms, 2)
    _raises(lambda: check_claim("a 55.00 (50.00–60.00, 2 seeds) against b 90.00 (1 seed): the ranges overlap, so this "
                                "profile cannot tell the two apart.", arms, 2), "is behind")


def test_network_requests_are_found() -> None:
    assert outside_requests(["file:///a.html", "data:image/png;base64,x", "about:blank", "blob:x"]) == []
    assert outside_requests(["file:///a.html", "https://cdn.example/x.js"]) == ["https://cdn.example/x.js"]


# =========================================================================== the results page
@built_book
def test_the_results_page_repeats_the_chapters_tables_and_its_downloads_exist(pages: dict[str, dict]) -> None:
    """The Results page (``lstmattn/book/results_page.py``) shows the result tables of the
    chapters under their titles; test_every_table_cell_equals_its_source checks its cells
    against the run files as it checks the chapters'. Every download it links is in the site."""
    def titles(page: Mapping[str, Any]) -> list[str]:
        return [table["title"] for table in page["tables"] if "run_id" in table["headers"]]

    assert "results.html" in pages, "the whole book has result tables, so it must have its Results page"
    shown = titles(pages["results.html"])
    in_chapters = {title for name, page in pages.items() if name.startswith("notebooks/") for title in titles(page)}
    assert shown and set(shown) <= in_chapters, sorted(set(shown) - in_chapters)
    assert len(shown) == len(set(shown)), "a table shown twice on the Results page"
    html = Path(BUILT_BOOK).resolve() / "_build" / "html"
    links = re.findall(r'href="(_downloads/[^"]+)"', (html / "results.html").read_text(encoding="utf-8"))
    assert {link.rsplit("/", 1)[1] for link in links} >= {"record.json", "config.yaml"}
    assert all((html / link).is_file() for link in links), [link for link in links if not (html / link).is_file()]


_BANNER = ("PHANTOM DATA — these numbers are NOT a reproduction of the paper: the models were trained and tested on "
           "phantoms. Profile 'quick' (reduced settings, not the paper's training schedule); 2 run(s); seed(s) 0, 1; "
           f"evaluated checkpoint(s) last; commit(s) {'a' * 12}.")
_SEED_ONE_ROW = _ONE_SHOT_ROW[:3] + ["60.00 (50.00–65.00)", "95.74", "50.00 (40.00–55.00)",
                                     "quick-one-shot-lstm-attention-s1", "1", "a" * 12, "60", "recomputed in this build"]


def test_the_banner_and_the_notes_of_a_result_table_name_its_runs(fake_runs: Runs) -> None:
    range_note = "Range of the estimates over the 2 seeds: F1 50.00–60.00; COVID-19 50.00–50.00."
    check_notes({"title": "Table 1: x [per_image/all_classes]", "headers": ["AP@[0.5:0.95] ours", "run_id"],
                 "rows": [["0.526 (0.500–0.600)", "a"], ["0.565 §", "b"]],
                 "notes": ["Range of the estimates over the 2 seeds: AP@[0.5:0.95] 0.526–0.565."]}, fake_runs)
    table = {**_table2([_ONE_SHOT_ROW, _SEED_ONE_ROW]), "banner": _BANNER, "notes": [range_note, "a plain note"]}
    check_banner(table, fake_runs)
    check_notes(table, fake_runs)
    assert check_result_table(table, fake_runs) == 2 * len(table["headers"])
    _raises(lambda: check_banner({**table, "banner": _BANNER.replace("2 run(s)", "3 run(s)")}, fake_runs), "run count")
    _raises(lambda: check_banner({**table, "banner": _BANNER.replace("seed(s) 0, 1", "seed(s) 0")}, fake_runs), "seeds")
    _raises(lambda: check_banner({**table, "banner": _BANNER.replace("a" * 12, "b" * 12)}, fake_runs), "commits")
    _raises(lambda: check_banner({**table, "banner": _BANNER.replace("'quick'", "'paper'")}, fake_runs), "profile")
    _raises(lambda: check_banner({**table, "banner": _BANNER.replace("PHANTOM DATA", "Data")}, fake_runs), "phantom")
    _raises(lambda: check_banner({**table, "banner": ""}, fake_runs), "no banner")
    _raises(lambda: check_notes({**table, "notes": [range_note.replace("60.00", "61.00")]}, fake_runs), "range note F1")
    _raises(lambda: check_notes({**table, "notes": [range_note.replace("2 seeds", "3 seeds")]}, fake_runs), "3 seeds")
    marked = dict(table, rows=[_ONE_SHOT_ROW[:3] + ["50.00 §"] + _ONE_SHOT_ROW[4:], _SEED_ONE_ROW])
    good = f"§ no interval: {_ONE_SHOT_ROW[6]} was evaluated before the per-slice scores were kept."
    check_notes({**marked, "notes": [good]}, fake_runs)
    _raises(lambda: check_notes({**marked, "notes": [good.replace(_ONE_SHOT_ROW[6], _SEED_ONE_ROW[6])]}, fake_runs),
            "§ note")
