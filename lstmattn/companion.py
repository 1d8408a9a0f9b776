"""What the book's chapters call: train each model once per profile, reuse it everywhere.

``ensure_run(config)`` returns the run folder of ``config``: it trains the model if no
finished run exists (resuming a killed one), evaluates it if its result files are
missing, and otherwise does nothing, so chapter 3 and chapter 4 share one training of
the one-shot model. A run folder holding a *different* config is never reused silently.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lstmattn import __version__
from lstmattn.config import ExperimentConfig, get_profile, load_config, to_dict
from lstmattn.engine.results import evaluate_run
from lstmattn.engine.runs import RunDirectory, git_commit, runs_root
from lstmattn.engine.trainer import default_run_id, train
from lstmattn.errors import LstmattnError

__all__ = ["experiment", "run_folder", "ensure_run", "Chapter"]


def experiment(profile: str, model_name: str | None = None, **model_overrides: Any) -> ExperimentConfig:
    """The ``profile``'s config for ``model_name`` with optional ``ModelConfig`` overrides.

    ``profile`` is a profile name (``quick``, ``paper``, ``reference``) or the path of a
    YAML config (``*.yaml``/``*.yml``), e.g. one that points the ``paper`` profile at a
    real COVIDx-CT/CNCB copy (``data: {source: covidx, root: ..., segmentation_root: ...}``).
    """
    config = load_config(profile) if profile.endswith((".yaml", ".yml")) else get_profile(profile)
    if model_name:
        config = replace(config, model_name=model_name)
    if model_overrides:
        config = replace(config, model=replace(config.model, **model_overrides))
    return config


def run_folder(config: ExperimentConfig, variant: str | None = None, root: Path | None = None) -> RunDirectory:
    """The folder of ``config``'s run: ``<root>/<profile>-<model>[-<variant>]-s<seed>``."""
    run_id = default_run_id(config)
    if variant:
        run_id = run_id.replace(f"-s{config.train.seed}", f"-{variant}-s{config.train.seed}")
    return RunDirectory((root or runs_root()) / run_id)


def ensure_run(
    config: ExperimentConfig,
    *,
    variant: str | None = None,
    root: Path | None = None,
    device: str | None = None,
    progress: bool = True,
    n_resamples: int = 1000,
) -> RunDirectory:
    """Train and evaluate ``config`` unless a finished run of it exists; return its folder.

    ``variant`` names an ablation (e.g. ``"roi_order=distance"``) and becomes part of the
    run id ``<profile>-<model>[-<variant>]-s<seed>``.
    """
    run = run_folder(config, variant, root)
    if run.config_path.is_file() and to_dict(run.config()) != to_dict(config):
        raise LstmattnError(f"{run.path}: holds a run with a different config; delete it or name another variant")
    status = run.record().get("status")
    if status not in ("trained", "evaluated"):
        train(config, run, resume=run.checkpoint("last").exists(), device=device, progress=progress)
    if status != "evaluated":
        evaluate_run(run, device=device, progress=progress, n_resamples=n_resamples)
    return run


@dataclass
class Chapter:
    """The parameters of one book chapter (its papermill ``parameters`` cell) and the
    runs it needs. ``epochs``/``max_steps`` override the profile's training length."""

    profile: str = "quick"
    data_root: str | None = None
    device: str | None = None
    epochs: int | None = None
    max_steps: int | None = None
    output_dir: str = "runs"
    seed: int = 0
    progress: bool = True

    def config(self, model_name: str | None = None, **model_overrides: Any) -> ExperimentConfig:
        config = experiment(self.profile, model_name, **model_overrides)
        train_overrides = {"seed": self.seed}
        if self.epochs is not None:
            train_overrides["epochs"] = self.epochs
        if self.max_steps is not None:
            train_overrides["max_steps"] = self.max_steps
        config = replace(config, train=replace(config.train, **train_overrides))
        if self.data_root:
            config = replace(config, data=replace(config.data, root=self.data_root))
        return config

    def run(self, model_name: str | None = None, *, variant: str | None = None, **model_overrides: Any) -> RunDirectory:
        """The finished, evaluated run of ``model_name`` (trained now if needed)."""
        return ensure_run(
            self.config(model_name, **model_overrides),
            variant=variant,
            root=Path(self.output_dir),
            device=self.device,
            progress=self.progress,
        )

    def banner(self) -> str:
        """The line every chapter prints: package version, profile, commit."""
        return f"lstmattn {__version__} · profile {self.profile} · seed {self.seed} · commit {git_commit()[:12]}"
