"""Where each planned run of a build comes from: the store, or training here.

:func:`resolve_sources` takes the runs a build needs (label → experiment) and decides,
for each, one :class:`RunSource`:

* ``stored``: its store entry is fresh, and is copied into the runs folder
  (:func:`~lstmattn.store.entries.materialise`), so the chapters read it like any run;
* ``live``: a run of the live sample, retrained here and later compared with its stored
  twin (:mod:`lstmattn.results.consistency`). A build folder keeps its live runs (a
  killed build resumes them) until the training modules change
  (:func:`mark_live_runs` records which ones trained them);
* ``train``: no entry (a miss), or a stale one: trained here with the progress bar.
  Under ``on_miss="error"`` (CI) a miss or a stale entry is an error instead. A run
  trained here that the runs folder already holds is kept (and reused), never
  overwritten by a stored copy.

**Fresh** means: the training modules today have a fingerprint the entry has been
trained or verified under, or, when they changed, the canary
(:mod:`lstmattn.store.canary`) passes in this build. ``canary="all"`` runs the canary on
every stored entry the build uses, changed or not (CI). A stale entry is used anyway,
marked stale, only with ``allow_stale``. Canary outcomes are cached in the build folder
per entry and fingerprint, so a resumed build does not repeat them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from lstmattn.engine.experiment import Experiment
from lstmattn.engine.runs import RunDirectory
from lstmattn.errors import LstmattnError
from lstmattn.io import atomic_write_json
from lstmattn.store.canary import run_canary
from lstmattn.store.entries import StoreEntry, find_entry, materialise
from lstmattn.store.fingerprint import changed_modules, current_fingerprint, fingerprint_digest
from lstmattn.store.keys import StoreKey, store_key

__all__ = ["StoreMiss", "RunSource", "resolve_sources", "mark_live_runs", "Action"]

#: File in a live run's folder naming the training modules' fingerprint it was trained with.
LIVE_FINGERPRINT_FILE = "live-fingerprint.txt"

Action = Literal["stored", "live", "train"]


class StoreMiss(LstmattnError):
    """Planned runs the store lacks (or holds stale) where a miss is an error (CI)."""


@dataclass
class RunSource:
    """What a build does with one planned run, and why."""

    label: str
    experiment: Experiment
    key: StoreKey
    entry: StoreEntry | None
    action: Action
    reason: str
    changed: dict[str, str] = field(default_factory=dict)
    canary: Mapping[str, Any] | None = None
    stale: bool = False
    miss: bool = False  # the store cannot serve the run (no entry, stale, no weights)

    def provenance(self) -> dict[str, Any]:
        """This run's row of the build's ``provenance.json``."""
        return {
            "label": self.label, "run_id": self.experiment.run_id, "key": self.key.digest,
            "action": self.action, "reason": self.reason, "stale": self.stale,
            "entry": None if self.entry is None else self.entry.path.name,
            "stored": None if self.entry is None else {"description": self.entry.describe(), **self.entry.trained,
                                                        "verified": list(self.entry.meta.get("verified", []))},
            "changed_modules": self.changed, "canary": self.canary,
        }


def _cached_canary(cache_path: Path, entry: StoreEntry, digest: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    cache = json.loads(cache_path.read_text(encoding="utf-8")) if cache_path.is_file() else {}
    name = f"{entry.key}:{digest}"
    if name not in cache:
        cache[name] = run()
        atomic_write_json(cache, cache_path)
    return cache[name]


def _is_store_copy(run: RunDirectory) -> bool:
    return run.record_path.is_file() and run.record().get("provenance", {}).get("source") == "store"


def resolve_sources(
    experiments: Mapping[str, Experiment],
    *,
    runs_root: str | Path,
    live: set[str],
    needs_weights: set[str] = frozenset(),
    store: str | Path | None = None,
    retrain_all: bool = False,
    on_miss: Literal["train", "error"] = "train",
    canary: Literal["changed", "all"] = "changed",
    allow_stale: bool = False,
    cache_dir: str | Path = ".",
    device: str | None = None,
    echo: Callable[[str], Any] = print,
) -> list[RunSource]:
    """Decide every planned run's source (module docstring), run the canaries it needs,
    (an entry of a label in ``needs_weights`` stored without weights counts as a miss),
    copy the stored runs into ``runs_root`` and clear store copies from the folders of runs
    to train. Raises :class:`StoreMiss` listing every miss under ``on_miss="error"``."""
    today = current_fingerprint()
    digest = fingerprint_digest(today)
    cache_path = Path(cache_dir) / "canary-cache.json"
    sources: list[RunSource] = []
    for label, experiment in experiments.items():
        key = store_key(experiment.config, experiment.variant)
        entry = find_entry(key, store)
        local = experiment.folder(runs_root)
        if entry is not None and label not in live and local.record_path.is_file() and not _is_store_copy(local):
            sources.append(RunSource(label, experiment, key, entry, "train", "a run trained here is in the runs "
                                     "folder already; it is used, not overwritten by the stored copy"))
            continue
        if entry is not None and label in needs_weights and not entry.has_weights and label not in live:
            sources.append(RunSource(label, experiment, key, entry, "train", "stored without the weights its chapter "
                                     "draws figures from (lstmattn store add --with-weights)", miss=True))
            continue
        if retrain_all or label in live or entry is None:
            reason = ("every run is retrained (make reproduce, or a GPU)" if retrain_all else
                      "not in the store" if entry is None else "the live sample: retrained in every build")
            sources.append(RunSource(label, experiment, key, entry, "live" if label in live and entry else "train",
                                     reason, miss=entry is None and not retrain_all))
            continue
        changed = changed_modules(entry.fingerprint, today)
        verdict: dict[str, Any] | None = None
        if canary == "all" or digest not in entry.verified_digests:
            echo(f"  canary: {entry.run_id} ({len(changed)} training module(s) changed since it was trained)")
            verdict = _cached_canary(cache_path, entry, digest,
                                     lambda: run_canary(entry, experiment.config, device=device).as_record())
        fresh = verdict is None or bool(verdict["passed"])
        if fresh:
            why = ("code unchanged since it was trained or verified" if verdict is None
                   else "the canary reproduced its first training losses")
            sources.append(RunSource(label, experiment, key, entry, "stored", why, changed, verdict))
        elif allow_stale:
            sources.append(RunSource(label, experiment, key, entry, "stored", "STALE: the canary failed; shown anyway "
                                     "(--allow-stale)", changed, verdict, stale=True))
        else:
            sources.append(RunSource(label, experiment, key, entry, "train", "stale: the canary failed", changed,
                                     verdict, stale=True, miss=True))
    if on_miss == "error":
        misses = [s for s in sources if s.miss]
        if misses:
            listed = "\n".join(f"  {s.label} ({s.experiment.run_id}, key {s.key.short}): {s.reason}" for s in misses)
            raise StoreMiss(f"{len(misses)} planned run(s) are not usable from the store:\n{listed}\n"
                            "train them and add them with `lstmattn store add RUN...`")
    for source in sources:
        run = source.experiment.folder(runs_root)
        marker = run.path / LIVE_FINGERPRINT_FILE
        if source.action == "live" and marker.is_file() and marker.read_text(encoding="utf-8").strip() != digest:
            echo(f"  live sample: {run.run_id} was trained with other training modules; retraining it")
            shutil.rmtree(run.path)
        if source.action == "stored":
            materialise(source.entry, source.experiment.config, run,
                        status={"stale": source.stale, "changed_modules": source.changed, "canary": source.canary})
        elif _is_store_copy(run):
            shutil.rmtree(run.path)
    return sources


def mark_live_runs(sources: list[RunSource], runs_root: str | Path) -> None:
    """Record, in each trained live run's folder, the fingerprint of the training modules
    it was trained with, so a later build retrains it once they change."""
    digest = fingerprint_digest(current_fingerprint())
    for source in sources:
        run = source.experiment.folder(runs_root)
        if source.action == "live" and run.record_path.is_file():
            (run.path / LIVE_FINGERPRINT_FILE).write_text(digest + "\n", encoding="utf-8")
