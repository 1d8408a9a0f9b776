"""Run records: every run lives in ``runs/<run-id>/`` with everything needed to trust it.

Layout::

    runs/<run-id>/
      config.yaml        resolved ExperimentConfig
      record.json        git commit, package versions, device, seed, data hashes, times
      log.jsonl          one JSON object per training step and per validation
      checkpoints/       last.pt, best.pt
      results/           evaluation files (predictions CSV, metrics JSON, ...)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from lstmattn import __version__
from lstmattn.config import ExperimentConfig, load_config, save_config
from lstmattn.io import atomic_write_json

__all__ = ["runs_root", "RunDirectory", "git_commit", "package_versions", "list_runs"]


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

    def config(self) -> ExperimentConfig:
        return load_config(self.config_path)

    def record(self) -> dict[str, Any]:
        return json.loads(self.record_path.read_text()) if self.record_path.is_file() else {}

    def start(self, config: ExperimentConfig, *, device: torch.device, data: dict[str, Any], variant: str | None = None) -> None:
        """Write the resolved config and the run record (kept across resumes).

        ``record.json`` → ``identity`` is the run's identity (model, variant, profile,
        seed, data): every reader takes it from there, never from the folder name.
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


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """One summary row per run folder under ``root`` (newest first)."""
    root = root or runs_root()
    rows = []
    for record_path in sorted(root.glob("*/record.json")):
        record = json.loads(record_path.read_text())
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
