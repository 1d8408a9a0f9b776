"""The canary: do today's modules still train a stored run as they did?

:func:`run_canary` trains the first :data:`~lstmattn.store.entries.CANARY_STEPS` steps of
a stored run's config with today's code (same seed, same data, same first batches) in a
throw-away run folder and compares every logged loss with the stored log's. The first
step's loss depends on the initial weights, the data and the loss functions; the next
ones also on the gradients and the optimiser. A refactor leaves them equal up to
arithmetic; a change to what training computes moves them.

Tolerance: :data:`SAME_PRECISION_TOLERANCE` (relative) when the canary trains in the
precision the stored run recorded, :data:`OTHER_PRECISION_TOLERANCE` when it cannot (a
run trained in bfloat16 on a CPU that has it, checked on one that has not).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import torch

from lstmattn.config import ExperimentConfig, with_real_data
from lstmattn.engine.loading import resolve_device
from lstmattn.engine.precision import run_precision
from lstmattn.engine.runs import RunDirectory, device_description
from lstmattn.engine.trainer import train
from lstmattn.store.entries import StoreEntry, first_losses
from lstmattn.store.fingerprint import current_fingerprint, fingerprint_digest

__all__ = ["SAME_PRECISION_TOLERANCE", "OTHER_PRECISION_TOLERANCE", "CanaryResult", "canary_config", "stored_threads",
           "run_canary"]

#: Largest relative loss difference accepted when the canary trains in the stored precision
#: (what remains is the thread count's summation order).
SAME_PRECISION_TOLERANCE = 1e-3
#: ... and when it trains in another one (bfloat16 rounds to about 3 significant digits).
OTHER_PRECISION_TOLERANCE = 5e-2


@dataclass(frozen=True)
class CanaryResult:
    """What one canary found: ``passed``, the largest relative difference, the tolerance,
    the precisions compared, and the fingerprint digest of the code it ran."""

    run_id: str
    passed: bool
    max_relative_difference: float
    tolerance: float
    stored_precision: str
    canary_precision: str
    digest: str
    seconds: float
    detail: str

    def as_record(self) -> dict[str, Any]:
        """The entry's ``verified`` item (:func:`~lstmattn.store.entries.record_verification`)."""
        return {"digest": self.digest, "passed": self.passed, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": device_description(resolve_device(None)), "precision": self.canary_precision,
                "max_relative_difference": self.max_relative_difference, "tolerance": self.tolerance}


def canary_config(entry: StoreEntry, real_data: str | Path | None) -> ExperimentConfig:
    """The stored config with its data paths made local: phantoms in this machine's cache,
    a real-data run on ``real_data`` (the folder of ``REAL_DATA_LAYOUT``)."""
    config = entry.config()
    if config.data.source == "phantom":
        return replace(config, data=replace(config.data, root=None))
    if real_data is None:
        raise ValueError(f"{entry.run_id}: a run on real data needs the real-data folder for its canary")
    return with_real_data(config, real_data)


def _largest_difference(stored: list[dict[str, float]], now: list[dict[str, float]]) -> tuple[float, str]:
    worst, where = 0.0, ""
    if len(now) < len(stored):
        return float("inf"), f"the canary logged {len(now)} steps, the store {len(stored)}"
    for step, (old, new) in enumerate(zip(stored, now), start=1):
        for name, value in old.items():
            if name not in new:
                return float("inf"), f"step {step}: {name} is no longer logged"
            difference = abs(new[name] - value) / max(abs(value), 1e-3)
            if difference > worst:
                worst, where = difference, f"step {step} {name}: stored {value:.6g}, now {new[name]:.6g}"
    return worst, where


@contextlib.contextmanager
def stored_threads(entry: StoreEntry) -> Iterator[None]:
    """Torch's CPU thread count set to the one ``entry`` was trained with (``record.json``'s
    ``torch_threads``) while the block runs: the thread count decides the summation order
    of CPU reductions, which can tip a random sampling step (benchmarks/MEASUREMENTS.md,
    "The result store"). Without a recorded count nothing changes."""
    threads, before = entry.trained.get("torch_threads"), torch.get_num_threads()
    if isinstance(threads, int) and threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_canary(entry: StoreEntry, config: ExperimentConfig, *, device: str | None = None,
               workdir: str | Path | None = None) -> CanaryResult:
    """Train the first stored steps of ``entry`` with ``config`` (the stored config, its data
    paths local: :func:`canary_config` or the planned experiment) and compare the losses."""
    stored = entry.meta["canary"]["losses"]
    started = time.perf_counter()
    device_ = resolve_device(device)
    precision = run_precision(config, device_, announce=False).describe()
    stored_precision = str(entry.trained.get("precision"))
    with tempfile.TemporaryDirectory(prefix="lstmattn-canary-", dir=workdir) as folder, stored_threads(entry):
        run = RunDirectory(Path(folder) / entry.run_id)
        train(config, run, device=device, progress=False, stop_after_steps=len(stored), checkpoint_every=0,
              variant=entry.meta.get("variant"))
        lines = run.log_path.read_text(encoding="utf-8").splitlines()
    now = first_losses(lines, len(stored))
    worst, where = _largest_difference(stored, now)
    tolerance = SAME_PRECISION_TOLERANCE if precision == stored_precision else OTHER_PRECISION_TOLERANCE
    return CanaryResult(
        run_id=entry.run_id, passed=worst <= tolerance, max_relative_difference=worst, tolerance=tolerance,
        stored_precision=stored_precision, canary_precision=precision,
        digest=fingerprint_digest(current_fingerprint()), seconds=time.perf_counter() - started,
        detail=where or json.dumps(now[:1]),
    )
