"""The book's Results page (:mod:`lstmattn.book.results_page`), from a small fake build.

The build folder is made by hand: executed chapter notebooks that call ``write_table``,
tables written with :func:`~lstmattn.tables.write_table` from run folders of
:func:`result_fixtures.make_run`, and a ``provenance.json``-like record. The sources are
staged with :func:`lstmattn.book.site.stage_sources` as a build does; no chapter runs and
no site is rendered (``tests/test_built_book.py`` opens the page of a whole built book).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

from lstmattn.book import results_page, site
from lstmattn.book.site import BookError
from lstmattn.io import atomic_write_json
from lstmattn.tables import table1, table2, write_table
from result_fixtures import THREE, classification, make_run, segmentation

ROOT = Path(__file__).resolve().parents[1]
ONE_SHOT = "quick-one-shot-lstm-attention-s0"
MASK_RCNN = "quick-mask-rcnn-s0"


def _notebook(path: Path, *code: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"),
                      *(nbformat.v4.new_code_cell(source) for source in code)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def _stored_record(folder: Path) -> None:
    record = json.loads((folder / "record.json").read_text())
    record["provenance"] = {"source": "store", "trained": {"finished": "2026-12-07T10:00:00", "device": "cpu"}}
    atomic_write_json(record, folder / "record.json")


@pytest.fixture
def build(tmp_path: Path) -> dict:
    """A build folder: runs, tables written by chapters 3 and 4, executed notebooks."""
    runs = tmp_path / "runs"
    make_run(runs, "one-shot-lstm-attention", segmentation=segmentation(0.4),
             test=classification(THREE, {"Normal": 0.9, "CP": 0.8, "COVID-19": 0.75}, 0.81))
    make_run(runs, "mask-rcnn", segmentation=segmentation(0.3))
    for run_id in (ONE_SHOT, MASK_RCNN):
        (runs / run_id / "config.yaml").write_text(f"# {run_id}\nprofile: quick\n")
    _stored_record(runs / MASK_RCNN)
    tables = runs / "tables"
    write_table(table1(runs, "quick"), tables, "table1")
    write_table(table1(runs, "quick", ap_variant="per_image/lesions"), tables, "table1_lesions")
    write_table(table2(runs, "quick"), tables, "table2")
    write_table(table2(runs, "quick"), tables, "table4")  # an earlier build's file: no executed chapter writes it
    notebooks = tmp_path / "_build" / "notebooks"
    executed = {
        1: _notebook(notebooks / "01_data.ipynb", "print('no table here')"),
        # written in another order than the paper's: the page follows the paper
        3: _notebook(notebooks / "03_segmentation.ipynb", 'write_table(t1_lesions, tables_dir, "table1_lesions")',
                     'write_table(t1, tables_dir, "table1")'),
        4: _notebook(notebooks / "04_classification.ipynb", 'write_table(t2, tables_dir, "table2")\nt2'),
        5: _notebook(notebooks / "05_ablations.ipynb", 'write_table(t3, tables_dir, "table3")'),  # never written
    }
    provenance = {"runs": [
        {"label": "one-shot", "run_id": ONE_SHOT, "action": "live", "reason": "the live sample", "stale": False,
         "entry": None, "stored": None},
        {"label": "mask-rcnn", "run_id": MASK_RCNN, "action": "stored", "reason": "fresh", "stale": False,
         "entry": "quick-mask-rcnn-s0", "stored": {"description": "trained 2026-12-07 on AMD EPYC (float32)"}},
    ], "live": [{"live_run": ONE_SHOT, "summary": "consistent with its stored twin"}]}
    return {"root": tmp_path, "runs": runs, "tables": tables, "executed": executed, "provenance": provenance}


def _stage(build: dict, provenance: dict | None = None) -> tuple[Path, Path | None]:
    source = site.stage_sources(build["executed"], out=build["root"] / "_build")
    page = results_page.write_results_page(source, executed=build["executed"], tables_dir=build["tables"],
                                           runs_root=build["runs"], provenance=provenance)
    return source, page


def _toc_files(source: Path) -> list[str]:
    return [entry["file"] for entry in site._toc_entries(yaml.safe_load((source / "_toc.yml").read_text()))]


def _sections(text: str) -> dict[str, str]:
    """Heading's table name → the section's text."""
    parts = re.split(r"^## .*\(`(\w+)`\)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_the_page_shows_each_table_in_paper_order_with_chapter_sources_and_downloads(build: dict) -> None:
    source, page = _stage(build, build["provenance"])
    assert page == source / "results.md"
    text = page.read_text()
    assert results_page.RESULTS_MARKER not in text and text.startswith("# Results")
    sections = _sections(text)
    assert list(sections) == ["table1", "table1_lesions", "table2"]
    assert "results" in _toc_files(source)

    for name, chapter in (("table1", "03_segmentation"), ("table1_lesions", "03_segmentation"),
                          ("table2", "04_classification")):
        section = sections[name]
        assert f"{{doc}}`/notebooks/{chapter}`" in section
        assert "profile: quick" in section and "data: synthetic CT phantoms" in section
        markdown = (build["tables"] / f"{name}.md").read_text().splitlines()
        banner, title = markdown[0], markdown[2][2:-2]
        assert banner.startswith("PHANTOM DATA") and banner in section.replace("&#x27;", "'")
        assert f"<p><b>{title}</b></p>\n<table" in section  # the title is the table's previous sibling
        csv = f"{results_page.FILES_FOLDER}/tables/{name}.csv"
        assert f"{{download}}`{name}.csv <{csv}>`" in section
        assert (source / csv).read_bytes() == (build["tables"] / f"{name}.csv").read_bytes()

    one_shot_row = next(line for line in sections["table1"].splitlines() if line.startswith(f"| `{ONE_SHOT}`"))
    assert "**recomputed live**" in one_shot_row and "consistent with its stored twin" in one_shot_row
    mask_row = next(line for line in sections["table1"].splitlines() if line.startswith(f"| `{MASK_RCNN}`"))
    assert "**stored entry**" in mask_row and "AMD EPYC" in mask_row
    for run_id in (ONE_SHOT, MASK_RCNN):
        for name in ("record.json", "config.yaml"):
            target = f"{results_page.FILES_FOLDER}/runs/{run_id}/{name}"
            assert f"{{download}}`{name} <{target}>`" in sections["table1"]
            assert (source / target).read_bytes() == (build["runs"] / run_id / name).read_bytes()
    assert f"`{MASK_RCNN}`" not in sections["table2"]  # Table 2 names only its own runs
    assert "3 table(s) from chapter(s) 3, 4, filled by 2 run(s): 1 stored entry, 1 recomputed live, " \
           "0 trained in this build." in text


def _html_table(text: str) -> tuple[list[str], list[list[str]]]:
    """(header, body rows) of one HTML table, as the browser's textContent reads them."""
    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append("".join(self.cell).strip())
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = Cells()
    parser.feed(text)
    return parser.rows[0], parser.rows[1:]


def test_the_table_cells_are_those_the_chapter_wrote(build: dict) -> None:
    source, _ = _stage(build, build["provenance"])
    written = results_page.read_table("table2", 4, "notebooks/04_classification", build["tables"])
    shown = table2(build["runs"], "quick").display_frame()
    assert written.header == tuple(shown.columns)
    assert [list(row) for row in written.rows] == shown.astype(str).values.tolist()
    assert written.run_ids == (ONE_SHOT,) and written.profiles == ("quick",)
    html = _sections((source / "results.md").read_text())["table2"]
    header, rows = _html_table(html[html.index("<table"):html.index("</table>") + 8])
    assert header == list(written.header) and rows == [list(row) for row in written.rows]
    assert "\n\n" not in html[html.index('<div class="lstmattn-results-table">'):html.index("</table>")]


def test_missing_and_stale_tables_are_skipped(build: dict) -> None:
    source, _ = _stage(build, build["provenance"])
    names = set(_sections((source / "results.md").read_text()))
    assert "table3" not in names  # chapter 5 writes it, but not in this build
    assert "table4" not in names  # on disk, but no executed chapter writes it
    assert not (source / results_page.FILES_FOLDER / "tables" / "table4.csv").exists()


def test_runs_absent_from_provenance_still_render(build: dict) -> None:
    provenance = {"runs": [], "live": []}
    source, page = _stage(build, provenance)
    sections = _sections(page.read_text())
    rows = {run_id: next(line for line in sections["table1"].splitlines() if line.startswith(f"| `{run_id}`"))
            for run_id in (ONE_SHOT, MASK_RCNN)}
    assert "not in this build's provenance.json" in rows[MASK_RCNN] and "**stored entry**" in rows[MASK_RCNN]
    assert "**source unknown**" in rows[ONE_SHOT] and "not copied from the result store" in rows[ONE_SHOT]
    assert (source / results_page.FILES_FOLDER / "runs" / ONE_SHOT / "record.json").is_file()
    # and with no provenance.json at all (--store off)
    _, page = _stage(build, None)
    assert "0 recomputed live, 0 trained in this build, 1 not in this build's provenance.json" in page.read_text()


def test_a_table_with_no_run_renders_and_a_missing_run_folder_is_named(build: dict, tmp_path: Path) -> None:
    empty = tmp_path / "empty-runs"
    empty.mkdir()
    write_table(table2(empty, "quick"), build["tables"], "table2")  # every row: not run
    (build["runs"] / MASK_RCNN / "record.json").unlink()
    _, page = _stage(build, build["provenance"])
    sections = _sections(page.read_text())
    assert "No run fills this table" in sections["table2"] and "not run" in sections["table2"]
    row = next(line for line in sections["table1"].splitlines() if line.startswith(f"| `{MASK_RCNN}`"))
    assert row.endswith("| no run folder |")


def test_without_any_table_the_page_and_its_part_are_dropped(build: dict) -> None:
    build["executed"] = {1: build["executed"][1]}
    source, page = _stage(build, build["provenance"])
    assert page is None and not (source / "results.md").exists()
    toc = yaml.safe_load((source / "_toc.yml").read_text())
    assert "results" not in _toc_files(source)
    assert "Results" not in [part.get("caption") for part in toc["parts"]]
    assert "paper_vs_code" in _toc_files(source) and "notebooks/01_data" in _toc_files(source)


def test_a_table_file_not_in_write_tables_layout_fails_naming_it(build: dict) -> None:
    (build["tables"] / "table2.md").write_text("just a line\n")
    with pytest.raises(BookError, match=r"table2\.md: no banner and bold title"):
        _stage(build, build["provenance"])


def test_the_template_is_in_the_toc_and_types_no_number() -> None:
    template = (ROOT / "book" / "results.md").read_text()
    assert results_page.RESULTS_MARKER in template
    assert not re.findall(r"\d+\.\d+", template)
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    assert "results" in [entry["file"] for entry in site._toc_entries(toc)]
    assert results_page.TABLE_ORDER[:5] == ("table1", "table1_lesions", "table2", "table3", "table4")


def test_a_run_trained_in_this_build_and_a_stale_entry_say_so(build: dict) -> None:
    provenance = build["provenance"]
    provenance["runs"][0].update(action="train", reason="not in the store")
    provenance["runs"][1]["stale"] = True
    _, page = _stage(build, provenance)
    section = _sections(page.read_text())["table1"]
    rows = {run_id: next(line for line in section.splitlines() if line.startswith(f"| `{run_id}`"))
            for run_id in (ONE_SHOT, MASK_RCNN)}
    assert "**trained in this build** (not in the store)" in rows[ONE_SHOT]
    assert "**stored entry** `quick-mask-rcnn-s0`: trained 2026-12-07" in rows[MASK_RCNN] and "STALE" in rows[MASK_RCNN]
