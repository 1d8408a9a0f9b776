"""Run records: every run lives in ``runs/<run-id>/`` with everything needed to trust it.

Layout::

    runs/<run-id>/
      config.yaml        resolved ExperimentConfig
      record.json        git commit, package versions, device, seed, data hashes, times
      log.jsonl          one JSON object per training step and per validation
      checkpoints/       last.pt, best.pt
      results/           evaluation files (predictions CSV, metrics JSON, ...)
      .lock              held (``flock``) by the process training or evaluating the run

One process at a time trains or evaluates a run: :meth:`RunDirectory.lock` takes an
exclusive ``flock`` on ``.lock`` (which holds the owner's PID). The kernel releases it
when its process dies, so a killed run never blocks the next one.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from lstmattn import __version__
from lstmattn.config import ExperimentConfig, load_config, save_config
from lstmattn.errors import LstmattnError
from lstmattn.io import atomic_write_bytes, atomic_write_json, remove_stale_temporaries

__all__ = ["runs_root", "RunDirectory", "RunInUse", "git_commit", "package_versions", "list_runs",
           "config_differences", "describe_differences"]

#: Run folders whose lock this process holds: resolved path → (file descriptor, depth).
_HELD_LOCKS: dict[Path, tuple[int, int]] = {}


class RunInUse(LstmattnError):
    """Another process holds the run's lock (it is training or evaluating the run)."""


def runs_root() -> Path:
    """``$LSTMATTN_RUNS`` or ``./runs``."""
    return Path(os.environ.get("LSTMATTN_RUNS", "runs"))


def git_commit() -> str:
    """The project's git commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "lstmattn": __version__}
    for name in ("torch", "torchvision", "numpy", "scikit-image", "pydicom"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


@dataclass
class RunDirectory:
    """Paths and records of one run."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def record_path(self) -> Path:
        return self.path / "record.json"

    @property
    def log_path(self) -> Path:
        return self.path / "log.jsonl"

    @property
    def results(self) -> Path:
        return self.path / "results"

    def checkpoint(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.pt"

    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    def config(self) -> ExperimentConfig:
        return load_config(self.config_path)

    def record(self) -> dict[str, Any]:
        """The run record (``{}`` before training starts); a corrupt file is a one-line
        :class:`LstmattnError` naming it."""
        if not self.record_path.is_file():
            return {}
        try:
            record = json.loads(self.record_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise LstmattnError(f"{self.record_path}: corrupt run record ({error})") from None
        if not isinstance(record, dict):
            raise LstmattnError(f"{self.record_path}: corrupt run record (a JSON {type(record).__name__}, not an object)")
        return record

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run for this process: an exclusive, non-blocking ``flock`` on
        ``.lock`` (created with the run folder), which then holds this PID.

        Raises :class:`RunInUse` ("run X is in use by PID n") when another process holds
        it. Re-entrant within a process (``ensure_run`` holds it around ``train``). On
        taking it, temporary files (``.<name>.<pid>.tmp``) that dead writers left in the
        folder are removed.
        """
        key = self.path.resolve()
        if key in _HELD_LOCKS:
            descriptor, depth = _HELD_LOCKS[key]
            _HELD_LOCKS[key] = (descriptor, depth + 1)
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(descriptor, 32).decode("ascii", "replace").strip()
                os.close(descriptor)
                holder = f"PID {owner}" if owner.isdigit() else "another process"
                raise RunInUse(f"run {self.run_id} is in use by {holder} ({self.path}); wait for it to finish "
                               "or choose another run id") from None
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
            _HELD_LOCKS[key] = (descriptor, 1)
            remove_stale_temporaries(self.path)
        try:
            yield
        finally:
            descriptor, depth = _HELD_LOCKS.pop(key)
            if depth > 1:
                _HELD_LOCKS[key] = (descriptor, depth - 1)
            else:
                os.ftruncate(descriptor, 0)
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)

    def start(self, config: ExperimentConfig, *, device: torch.device, data: dict[str, Any], variant: str | None = None) -> None:
        """Write the resolved config and the run record (kept across resumes).

        ``record.json`` → ``identity`` is the run's identity (model, variant, profile,
        seed, data, and the data sources of both tasks: ``source`` for classification,
        ``segmentation_source`` for segmentation, ``"phantom"`` for both on phantoms):
        every reader takes it from there, never from the folder name.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        save_config(config, self.config_path)
        record = self.record()
        identity = {
            "model": config.model_name,
            "variant": variant,
            "profile": config.profile,
            "seed": config.train.seed,
            "data": data.get("description", config.data.source),
            "is_phantom": config.data.source == "phantom",
            "source": config.data.source,
            "segmentation_source": "phantom" if config.data.source == "phantom" else config.data.segmentation_source,
        }
        record.update(
            run_id=self.run_id,
            identity=identity,
            model=config.model_name,
            profile=config.profile,
            seed=config.train.seed,
            git_commit=git_commit(),
            packages=package_versions(),
            device=device_description(device),
            torch_threads=torch.get_num_threads(),  # CPU results depend slightly on it
            data=data,
        )
        record.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        atomic_write_json(record, self.record_path)

    def update_record(self, **values: Any) -> None:
        record = self.record()
        record.update(values)
        atomic_write_json(record, self.record_path)

    def log(self, entry: dict[str, Any]) -> None:
        with self.log_path.open("a") as stream:
            stream.write(json.dumps(entry, default=float) + "\n")

    def log_size(self) -> int:
        """Bytes in ``log.jsonl`` (0 before the first entry); checkpoints record it."""
        return self.log_path.stat().st_size if self.log_path.is_file() else 0

    def rewind_log(self, size: int | None, *, step: int) -> None:
        """Cut ``log.jsonl`` back to what it held when the checkpoint training resumes
        from was written, so that the log stays one history: its first ``size`` bytes,
        or (checkpoints that did not record a size) the entries up to ``step``. Atomic."""
        if not self.log_path.is_file():
            return
        data = self.log_path.read_bytes()
        if size is not None:
            kept = data[:size]
        else:
            lines = data.decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if _entry_step(line) <= step).encode()
        if kept != data:
            atomic_write_bytes(kept, self.log_path)


def _entry_step(line: str) -> float:
    """The step of one ``log.jsonl`` line; infinite for a cut or unreadable line."""
    try:
        return json.loads(line).get("step", 0) if line.endswith("\n") else float("inf")
    except (ValueError, AttributeError):
        return float("inf")


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """One summary row per run folder under ``root`` (newest first). A run whose
    ``record.json`` cannot be read is left out with a :class:`UserWarning` naming it."""
    root = root or runs_root()
    rows = []
    for record_path in sorted(root.glob("*/record.json")):
        try:
            record = RunDirectory(record_path.parent).record()
        except LstmattnError as error:
            warnings.warn(f"skipped {error}", UserWarning, stacklevel=2)
            continue
        rows.append(
            {
                "run_id": record.get("run_id", record_path.parent.name),
                "model": record.get("model", "?"),
                "profile": record.get("profile", "?"),
                "data": record.get("data", {}).get("description", "?"),
                "seed": record.get("seed"),
                "status": record.get("status", "?"),
                "steps": record.get("steps"),
                "created": record.get("created", ""),
                "commit": str(record.get("git_commit", ""))[:12],
            }
        )
    return sorted(rows, key=lambda row: row["created"], reverse=True)


_ABSENT = "(absent)"


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted field name → (old value, new value) for every field that differs between
    two :func:`~lstmattn.config.to_dict` views, nested sections field by field; a field
    present in one only has the value ``"(absent)"`` in the other."""
    differences: dict[str, tuple[Any, Any]] = {}
    for key in [*old, *(k for k in new if k not in old)]:
        name = f"{prefix}{key}"
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            differences.update(config_differences(a, b, f"{name}."))
        elif a != b:
            differences[name] = (a, b)
    return differences


def describe_differences(differences: Mapping[str, tuple[Any, Any]], old: str, new: str, limit: int = 4) -> str:
    """``"train.seed: 0 in config.yaml, 1 given; ..."`` for the first ``limit`` differences
    (``old`` and ``new`` name the two sides), then how many more there are."""
    shown = [f"{name}: {a!r} {old}, {b!r} {new}" for name, (a, b) in list(differences.items())[:limit]]
    more = len(differences) - limit
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
