"""A built table (:class:`TableResult`): its numbers, and how it prints and is written.

Markdown and HTML come from pandas (``DataFrame.to_markdown``, ``DataFrame.to_html``,
``Styler``) over :meth:`TableResult.display_frame`, the table as printed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from lstmattn.io import atomic_write_text
from lstmattn.results import read_runs
from lstmattn.tables.banner import banner
from lstmattn.tables.format import (
    DASH,
    INCONSISTENT_MARK,
    NO_INTERVAL_MARK,
    NOT_AVAILABLE,
    NOT_RUN,
    UNCERTAIN_MARK,
    decimals_for,
    format_delta,
    format_interval,
    format_plain,
    is_missing,
)

__all__ = ["META_COLUMNS", "NO_INTERVAL", "TableResult", "write_table"]

META_COLUMNS: tuple[str, ...] = ("run_id", "profile", "data", "seed", "commit", "n", "provenance")
"""The run columns of every table row (``n``: slices evaluated; ``provenance``: recomputed in
this build, or stored and when and where it was trained: ``RunResults.source_label``)."""

NO_INTERVAL = "no interval"
"""Suffix of the frame column ``M no interval``: True where our value of ``M`` has no
interval because its run was evaluated before per-slice scores were kept (printed with
:data:`~lstmattn.tables.format.NO_INTERVAL_MARK`)."""

_UNCERTAIN_NOTE = (f"{UNCERTAIN_MARK} the paper's PDF does not place this cell in its column with certainty (the "
                   "book's page 'Paper vs code', section 'The paper's tables'): shown for reference only, no Δ "
                   "computed against it.")
_OTHER_DATA_NOTE = ("No Δ = ours − paper: our runs used other data than the paper's (see the data column and "
                    "the banner), so the two values stand side by side but are not comparable.")
_PHANTOM_MARK = "NOT a reproduction"


@dataclass(frozen=True, eq=False)
class TableResult:
    """A built table: numeric ``frame``, its ``banner`` and ``notes``.

    ``frame`` has one row per table row with columns ``row`` (label), ``model``
    (registered name or None), ``source``, ``status`` (``evaluated``, ``not run``,
    ``not available``, ``quoted``, ``default``/``variant`` for ablations),
    ``paper_data`` (whether the row's run used the paper's data, so Δ is shown), the run
    columns ``run_id, profile, data, seed, commit, n, provenance`` and, per metric column ``M`` (in
    the table's unit: percent or AP fraction), ``M paper``, ``M paper text``,
    ``M paper uncertain``, ``M paper note`` (why the printed value contradicts its row, or
    empty), ``M ours``, ``M low``, ``M high`` and ``M Δ``; the segmentation tables add
    ``M no interval`` (:data:`NO_INTERVAL`). Ablation tables have no paper
    columns (and a ``variant`` column); their ``M Δ`` is relative to the default run.
    Tables on other data than the paper's (chapter 7) set ``reference="published"``: the
    ``M paper`` columns then hold a value published on that data under another protocol,
    shown beside ours only for the columns that have one, never with a Δ.
    """

    name: str
    title: str
    columns: tuple[str, ...]
    units: Mapping[str, str]
    frame: pd.DataFrame
    banner: str
    notes: tuple[str, ...] = ()
    available: bool = True
    reference: str = "paper"  # beside ours: "paper" (Δ on its data), "published" (never Δ), "default" (Δ)

    # ----------------------------------------------------------------- lookup
    def ours(self, model: str, column: str, *, row: int = 0) -> float:
        """Our value of ``column`` for ``model`` (the ``row``-th run of it); NaN when absent."""
        rows = self.frame[self.frame["model"] == model]
        if rows.empty or f"{column} ours" not in rows:
            return float("nan")
        return float(rows.iloc[row][f"{column} ours"])

    def delta(self, label: str, column: str, *, row: int = 0) -> float:
        """Δ of ``column`` in the (``row``-th) row labelled ``label`` (for ablations, the
        variant name); NaN when absent."""
        rows = self.frame[self.frame["row"] == label]
        if rows.empty or f"{column} Δ" not in rows:
            return float("nan")
        return float(rows.iloc[row][f"{column} Δ"])

    def seed_rows(self, model: str, seeds: Sequence[int], runs_root: str | Path) -> "TableResult":
        """The evaluated rows of ``model`` under ``seeds``, one per run, with the range of
        each estimate over them in a note: each row's interval is the slice-level
        uncertainty of one run, the spread of the rows is the seed noise, and here the two
        are read side by side. Build ``self`` with ``seed=None`` from ``runs_root`` so that
        it holds every seed; the banner names the runs kept."""
        rows = self.frame[(self.frame["model"] == model) & (self.frame["status"] == "evaluated")
                          & self.frame["seed"].isin(list(seeds))].sort_values("seed")
        found = [int(seed) for seed in rows["seed"]]
        ranges = []
        for column in self.columns:
            values = rows[f"{column} ours"].dropna().astype(float)
            if len(values) > 1:
                decimals = decimals_for(self.units[column])
                ranges.append(f"{column} {values.min():.{decimals}f}–{values.max():.{decimals}f}")
        spread = (f"Range of the estimates over the {len(found)} seeds: {'; '.join(ranges)}." if ranges
                  else "Only one seed was run, so the seed noise is unknown here.")
        bracket = self.title.rfind(" [")
        head, tail = (self.title[:bracket], self.title[bracket:]) if self.title.endswith("]") and bracket > 0 else (self.title, "")
        seeds_text = ", ".join(str(seed) for seed in found) or "none run"
        profile = str(rows["profile"].iloc[0]) if len(rows) else ""
        kept = [run for run in read_runs(runs_root, profile=profile or None) if run.run_id in set(rows["run_id"])]
        return replace(self, name=f"{self.name}_seeds", title=f"{head}, {model} under seeds {seeds_text}{tail}",
                       frame=rows.reset_index(drop=True), notes=(spread, *self.notes),
                       banner=banner(kept, profile, Path(runs_root)) if kept else self.banner)

    @property
    def shows_delta(self) -> bool:
        """Whether the Δ columns are printed: always for ablations (Δ vs the default run),
        never beside published values (other splits and protocols); against the paper
        only when some row ran on the paper's data."""
        if self.reference == "default":
            return True
        if self.reference == "published":
            return False
        evaluated = self.frame[self.frame["status"] == "evaluated"]
        return evaluated.empty or bool(evaluated.get("paper_data", pd.Series(dtype=bool)).fillna(False).any())

    # ----------------------------------------------------------------- rendering
    def display_frame(self, *, compact: bool = False) -> pd.DataFrame:
        """Strings as printed: paper (or published), ours (95 % CI) and, where it means
        something, Δ per metric, then the run columns.

        ``compact`` drops the ``profile`` and ``data`` columns (the banner states them).
        """
        published = {column for column in self.columns if self.reference == "published"
                     and self.frame[f"{column} paper text"].fillna("").astype(str).ne("").any()}
        records = []
        for _, row in self.frame.iterrows():
            record: dict[str, str] = {"Model": str(row["row"]), "Source": str(row["source"])}
            for column in self.columns:
                decimals = decimals_for(self.units[column])
                if self.reference == "paper" or column in published:
                    record[f"{column} {self.reference}"] = _paper_text(row, column)
                record[f"{column} ours"] = _ours_text(row, column, decimals)
                if self.reference == "default":
                    record[f"{column} Δ vs default"] = format_delta(row.get(f"{column} Δ"), decimals=decimals)
                elif self.reference == "paper" and self.shows_delta:
                    record[f"{column} Δ"] = format_delta(row.get(f"{column} Δ"), decimals=decimals)
            for key in META_COLUMNS:
                if compact and key in ("profile", "data"):
                    continue
                record[key] = format_plain(row.get(key))
            records.append(record)
        return pd.DataFrame.from_records(records)

    def all_notes(self) -> list[str]:
        """The notes, plus the †-note when a paper cell shown is uncertain and a ‡-note for
        each printed value that contradicts its row."""
        notes = list(self.notes)
        if self.reference == "paper" and not self.shows_delta:
            notes.append(_OTHER_DATA_NOTE)
        if self.reference == "paper" and self.frame.filter(like="paper uncertain").any(axis=None):
            notes.append(_UNCERTAIN_NOTE)
        if self.reference != "default":
            flagged = self.frame.filter(like="paper note").fillna("").astype(str).to_numpy().ravel()
            notes += [f"{INCONSISTENT_MARK} {note}" for note in dict.fromkeys(flagged) if note]
        without = [str(run_id) for run_id in dict.fromkeys(self.frame.loc[self._without_interval(), "run_id"])]
        if without:
            notes.append(f"{NO_INTERVAL_MARK} no interval: {', '.join(without)} "
                         f"{'was' if len(without) == 1 else 'were'} evaluated before the per-slice segmentation "
                         "scores a bootstrap over the test slices needs were kept, so the value stands alone; "
                         "evaluating the run again from its checkpoint (lstmattn evaluate) adds the interval.")
        return notes

    def _without_interval(self) -> pd.Series:
        """Rows with a value of ours printed with :data:`NO_INTERVAL_MARK`."""
        shown = pd.Series(False, index=self.frame.index)
        for column in self.columns:
            flag = self.frame.get(f"{column} {NO_INTERVAL}")
            if flag is not None:
                shown |= flag.map(_is_set) & self.frame[f"{column} ours"].map(lambda value: not is_missing(value))
        return shown & ~self.frame["status"].isin([NOT_RUN, NOT_AVAILABLE, "quoted"])

    def to_markdown(self) -> str:
        """Banner (first line), title, the table (pandas ``to_markdown``), then the notes."""
        display = self.display_frame().map(_markdown_cell)
        parts = [self.banner, "", f"**{self.title}**", "", display.to_markdown(index=False, disable_numparse=True)]
        notes = self.all_notes()
        if notes:
            parts += [""] + [f"- {note}" for note in notes]
        return "\n".join(parts) + "\n"

    def styler(self, *, compact: bool = True) -> pd.io.formats.style.Styler:
        """A pandas Styler of :meth:`display_frame` with the banner as caption."""
        return self.display_frame(compact=compact).style.hide(axis="index").set_caption(html.escape(self.banner))

    def to_html(self, *, compact: bool = True) -> str:
        """Banner (highlighted on phantom or missing data), title, table and notes."""
        colour = "#b00020" if _PHANTOM_MARK in self.banner or not self.available else "#333"
        parts = [
            f'<div style="border-left:4px solid {colour};padding:4px 8px;margin:4px 0;color:{colour}">'
            f"<b>{html.escape(self.banner)}</b></div>",
            f"<p><b>{html.escape(self.title)}</b></p>",
            self.display_frame(compact=compact).to_html(index=False, escape=True, na_rep=""),
        ]
        notes = self.all_notes()
        if notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in notes) + "</ul>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"TableResult({self.name!r}, rows={len(self.frame)}, available={self.available})\n{self.banner}"


def _markdown_cell(value: Any) -> str:
    """A cell's text safe inside a Markdown pipe table (one line, ``|`` escaped)."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _paper_text(row: pd.Series, column: str) -> str:
    text = row.get(f"{column} paper text")
    if is_missing(text) or text == "":
        return DASH
    text = f"{text} {UNCERTAIN_MARK}" if bool(row.get(f"{column} paper uncertain")) else str(text)
    note = row.get(f"{column} paper note")
    return f"{text} {INCONSISTENT_MARK}" if isinstance(note, str) and note else text


def _ours_text(row: pd.Series, column: str, decimals: int) -> str:
    status = row["status"]
    if status in (NOT_RUN, NOT_AVAILABLE):
        return status
    if status == "quoted":
        return DASH
    value = row.get(f"{column} ours")
    if is_missing(value):
        return DASH
    return format_interval(value, row.get(f"{column} low"), row.get(f"{column} high"), decimals=decimals,
                           interval_missing=_is_set(row.get(f"{column} {NO_INTERVAL}")))


def _is_set(flag: Any) -> bool:
    """Whether a frame flag is True (missing counts as False)."""
    return not is_missing(flag) and bool(flag)


def write_table(result: TableResult, out_dir: str | Path, name: str | None = None) -> dict[str, Path]:
    """Write ``<name>.csv`` (the numeric frame) and ``<name>.md`` (banner first, then the
    formatted table and notes) atomically; returns both paths."""
    out = Path(out_dir)
    name = name or result.name
    return {
        "csv": atomic_write_text(result.frame.to_csv(index=False), out / f"{name}.csv"),
        "markdown": atomic_write_text(result.to_markdown(), out / f"{name}.md"),
    }
