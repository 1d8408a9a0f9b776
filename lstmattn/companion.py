"""What the book's chapters call: train each model once per profile, reuse it everywhere.

``ensure_run(config)`` returns the run folder of ``config``: it trains the model if no
finished run exists (resuming a killed one), evaluates it if its result files are
missing, and otherwise does nothing, so chapter 3 and chapter 4 share one training of
the one-shot model. A run folder holding a *different* config is never reused silently.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lstmattn.config import ExperimentConfig, get_profile, to_dict
from lstmattn.engine.results import evaluate_run
from lstmattn.engine.runs import RunDirectory, runs_root
from lstmattn.engine.trainer import default_run_id, train
from lstmattn.errors import LstmattnError

__all__ = ["experiment", "ensure_run"]


def experiment(profile: str, model_name: str | None = None, **model_overrides: Any) -> ExperimentConfig:
    """The ``profile``'s config for ``model_name`` with optional ``ModelConfig`` overrides."""
    config = get_profile(profile)
    if model_name:
        config = replace(config, model_name=model_name)
    if model_overrides:
        config = replace(config, model=replace(config.model, **model_overrides))
    return config


def ensure_run(
    config: ExperimentConfig,
    *,
    variant: str | None = None,
    device: str | None = None,
    progress: bool = True,
    n_resamples: int = 1000,
) -> RunDirectory:
    """Train and evaluate ``config`` unless a finished run of it exists; return its folder.

    ``variant`` names an ablation (e.g. ``"roi_order=distance"``) and becomes part of the
    run id ``<profile>-<model>[-<variant>]-s<seed>``.
    """
    run_id = default_run_id(config)
    if variant:
        run_id = run_id.replace(f"-s{config.train.seed}", f"-{variant}-s{config.train.seed}")
    run = RunDirectory(runs_root() / run_id)
    if run.config_path.is_file() and to_dict(run.config()) != to_dict(config):
        raise LstmattnError(f"{run.path}: holds a run with a different config; delete it or name another variant")
    status = run.record().get("status")
    if status not in ("trained", "evaluated"):
        train(config, run, resume=run.checkpoint("last").exists(), device=device, progress=progress)
    if status != "evaluated":
        evaluate_run(run, device=device, progress=progress, n_resamples=n_resamples)
    return run
