"""The tables of a whole built book (chapters 3-5 and 7) against the runs' result files.

Skipped unless ``LSTMATTN_BUILT_BOOK`` names a book build folder (``--out`` of
``lstmattn book build``) and ``LSTMATTN_BUILT_RUNS`` its runs folder; ``.ci/run`` sets
both after its smoke build of every chapter. Building chapters 3-5 trains 27 runs, too
slow for the unit tests, which build a small book (``tests/test_site.py``).

Every page of the site must load offline without console errors, and every "ours" cell
of Tables 1-4 and of the ablation table must equal, to the printed decimals, the value
in the result file of the run named in its row: ``test_metrics.json`` (Table 2, Table 4,
ablations), ``holdout_metrics.json`` (Table 3) and ``segmentation_test.json`` (Table 1 and
the ablations' AP); so must every "ours" cell of chapter 7's real-CT tables (two-class
``test_metrics.json``; MedSeg Dice and AP in ``segmentation_test.json``). The cell →
metric mapping is written out here independently of :mod:`lstmattn.tables`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import ModuleType

import pytest

from test_site import CHROMIUM, LAUNCH_FLAGS

BUILT_BOOK = os.environ.get("LSTMATTN_BUILT_BOOK")
BUILT_RUNS = os.environ.get("LSTMATTN_BUILT_RUNS")

pytestmark = [
    pytest.mark.skipif(not (BUILT_BOOK and BUILT_RUNS), reason="set LSTMATTN_BUILT_BOOK and LSTMATTN_BUILT_RUNS (.ci/run does)"),
    pytest.mark.usefixtures("chromium"),  # skipped without it (failed under LSTMATTN_REQUIRE_BROWSER=1)
]

#: Each table's title (the bold line above it) → what its cells are read from.
TABLES_WITH_TITLES_JS = """
tables => tables.map(t => ({
  title: t.previousElementSibling ? t.previousElementSibling.textContent.trim() : "",
  headers: Array.from(t.querySelectorAll('thead tr:last-child th')).map(c => c.textContent.trim()),
  rows: Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.querySelectorAll('th, td')).map(c => c.textContent.trim())),
}))
"""

CLASSIFICATION_METRIC = {"COVID-19": "sensitivity/COVID-19", "CP": "sensitivity/CP", "F1": "f1",
                         "Sensitivity": "sensitivity", "Precision": "precision"}
REAL_CLASSIFICATION_METRIC = {"Sensitivity COVID-19": "sensitivity/COVID-19", "Sensitivity Negative": "sensitivity/Negative",
                              "Precision COVID-19": "precision/COVID-19", "Precision Negative": "precision/Negative",
                              "F1": "f1", "Accuracy": "accuracy", "AUC": "auc"}
REAL_DICE = {"GGO Dice": "GGO", "Consolidation Dice": "consolidation", "Infection Dice": "any lesion"}
NUMBER = re.compile(r"^(-?\d+\.\d+)(?: \((-?\d+\.\d+)–(-?\d+\.\d+)\))?$")


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
                page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
                page.route("**/*", lambda route: route.continue_()
                           if route.request.url.startswith(("file://", "data:", "blob:", "about:")) else route.abort())
                page.goto(path.as_uri(), wait_until="load")
                page.wait_for_timeout(200)  # index.html redirects to the first page
                page.wait_for_load_state("load")
                name = path.relative_to(html).as_posix()
                loaded[name] = {"errors": errors, "tables": page.eval_on_selector_all("table.dataframe", TABLES_WITH_TITLES_JS)}
                page.close()
        finally:
            browser.close()
    return loaded


def _results(run_id: str, name: str) -> dict:
    path = Path(BUILT_RUNS).resolve() / run_id / "results" / name
    assert path.is_file(), f"the table names run {run_id}, which has no {name}"
    return json.loads(path.read_text())


def _expected(title: str, column: str, run_id: str) -> tuple[list[float], int]:
    """(estimate, low, high) of the cell, in the printed unit, and the printed decimals."""
    if column in REAL_DICE:
        return [_results(run_id, "segmentation_test.json")["dice"]["mean_per_image"][REAL_DICE[column]]], 3
    segmentation = column.startswith("AP@")
    if segmentation:
        variant = re.search(r"\[(.+)\]", title)
        ap = _results(run_id, "segmentation_test.json")["ap"][variant.group(1) if variant else "per_image/all_classes"]
        return [ap[column]], 3
    split = "holdout" if title.startswith("Table 3") else "test"
    metrics = _results(run_id, f"{split}_metrics.json")
    key = (REAL_CLASSIFICATION_METRIC if title.startswith("Real CT") else CLASSIFICATION_METRIC).get(column)
    if column == "Negative":
        key = "sensitivity/" + ("Negative" if "Negative" in metrics["class_names"] else "Normal")
    entry = metrics["metrics"][key]
    return [100 * entry["estimate"], 100 * entry["low"], 100 * entry["high"]], 2


def test_every_page_of_the_whole_book_loads_without_console_errors(pages: dict[str, dict]) -> None:
    assert {f"notebooks/0{n}_" for n in range(1, 8)} <= {name[:13] for name in pages}
    for name, page in pages.items():
        assert not page["errors"], f"{name}: {page['errors']}"


def test_result_tables_equal_the_result_files(pages: dict[str, dict]) -> None:
    checked: dict[str, int] = {}
    for name, page in pages.items():
        for table in page["tables"]:
            headers, title = table["headers"], table["title"]
            if "run_id" not in headers:
                continue
            for row in table["rows"]:
                cells = dict(zip(headers, row[-len(headers):]))
                if not cells["run_id"]:
                    continue
                for header, text in cells.items():
                    if not header.endswith(" ours") or not NUMBER.match(text):
                        continue
                    column = header[: -len(" ours")]
                    expected, decimals = _expected(title, column, cells["run_id"])
                    shown = [float(v) for v in NUMBER.match(text).groups() if v is not None]
                    assert shown == [round(v, decimals) for v in expected[: len(shown)]], (name, title, cells["run_id"], header)
                    checked[title.split(":")[0]] = checked.get(title.split(":")[0], 0) + 1
    assert {"Table 1", "Table 2", "Table 3", "Table 4", "Ablations", "Real CT"} <= set(checked), checked
