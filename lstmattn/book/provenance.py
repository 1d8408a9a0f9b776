"""The build's provenance: where every run came from, and whether the live sample holds.

After the store has been consulted (:func:`lstmattn.store.resolution.resolve_sources`)
and the missing and live runs trained, :func:`live_comparisons` compares each live run
with its stored twin against the stored seed spread of its arm, and
:func:`write_provenance` writes ``<out>/provenance.json``: the build (date, machine,
commit, profile, store mode), one row per planned run (key, source, stored provenance,
changed modules, canary) and the comparisons. The provenance chapter, the landing
page's build summary and ``tests/test_built_book.py`` read it. :func:`compare_with_store`
is the table of ``lstmattn store compare``: local runs beside their stored twins.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from lstmattn.engine.experiment import Experiment
from lstmattn.engine.plan import PlannedRun, seed_repeats
from lstmattn.engine.runs import git_commit
from lstmattn.errors import LstmattnError
from lstmattn.io import atomic_write_json
from lstmattn.results import read_run
from lstmattn.results.consistency import LiveComparison, compare_live
from lstmattn.store.entries import StoreEntry, entries, find_entry
from lstmattn.store.keys import store_key
from lstmattn.store.resolution import RunSource

__all__ = ["PROVENANCE_FILE", "LiveRunInconsistent", "live_comparisons", "write_provenance", "read_provenance",
           "build_summary", "runs_table", "live_table", "compare_with_store"]

PROVENANCE_FILE = "provenance.json"


class LiveRunInconsistent(LstmattnError):
    """A live run fell outside the seed noise of its stored twin: the build fails (exit 1)."""

    exit_status = 1


def live_comparisons(sources: Iterable[RunSource], planned: Mapping[str, PlannedRun], runs_root: str | Path,
                     plan: Any, store: str | Path | None = None) -> list[LiveComparison]:
    """Compare every ``live`` source's run in ``runs_root`` with its stored twin, against
    the stored runs of its arm under every seed the plan gives it (chapter 5's three; with
    fewer stored, the comparison is not made and says why) in the store ``store`` (default
    :func:`~lstmattn.store.entries.store_root`). ``plan`` turns a planned run into its
    experiment (``ChapterParameters.plan`` bound to the build's config)."""
    comparisons = []
    for source in sources:
        if source.action != "live":
            continue
        live = read_run(source.experiment.folder(runs_root).path)
        if live is None:
            raise LstmattnError(f"{source.experiment.run_id}: the live run has no result files")
        seeds = []
        repeats = seed_repeats(planned[source.label])
        for repeat in repeats:
            experiment: Experiment | None = plan(repeat)
            entry = None if experiment is None else find_entry(store_key(experiment.config, experiment.variant), store)
            stored = None if entry is None else read_run(entry.path)
            if stored is not None:
                seeds.append(stored)
        twin = read_run(source.entry.path) if source.entry is not None else None
        if twin is not None and len(seeds) < len(repeats):  # a partial arm understates the seed noise
            comparisons.append(LiveComparison(live.run_id, twin.run_id, (), f"{len(seeds)} of its arm's "
                                              f"{len(repeats)} seeds are stored; the seed noise needs all of them"))
            continue
        comparisons.append(compare_live(live, twin, seeds))
    return comparisons


def _comparison_record(comparison: LiveComparison) -> dict[str, Any]:
    return {"live_run": comparison.live_run, "stored_run": comparison.stored_run, "reason": comparison.reason,
            "consistent": comparison.consistent, "summary": comparison.summary(),
            "metrics": [{**asdict(m), "seed_range": m.seed_range, "difference": m.difference,
                         "consistent": m.consistent} for m in comparison.metrics]}


def write_provenance(out: str | Path, *, sources: Iterable[RunSource], comparisons: Iterable[LiveComparison],
                     profile: str, mode: str, device: str) -> Path:
    """Write ``<out>/provenance.json`` (module docstring) and return its path."""
    record = {
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "device": device,
        "commit": git_commit(),
        "profile": profile,
        "store_mode": mode,
        "runs": [source.provenance() for source in sources],
        "live": [_comparison_record(c) for c in comparisons],
    }
    return atomic_write_json(record, Path(out) / PROVENANCE_FILE)


def read_provenance(path: str | Path) -> dict[str, Any]:
    """A ``provenance.json``, read; :class:`LstmattnError` naming it when unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LstmattnError(f"{path}: cannot read the build's provenance ({error})") from None


def _short_commit(commit: str) -> str:
    """``9d1af0c17e11``, or ``9d1af0c17e11-dirty`` for a tree with uncommitted changes."""
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def build_summary(provenance: Mapping[str, Any]) -> str:
    """The landing page's paragraph on how this build was made, from its provenance."""
    runs = provenance["runs"]
    stored = sum(1 for r in runs if r["action"] == "stored")
    stale = sum(1 for r in runs if r["stale"] and r["action"] == "stored")
    here = len(runs) - stored
    live = provenance["live"]
    verdicts = "; ".join(f"{c['live_run']}: {'consistent with its stored twin' if c['consistent'] else c['reason'] or 'inconsistent'}"
                         for c in live) or "no live sample"
    return (f"**How this build was made.** Built {provenance['built'][:16].replace('T', ' ')} on "
            f"{provenance['device']}, commit `{_short_commit(str(provenance['commit']))}`, profile `{provenance['profile']}`, "
            f"store mode `{provenance['store_mode']}`: of its {len(runs)} runs, {stored} were read from the result "
            f"store{f' ({stale} of them STALE)' if stale else ''} and {here} trained in this build. Live sample: "
            f"{verdicts}. Every table row says which; the provenance page lists every run.")


def _source_text(row: Mapping[str, Any]) -> str:
    if row["action"] == "stored":
        return ("STALE " if row["stale"] else "") + "stored: " + row["stored"]["description"]
    if row["action"] == "live":
        return "recomputed in this build (live sample; compared with its stored twin below)"
    return f"recomputed in this build ({row['reason']})"


def _canary_text(row: Mapping[str, Any]) -> str:
    canary = row.get("canary")
    if canary is None:
        return "not needed: training modules unchanged" if row["action"] == "stored" else ""
    verdict = "passed" if canary["passed"] else "FAILED"
    return (f"{verdict}: largest relative loss difference {canary['max_relative_difference']:.1e} "
            f"(tolerance {canary['tolerance']:.0e}, {canary['precision']})")


def _last_verified(row: Mapping[str, Any]) -> str:
    """When the stored run was last shown to train as stored: trained, or a canary recorded."""
    stored = row.get("stored")
    if stored is None:
        return ""
    passed = [v for v in stored.get("verified", []) if v.get("passed")]
    if passed:
        return f"canary passed {passed[-1]['date'][:10]} on {passed[-1]['machine']}"
    return f"trained {str(stored.get('finished') or stored.get('created') or '?')[:10]}"


def runs_table(provenance: Mapping[str, Any], downloads: str = "../_static/runs") -> pd.DataFrame:
    """The provenance chapter's table: one row per planned run with its source, store key,
    the training modules changed since it was trained, the canary of this build, the last
    verification recorded in the store, and a link (HTML) to the zip of its run files
    under ``downloads``."""
    rows = [{
        "run": row["label"],
        "source": _source_text(row),
        "key": row["key"][:12],
        "training modules changed since": ", ".join(f"{p} ({what})" for p, what in row["changed_modules"].items())
                                          or "none",
        "canary in this build": _canary_text(row),
        "last verified in the store": _last_verified(row),
        "files": f'<a href="{downloads}/{row["run_id"]}.zip" download>{row["run_id"]}.zip</a>',
    } for row in provenance["runs"]]
    return pd.DataFrame(rows, columns=["run", "source", "key", "training modules changed since", "canary in this build",
                                       "last verified in the store", "files"])


def live_table(comparison: Mapping[str, Any]) -> pd.DataFrame:
    """One live run of a ``provenance.json`` against its stored twin, a row per metric."""
    return pd.DataFrame([{
        "metric": m["metric"], "recomputed here": m["live"], "stored twin": m["stored"], "difference": m["difference"],
        "stored seeds": ", ".join(f"{v:.4g}" for v in m["seed_values"]), "seed range": m["seed_range"],
        "verdict": "consistent" if m["consistent"] else "OUTSIDE the seed noise",
    } for m in comparison["metrics"]])


def _seed_siblings(entry: StoreEntry, stored: list[StoreEntry]) -> list[StoreEntry]:
    """The stored entries whose key material equals ``entry``'s but for the seed."""
    def without_seed(material: Mapping[str, Any]) -> str:
        plain = json.loads(json.dumps(material))
        plain["config"]["train"].pop("seed", None)
        return json.dumps(plain, sort_keys=True)

    mine = without_seed(entry.meta["key_material"])
    return [other for other in stored if without_seed(other.meta["key_material"]) == mine]


def compare_with_store(runs_root: str | Path, store: str | Path | None = None) -> pd.DataFrame:
    """One row per evaluated local run under ``runs_root`` and metric: the local value,
    the stored twin's, the stored seed range of its arm and the verdict
    (:mod:`lstmattn.results.consistency`); a run without a twin gets one row saying so."""
    stored = list(entries(store))
    rows = []
    for folder in sorted(Path(runs_root).glob("*/record.json")):
        local = read_run(folder.parent)
        if local is None or local.is_stored:
            continue
        entry = find_entry(store_key(local.config(), local.identity.variant), store)
        if entry is None:
            rows.append({"run": local.run_id, "metric": "", "verdict": "no stored twin"})
            continue
        seeds = [run for run in (read_run(e.path) for e in _seed_siblings(entry, stored)) if run is not None]
        comparison = compare_live(local, read_run(entry.path), seeds)
        if not comparison.compared:
            rows.append({"run": local.run_id, "metric": "", "verdict": f"not compared: {comparison.reason}"})
        for m in comparison.metrics:
            rows.append({"run": local.run_id, "metric": m.metric, "local": m.live, "stored": m.stored,
                         "difference": m.difference, "seed range": m.seed_range, "seeds": len(m.seed_values),
                         "verdict": "consistent" if m.consistent else "outside the seed noise"})
    columns = ["run", "metric", "local", "stored", "difference", "seed range", "seeds", "verdict"]
    table = pd.DataFrame(rows, columns=columns)
    table["seeds"] = table["seeds"].astype("Int64")
    return table
