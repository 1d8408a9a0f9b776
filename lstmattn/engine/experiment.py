"""The experiment layer: what to train, under which identity, and training it only once.

* :func:`resolve_experiment` turns "a profile name or a YAML file" into an
  :class:`~lstmattn.config.ExperimentConfig`. It is the only place that makes that
  decision; the CLI, the book build and the chapters all call it once and pass the
  resolved config on.
* :class:`Experiment` is a resolved config plus its variant name (an ablation, the
  two-class runs of Table 4): together they are the run's identity (model, variant,
  profile, seed, data), recorded in ``record.json`` when training starts.
* :func:`ensure_run` trains and evaluates an experiment unless a finished run of it
  exists, so every chapter reuses one training per model and profile. "Finished" means
  evaluated from the checkpoint the config asks for (``train.evaluate_checkpoint``:
  ``last`` by default, ``best`` as an option); a run evaluated from another one is
  evaluated again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lstmattn.config import PROFILES, ExperimentConfig, get_profile, load_config, to_dict
from lstmattn.engine.loading import resolve_checkpoint
from lstmattn.engine.results import evaluate_run
from lstmattn.engine.runs import RunDirectory, runs_root
from lstmattn.engine.trainer import train
from lstmattn.errors import ConfigError, LstmattnError

__all__ = ["DEFAULT_PROFILE", "resolve_experiment", "with_training", "Experiment", "ensure_run"]

_YAML_SUFFIXES = (".yaml", ".yml")


#: The profile used when neither a profile name nor a config file's ``profile:`` key names one.
DEFAULT_PROFILE = "quick"


def resolve_experiment(spec: str | Path | ExperimentConfig | None = None, *, config_file: str | Path | None = None) -> ExperimentConfig:
    """The config ``spec`` names: a profile (``quick``, ``paper``, ``reference``), the
    path of a YAML config (e.g. the ``paper`` profile pointed at a real COVIDx-CT copy),
    or an already resolved config (returned as is).

    ``config_file`` (the CLI's ``--config`` beside ``--profile``) is a YAML file applied
    on top of the profile ``spec``; the file's own ``profile:`` key, if any, must agree
    with ``spec``. With neither, the profile is :data:`DEFAULT_PROFILE`.
    """
    if isinstance(spec, ExperimentConfig):
        return spec
    if config_file is not None:
        return load_config(_existing(config_file), base_profile=None if spec is None else str(spec),
                           default_profile=DEFAULT_PROFILE)
    text = DEFAULT_PROFILE if spec is None else str(spec)
    if text in PROFILES:
        return get_profile(text)
    if text.endswith(_YAML_SUFFIXES):
        return load_config(_existing(text), default_profile=DEFAULT_PROFILE)
    raise ConfigError(f"{text!r} is neither a profile {sorted(PROFILES)} nor a YAML config file (*.yaml, *.yml)")


def _existing(path: str | Path) -> Path:
    if not Path(path).is_file():
        raise ConfigError(f"{path}: config file not found")
    return Path(path)


def with_training(
    config: ExperimentConfig,
    *,
    epochs: int | None = None,
    max_steps: int | None = None,
    seed: int | None = None,
    data_root: str | None = None,
) -> ExperimentConfig:
    """``config`` with the training length, seed or data folder replaced (``None`` keeps
    the config's value): the overrides the CLI and the book accept on top of a profile."""
    train_values = {k: v for k, v in (("epochs", epochs), ("max_steps", max_steps), ("seed", seed)) if v is not None}
    if train_values:
        config = replace(config, train=replace(config.train, **train_values))
    if data_root is not None:
        config = replace(config, data=replace(config.data, root=data_root))
    return config


@dataclass(frozen=True)
class Experiment:
    """A resolved config and the variant it is (``None`` for a model's default run).

    ``run_id`` is only the folder name ``<profile>-<model>[-<variant>]-s<seed>``; the
    identity itself is written into the run's ``record.json`` by training.
    """

    config: ExperimentConfig
    variant: str | None = None

    @property
    def run_id(self) -> str:
        middle = self.config.model_name if self.variant is None else f"{self.config.model_name}-{self.variant}"
        return f"{self.config.profile}-{middle}-s{self.config.train.seed}"

    def folder(self, root: str | Path | None = None) -> RunDirectory:
        """The run folder of this experiment under ``root`` (default: ``runs_root()``)."""
        return RunDirectory((Path(root) if root is not None else runs_root()) / self.run_id)

    def is_evaluated(self, root: str | Path | None = None) -> bool:
        """Whether a finished run of this experiment exists under ``root``, evaluated
        from the checkpoint its config asks for."""
        return _evaluated_as_configured(self.folder(root))


def _evaluated_as_configured(run: RunDirectory) -> bool:
    """``run`` is evaluated, from the checkpoint ``train.evaluate_checkpoint`` selects. A
    run a book build copied from the result store (``record.json`` → ``provenance``) is
    evaluated as stored: it may come without the checkpoint it was evaluated from."""
    record = run.record()
    if record.get("status") != "evaluated":
        return False
    return record.get("provenance", {}).get("source") == "store" or record.get("evaluated_checkpoint") == resolve_checkpoint(run)


def ensure_run(
    experiment: Experiment,
    *,
    root: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
    n_resamples: int = 1000,
    **train_options: Any,
) -> RunDirectory:
    """Train and evaluate ``experiment`` unless a finished run of it exists; return its
    folder. A killed run is resumed; a folder holding a different config or another
    variant is never reused silently. Training and evaluating hold the run's lock, so a
    run another process (another book build, ``lstmattn train``) is working on is
    refused with :class:`~lstmattn.engine.runs.RunInUse`; reusing a finished run only
    reads it."""
    run = experiment.folder(root)
    if run.config_path.is_file() and to_dict(run.config()) != to_dict(experiment.config):
        raise LstmattnError(f"{run.path}: holds a run with a different config; delete it or name another variant")
    record = run.record()
    recorded = (record.get("identity") or {}).get("variant", experiment.variant)
    if recorded != experiment.variant:
        raise LstmattnError(f"{run.path}: holds variant {recorded!r}, not {experiment.variant!r}")
    if _evaluated_as_configured(run):
        return run
    with run.lock():
        if run.record().get("status") not in ("trained", "evaluated"):
            train(experiment.config, run, resume=run.checkpoint("last").exists(), device=device, progress=progress,
                  variant=experiment.variant, **train_options)
        if not _evaluated_as_configured(run):
            evaluate_run(run, device=device, progress=progress, n_resamples=n_resamples)
    return run
