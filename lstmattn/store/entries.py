"""The committed result store: one folder per stored run, found by its key.

Layout (``store/`` at the project root, or ``$LSTMATTN_STORE``)::

    store/<run-id>-<key[:12]>/
      entry.json      the key and its material, the trained run's provenance (commit,
                      machine, precision, threads, wall and step time), its code
                      fingerprint, the canary losses and the fingerprints verified since
      config.yaml     the resolved config as trained
      record.json     the run record as trained
      log.jsonl.gz    the training log, compressed
      results/        the result files (metrics with intervals, per-slice predictions,
                      segmentation scores), as evaluation wrote them
      weights.pt      (only runs added with weights) half-precision model weights, for
                      chapters that draw figures from a model they do not retrain

Only :func:`add_run` (``lstmattn store add``) and :func:`record_verification`
(``lstmattn store check --record``) write here. :func:`materialise` copies an entry into
a runs folder as an evaluated run whose ``record.json`` says it came from the store.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from lstmattn.config import ExperimentConfig, save_config
from lstmattn.engine.checkpoint import load_checkpoint, save_checkpoint
from lstmattn.engine.feature_reference import REFERENCE_FILE
from lstmattn.engine.loading import resolve_checkpoint
from lstmattn.engine.runs import RunDirectory
from lstmattn.errors import LstmattnError
from lstmattn.io import atomic_write_bytes, atomic_write_json
from lstmattn.store.fingerprint import PROJECT_ROOT, blobs_at_commit, fingerprint_digest
from lstmattn.store.keys import StoreKey, store_key

__all__ = ["ENTRY_FILE", "CANARY_STEPS", "StoreError", "StoreEntry", "store_root", "entries", "find_entry",
           "add_run", "materialise", "record_verification", "first_losses"]

ENTRY_FILE = "entry.json"
_LOG_GZ = "log.jsonl.gz"
_WEIGHTS = "weights.pt"

#: Training steps whose logged losses the canary re-computes.
CANARY_STEPS = 3


class StoreError(LstmattnError):
    """A run the store refuses, or a store entry that cannot be read."""


def store_root() -> Path:
    """``$LSTMATTN_STORE``, else ``store/`` at the project root."""
    override = os.environ.get("LSTMATTN_STORE")
    return Path(override) if override else PROJECT_ROOT / "store"


@dataclass(frozen=True)
class StoreEntry:
    """One stored run: its folder and ``entry.json``."""

    path: Path
    meta: Mapping[str, Any]

    @property
    def key(self) -> str:
        return str(self.meta["key"])

    @property
    def run_id(self) -> str:
        return str(self.meta["run_id"])

    @property
    def trained(self) -> Mapping[str, Any]:
        return self.meta["trained"]

    @property
    def fingerprint(self) -> dict[str, str]:
        return dict(self.meta["code"]["modules"])

    @property
    def verified_digests(self) -> set[str]:
        """Fingerprint digests under which this entry is known to train as stored: the one
        it was trained with and every one a passing canary recorded."""
        return {self.meta["code"]["digest"], *(v["digest"] for v in self.meta.get("verified", []) if v.get("passed"))}

    @property
    def has_weights(self) -> bool:
        return (self.path / _WEIGHTS).is_file()

    def config(self) -> ExperimentConfig:
        from lstmattn.config import load_config

        return load_config(self.path / "config.yaml")

    def log_lines(self) -> list[str]:
        with gzip.open(self.path / _LOG_GZ, "rt", encoding="utf-8") as stream:
            return stream.read().splitlines()

    def describe(self) -> str:
        """``trained 2026-12-07 on cpu: x86_64, 2 cores, 2 threads (float32), commit 9d1af0c1e17d``."""
        trained = self.trained
        return (f"trained {str(trained.get('finished') or trained.get('created', '?'))[:10]} on {trained.get('device', '?')} "
                f"({trained.get('precision', '?')}), commit {str(trained.get('commit', '?'))[:12]}")


def _read_entry(folder: Path) -> StoreEntry:
    path = folder / ENTRY_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StoreError(f"{path}: unreadable store entry ({error})") from None
    missing = [name for name in ("key", "run_id", "trained", "code", "canary") if name not in meta]
    if missing:
        raise StoreError(f"{path}: store entry lacks {', '.join(missing)}")
    return StoreEntry(folder, meta)


def entries(root: str | Path | None = None) -> Iterator[StoreEntry]:
    """Every entry of the store, by folder name."""
    root = Path(root) if root is not None else store_root()
    for folder in sorted(root.glob(f"*/{ENTRY_FILE}")) if root.is_dir() else []:
        yield _read_entry(folder.parent)


def find_entry(key: StoreKey, root: str | Path | None = None) -> StoreEntry | None:
    """The entry stored under ``key``, or ``None``."""
    root = Path(root) if root is not None else store_root()
    for folder in root.glob(f"*-{key.short}") if root.is_dir() else []:
        entry = _read_entry(folder)
        if entry.key == key.digest:
            return entry
    return None


def first_losses(log_lines: list[str], steps: int = CANARY_STEPS) -> list[dict[str, float]]:
    """The loss values (every ``loss_*`` field) of the first ``steps`` step entries of a log."""
    found = []
    for line in log_lines:
        entry = json.loads(line)
        if entry.get("kind") == "step":
            found.append({k: float(v) for k, v in entry.items() if k.startswith("loss")})
            if len(found) == steps:
                break
    return found


def _step_seconds(log_lines: list[str]) -> float:
    """Seconds the logged training steps took, summed (validation and epoch entries left out)."""
    entries = (json.loads(line) for line in log_lines)
    return sum(float(entry.get("seconds", 0.0)) for entry in entries if entry.get("kind") == "step")


def _refuse(run: RunDirectory, reason: str) -> StoreError:
    return StoreError(f"{run.path}: not added to the store: {reason}")


def _half_precision_weights(run: RunDirectory) -> dict[str, Any]:
    name = resolve_checkpoint(run)
    checkpoint = load_checkpoint(run.checkpoint(name))
    weights = {k: v.half() if v.is_floating_point() else v for k, v in checkpoint["model"].items()}
    return {"model": weights, "config": checkpoint.get("config"), "checkpoint": name}


def add_run(run_path: str | Path, *, root: str | Path | None = None, with_weights: bool = False,
            replace: bool = False) -> StoreEntry:
    """Add the evaluated run folder ``run_path`` to the store and return its entry.

    Refused (:class:`StoreError`, naming the run and why): a run that is not evaluated, a
    smoke run (``train.max_steps`` set), one trained from a dirty or unknown tree, one whose
    key is stored already (unless ``replace``), and ``with_weights`` without a checkpoint.
    """
    run = RunDirectory(Path(run_path))
    if not run.record_path.is_file() or not run.config_path.is_file():
        raise _refuse(run, "no run there (config.yaml and record.json are missing)")
    record, config = run.record(), run.config()
    if record.get("provenance", {}).get("source") == "store":
        raise _refuse(run, "it was copied from the store, not trained")
    if record.get("status") != "evaluated":
        raise _refuse(run, f"it is not evaluated (status {record.get('status', 'unknown')!r})")
    if config.train.max_steps is not None:
        raise _refuse(run, f"it is a smoke run (train.max_steps = {config.train.max_steps})")
    commit = str(record.get("git_commit", "unknown"))
    if commit.endswith("-dirty") or commit == "unknown":
        raise _refuse(run, f"it was trained from a tree with uncommitted changes or outside git (commit {commit!r})")
    identity = record.get("identity") or {}
    key = store_key(config, identity.get("variant"))
    root = Path(root) if root is not None else store_root()
    existing = find_entry(key, root)
    if existing is not None and not replace:
        raise _refuse(run, f"its key is stored already ({existing.path.name}); pass --replace to overwrite it")
    log_lines = run.log_path.read_text(encoding="utf-8").splitlines() if run.log_path.is_file() else []
    canary = first_losses(log_lines)
    if len(canary) < CANARY_STEPS:
        raise _refuse(run, f"its log holds {len(canary)} training steps, fewer than the canary's {CANARY_STEPS}")
    weights = _half_precision_weights(run) if with_weights else None
    modules = blobs_at_commit(commit)
    last = run.checkpoint("last")
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(last.stat().st_mtime)) if last.is_file() else None
    created = record.get("created")
    wall = (time.mktime(time.strptime(finished, "%Y-%m-%dT%H:%M:%S%z"))
            - time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%S%z"))) if finished and created else None
    meta = {
        "key": key.digest,
        "key_material": key.material,
        "run_id": run.run_id,
        "variant": identity.get("variant"),
        "identity": identity,
        "trained": {
            "commit": commit,
            "created": created,
            "finished": finished,
            "device": record.get("device"),
            "torch_threads": record.get("torch_threads"),
            "precision": record.get("precision"),
            "packages": record.get("packages"),
            "steps": record.get("steps"),
            "step_seconds": round(_step_seconds(log_lines), 1),
            "wall_seconds": None if wall is None else round(wall),
            "evaluated_checkpoint": record.get("evaluated_checkpoint"),
        },
        "code": {"modules": modules, "digest": fingerprint_digest(modules)},
        "canary": {"steps": CANARY_STEPS, "losses": canary},
        "verified": [],
        "added": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    target = root / f"{run.run_id}-{key.short}"
    staging = root / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "results").mkdir(parents=True)
    shutil.copyfile(run.config_path, staging / "config.yaml")
    shutil.copyfile(run.record_path, staging / "record.json")
    atomic_write_bytes(gzip.compress("".join(f"{line}\n" for line in log_lines).encode("utf-8"), mtime=0),
                       staging / _LOG_GZ)
    for source in sorted(run.results.iterdir()):
        # the out-of-distribution reference (~0.4 MB) serves only predict, which needs weights
        if source.is_file() and (weights is not None or source.name != REFERENCE_FILE):
            shutil.copyfile(source, staging / "results" / source.name)
    if weights is not None:
        torch.save(weights, staging / _WEIGHTS)
        meta["weights"] = {"file": _WEIGHTS, "checkpoint": weights["checkpoint"], "dtype": "float16"}
    atomic_write_json(meta, staging / ENTRY_FILE)
    if existing is not None:
        shutil.rmtree(existing.path)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return _read_entry(target)


def materialise(entry: StoreEntry, config: ExperimentConfig, run: RunDirectory, *, status: Mapping[str, Any]) -> None:
    """Write ``entry`` into the run folder ``run`` as an evaluated run of ``config`` (the
    local config, equal to the stored one but for data paths), its ``record.json`` holding
    a ``provenance`` block (``source: store``, the entry, how it was trained and
    ``status``, the staleness checks' outcome). Weights, if stored, become the checkpoint
    the run evaluates, in float32."""
    run.path.mkdir(parents=True, exist_ok=True)
    with run.lock():
        shutil.rmtree(run.results, ignore_errors=True)
        shutil.copytree(entry.path / "results", run.results)
        atomic_write_bytes("".join(f"{line}\n" for line in entry.log_lines()).encode("utf-8"), run.log_path)
        if entry.has_weights:
            stored = torch.load(entry.path / _WEIGHTS, map_location="cpu", weights_only=True)
            weights = {k: v.float() if v.is_floating_point() else v for k, v in stored["model"].items()}
            save_checkpoint({"model": weights, "config": stored.get("config")}, run.checkpoint(stored["checkpoint"]))
        save_config(config, run.config_path)
        record = json.loads((entry.path / "record.json").read_text(encoding="utf-8"))
        record.update(run_id=run.run_id, provenance={"source": "store", "entry": entry.path.name, "key": entry.key,
                                                     "description": entry.describe(), "trained": dict(entry.trained),
                                                     **status})
        atomic_write_json(record, run.record_path)


def record_verification(entry: StoreEntry, result: Mapping[str, Any]) -> StoreEntry:
    """Append a canary ``result`` (``digest``, ``passed``, ``date``, ``machine``, ...) to the
    entry's ``verified`` list, so later builds trust the same code without re-running it."""
    meta = dict(entry.meta)
    meta["verified"] = [*meta.get("verified", []), dict(result)]
    atomic_write_json(meta, entry.path / ENTRY_FILE)
    return _read_entry(entry.path)
