"""The book's Results page: every table the chapters wrote, with where its numbers came from.

After the chapters have run, :func:`write_results_page` fills the staged ``results.md``
(from ``book/results.md``; its line :data:`RESULTS_MARKER` is replaced) with one section
per table that an executed chapter wrote with
:func:`~lstmattn.tables.result.write_table`, in the paper's order (:data:`TABLE_ORDER`):

* the table's banner (data, profile) and the table itself, copied cell for cell from its
  ``<name>.md`` (the chapter's table with the ``profile`` and ``data`` columns kept), in the
  HTML layout of :meth:`~lstmattn.tables.result.TableResult.to_html` (bold title right
  before the table), so ``tests/test_built_book.py`` checks its cells against the run files
  as it checks the chapter's;
* the chapter that wrote it (the executed notebook whose code calls ``write_table`` with
  that name), linked;
* the runs that fill it (its CSV's ``run_id`` column) and where each came from, read from
  the build's ``provenance.json``: a stored entry of the result store, recomputed live (the
  live sample, with its comparison), or trained in this build; without a row there, the
  run's ``record.json``;
* downloads (the ``{download}`` role: Sphinx copies each file into the site, so the links
  work offline): the table's CSV and every run's ``record.json`` and ``config.yaml``, first
  copied into ``<source>/results_files/``.

No number is typed here: every cell, banner and source comes from those files. When no
executed chapter wrote a table (``--chapters 1 2``), the page and its TOC entry are
dropped (:func:`lstmattn.book.site.drop_pages`).
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from lstmattn.book.site import BookError, drop_pages
from lstmattn.io import atomic_write_text
from lstmattn.results.files import CONFIG_FILE, RECORD_FILE, read_json_object

__all__ = ["RESULTS_PAGE", "RESULTS_MARKER", "FILES_FOLDER", "TABLE_ORDER", "WrittenTable", "RunOrigin",
           "tables_written", "read_table", "run_origins", "results_page_body", "write_results_page"]

#: The page's TOC entry (``book/results.md``, staged as ``<source>/results.md``).
RESULTS_PAGE = "results"
#: The line of ``book/results.md`` the build replaces with the generated sections.
RESULTS_MARKER = "<!-- results -->"
#: The folder of the staged source that holds the page's downloads.
FILES_FOLDER = "results_files"
#: The tables in the paper's order: Tables 1-4, chapter 5's ablation tables, chapter 7's
#: real-CT tables. A table written under another name follows them, in chapter order.
TABLE_ORDER: tuple[str, ...] = ("table1", "table1_lesions", "table2", "table3", "table4", "ablations",
                                "ablation_ideas", "real_classification", "real_segmentation")

_WRITE_TABLE = re.compile(r"write_table\(\s*[^,()]+,\s*[^,()]+,\s*([\"'])(\w+)\1\s*\)")
_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
#: How a source reads on the page, by ``action`` of ``provenance.json``.
_KIND_TEXT = {"stored": "stored entry", "live": "recomputed live", "train": "trained in this build"}


@dataclass(frozen=True)
class WrittenTable:
    """A table an executed chapter wrote: its files and its display as the ``.md`` holds it.

    ``header`` and ``rows`` are the printed cells (``TableResult.display_frame``);
    ``run_ids`` the distinct non-empty ``run_id`` values of the CSV, in row order."""

    name: str
    chapter: int
    notebook: str  # the chapter's staged page, e.g. "notebooks/03_segmentation"
    csv: Path
    markdown: Path
    banner: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]
    run_ids: tuple[str, ...]
    profiles: tuple[str, ...]
    data: tuple[str, ...]


@dataclass(frozen=True)
class RunOrigin:
    """Where one run of a table came from.

    ``kind``: ``stored`` (an entry of the result store), ``live`` (recomputed live: the live
    sample), ``train`` (trained in this build) or ``unknown`` (not in ``provenance.json``);
    ``detail`` follows the kind's words (:attr:`label`) on the page; ``folder`` is the run
    folder when it has a ``record.json``."""

    run_id: str
    kind: str
    detail: str
    folder: Path | None

    @property
    def label(self) -> str:
        """The kind in words: stored entry, recomputed live, trained in this build."""
        return _KIND_TEXT.get(self.kind, "source unknown")

    @property
    def text(self) -> str:
        """Where the run came from, in one line of Markdown (the kind in bold)."""
        return f"**{self.label}**{self.detail}"


# ------------------------------------------------------------------------ reading
def _written_names(notebook: Path) -> list[str]:
    """The table names the notebook's code passes to ``write_table``, in order."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    code = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
    return list(dict.fromkeys(match.group(2) for match in _WRITE_TABLE.finditer(code)))


def _cells(line: str) -> tuple[str, ...]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return tuple(cell.strip().replace("\\|", "|") for cell in _CELL_SEPARATOR.split(inner))


def read_table(name: str, chapter: int, notebook: str, tables_dir: Path) -> WrittenTable:
    """The table ``name`` of ``tables_dir`` (``<name>.md`` and ``<name>.csv`` of
    :func:`~lstmattn.tables.result.write_table`); :class:`BookError` naming the file when
    it is not in that layout (banner, bold title, pipe table, notes)."""
    markdown, csv = tables_dir / f"{name}.md", tables_dir / f"{name}.csv"
    lines = markdown.read_text(encoding="utf-8").splitlines()
    titles = [i for i, line in enumerate(lines) if i > 0 and re.fullmatch(r"\*\*.+\*\*", line)]
    if not lines or not titles:
        raise BookError(f"{markdown}: no banner and bold title line (not written by write_table?)")
    start = next((i for i in range(titles[0] + 1, len(lines)) if lines[i].startswith("|")), None)
    if start is None or start + 1 >= len(lines):
        raise BookError(f"{markdown}: no pipe table after the title")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    header = _cells(lines[start])
    rows = tuple(_cells(line) for line in lines[start + 2:end])
    bad = [i for i, row in enumerate(rows) if len(row) != len(header)]
    if bad:
        raise BookError(f"{markdown}: row {bad[0]} has {len(rows[bad[0]])} cells under {len(header)} headers")
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)

    def distinct(column: str) -> tuple[str, ...]:
        values = frame[column] if column in frame else pd.Series(dtype=str)
        return tuple(dict.fromkeys(v for v in values if v))

    return WrittenTable(
        name=name, chapter=chapter, notebook=notebook, csv=csv, markdown=markdown, banner=lines[0],
        title=lines[titles[0]][2:-2], header=header, rows=rows,
        notes=tuple(line[2:] for line in lines[end:] if line.startswith("- ")),
        run_ids=distinct("run_id"), profiles=distinct("profile"), data=distinct("data"))


def tables_written(executed: Mapping[int, Path], tables_dir: str | Path) -> list[WrittenTable]:
    """Every table an executed chapter (``executed``: number → executed notebook) wrote
    into ``tables_dir``, in the paper's order. A name whose files are missing (the chapter
    did not get that far, or skipped it) is left out, and so is a file in ``tables_dir``
    that no executed chapter writes (from an earlier build)."""
    tables_dir = Path(tables_dir)
    found: list[tuple[int, int, int, WrittenTable]] = []
    for number, notebook in sorted(executed.items()):
        for position, name in enumerate(_written_names(Path(notebook))):
            if not ((tables_dir / f"{name}.md").is_file() and (tables_dir / f"{name}.csv").is_file()):
                continue
            order = TABLE_ORDER.index(name) if name in TABLE_ORDER else len(TABLE_ORDER)
            table = read_table(name, number, f"notebooks/{Path(notebook).stem}", tables_dir)
            found.append((order, number, position, table))
    return [table for *_, table in sorted(found, key=lambda item: item[:3])]


def _record_origin(run_id: str, folder: Path | None) -> tuple[str, str]:
    """(kind, text) from the run's ``record.json`` when ``provenance.json`` has no row."""
    if folder is None:
        return "unknown", ": not in this build's provenance.json, and no run folder with a record.json"
    provenance = read_json_object(folder / RECORD_FILE).get("provenance") or {}
    if provenance.get("source") == "store":
        trained = provenance.get("trained") or {}
        when = str(trained.get("finished") or trained.get("created") or "?")[:10]
        return "stored", (f" (copied from the result store): trained {when} on {trained.get('device', '?')}; "
                          "not in this build's provenance.json")
    return "unknown", (": trained here, not copied from the result store; this build's provenance.json has no row "
                       "for it (the build did not consult the store, or the chapters do not plan the run)")


def run_origins(run_ids: Iterable[str], provenance: Mapping[str, Any] | None,
                runs_root: str | Path) -> dict[str, RunOrigin]:
    """Where each of ``run_ids`` came from: its row of ``provenance`` (the build's
    ``provenance.json``, or None when the build wrote none), else its ``record.json``
    under ``runs_root``."""
    rows = {row["run_id"]: row for row in (provenance or {}).get("runs", [])}
    live = {c["live_run"]: c for c in (provenance or {}).get("live", [])}
    origins: dict[str, RunOrigin] = {}
    for run_id in run_ids:
        folder = Path(runs_root) / run_id
        folder = folder if (folder / RECORD_FILE).is_file() else None
        row = rows.get(run_id)
        if row is None:
            kind, text = _record_origin(run_id, folder)
        elif row["action"] == "stored":
            kind = "stored"
            description = (row.get("stored") or {}).get("description")
            text = (f" `{row.get('entry')}`" + (f": {description}" if description else "")
                    + (" (STALE: shown although the store's checks failed)" if row.get("stale") else ""))
        elif row["action"] == "live":
            kind = "live"
            comparison = live.get(run_id)
            text = " in this build (the live sample)" + (
                f": {comparison['summary']}" if comparison and comparison.get("summary") else "")
        else:
            kind, text = row["action"], f" ({row.get('reason') or 'not in the store'})"
        origins[run_id] = RunOrigin(run_id, kind, text, folder)
    return origins


# ------------------------------------------------------------------------ rendering
def _table_html(table: WrittenTable) -> str:
    """Banner, bold title and the table, in the layout of ``TableResult.to_html`` (the
    title is the table's previous sibling), as one raw-HTML block without blank lines."""
    frame = pd.DataFrame(list(table.rows), columns=list(table.header))
    parts = [
        '<div class="lstmattn-results-table">',
        '<div style="border-left:4px solid #555;padding:4px 8px;margin:4px 0">'
        f"<b>{html.escape(table.banner)}</b></div>",
        f"<p><b>{html.escape(table.title)}</b></p>",
        frame.to_html(index=False, escape=True, na_rep=""),
    ]
    if table.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in table.notes) + "</ul>")
    parts.append("</div>")
    return "\n".join(line for line in "\n".join(parts).splitlines() if line.strip())


def _inline(text: str) -> str:
    """``text`` safe in a Markdown pipe-table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _download(label: str, target: str) -> str:
    return f"{{download}}`{label} <{target}>`"


def _runs_section(table: WrittenTable, origins: Mapping[str, RunOrigin], files: str) -> list[str]:
    if not table.run_ids:
        return ["No run fills this table: none of its rows was run in this build."]
    lines = [f"Runs that fill it ({len(table.run_ids)}):", "",
             "| run | where it came from | files |", "|:---|:---|:---|"]
    for run_id in table.run_ids:
        origin = origins[run_id]
        if origin.folder is None:
            links = "no run folder"
        else:
            links = ", ".join(_download(name, f"{files}/runs/{run_id}/{name}") for name in (RECORD_FILE, CONFIG_FILE)
                              if (origin.folder / name).is_file())
        lines.append(f"| `{run_id}` | {_inline(origin.text)} | {links} |")
    return lines


def _section(table: WrittenTable, origins: Mapping[str, RunOrigin], files: str) -> list[str]:
    heading = table.title.split(":", 1)[0]
    facts = [f"Written by {{doc}}`/{table.notebook}`",
             f"data: {'; '.join(table.data) or 'no run'}",
             f"profile: {', '.join(table.profiles) or 'no run'}"]
    return [
        f"(results-{table.name.replace('_', '-')})=",
        f"## {heading} (`{table.name}`)", "",
        "; ".join(_inline(fact) for fact in facts) + ". Download: "
        + _download(f"{table.name}.csv", f"{files}/tables/{table.name}.csv") + ".", "",
        _table_html(table), "",
        *_runs_section(table, origins, files), "",
    ]


def results_page_body(tables: Sequence[WrittenTable], origins: Mapping[str, RunOrigin],
                      files: str = FILES_FOLDER) -> str:
    """The generated part of the page: a summary line, then a section per table (module
    docstring); download targets are under ``files`` (relative to the page)."""
    used = list(dict.fromkeys(run_id for table in tables for run_id in table.run_ids))
    counts = {kind: sum(1 for run_id in used if origins[run_id].kind == kind) for kind in ("stored", "live", "train")}
    unknown = len(used) - sum(counts.values())
    chapters = sorted({table.chapter for table in tables})
    summary = (f"{len(tables)} table(s) from chapter(s) {', '.join(map(str, chapters))}, filled by {len(used)} run(s): "
               f"{counts['stored']} stored entr{'y' if counts['stored'] == 1 else 'ies'}, {counts['live']} recomputed "
               f"live, {counts['train']} trained in this build"
               + (f", {unknown} not in this build's provenance.json" if unknown else "") + ".")
    lines = [summary, ""]
    for table in tables:
        lines += _section(table, origins, files)
    return "\n".join(lines)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def write_results_page(source: str | Path, *, executed: Mapping[int, Path], tables_dir: str | Path,
                       runs_root: str | Path, provenance: Mapping[str, Any] | None = None) -> Path | None:
    """Fill the staged ``<source>/results.md`` (module docstring) and copy its downloads
    into ``<source>/results_files/``; returns the page, or None when no executed chapter
    wrote a table (the page and its TOC entry are then removed from ``source``)."""
    source = Path(source)
    page = source / f"{RESULTS_PAGE}.md"
    tables = tables_written(executed, tables_dir)
    if not tables or not page.is_file():
        drop_pages(source, [RESULTS_PAGE])
        return None
    origins = run_origins(dict.fromkeys(r for t in tables for r in t.run_ids), provenance, runs_root)
    files = source / FILES_FOLDER
    if files.exists():
        shutil.rmtree(files)
    for table in tables:
        _copy(table.csv, files / "tables" / table.csv.name)
    for origin in origins.values():
        for name in (RECORD_FILE, CONFIG_FILE):
            if origin.folder is not None and (origin.folder / name).is_file():
                _copy(origin.folder / name, files / "runs" / origin.run_id / name)
    template = page.read_text(encoding="utf-8")
    if RESULTS_MARKER not in template:
        raise BookError(f"{page}: no {RESULTS_MARKER} line to replace with the results")
    return atomic_write_text(template.replace(RESULTS_MARKER, results_page_body(tables, origins)), page)
