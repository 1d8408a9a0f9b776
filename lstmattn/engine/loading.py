"""A trained run's model, loaded for inference: what the figures, the explorers and
``lstmattn predict`` need, without the training loop (:mod:`lstmattn.engine.trainer`)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lstmattn.engine.checkpoint import load_checkpoint, load_weights
from lstmattn.engine.runs import RunDirectory
from lstmattn.model import create

__all__ = ["resolve_device", "resolve_checkpoint", "load_trained_model"]


def resolve_device(requested: str | torch.device | None = None, local_rank: int = 0) -> torch.device:
    """``requested`` if given, else CUDA (this rank's GPU) when present, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")


def resolve_checkpoint(run: RunDirectory, checkpoint: str | None = None) -> str:
    """The checkpoint that ``checkpoint`` selects in ``run``: ``None`` means the run
    config's ``train.evaluate_checkpoint`` (``last`` unless configured: neither the paper
    nor the authors' code selects a checkpoint by validation); ``best`` is the best
    validation F1 and falls back to ``last`` when no validation has written one. The
    returned name is what evaluation records."""
    name = checkpoint or run.config().train.evaluate_checkpoint
    if name == "best" and not run.checkpoint("best").exists():
        return "last"
    return name


def load_trained_model(
    run_dir: RunDirectory | str | Path, checkpoint: str | None = None, device: str | torch.device | None = None
) -> nn.Module:
    """The run's registered model (:func:`lstmattn.model.create` of its ``config.yaml``)
    with the weights of ``checkpoints/<checkpoint>.pt`` (:func:`resolve_checkpoint`: by
    default the one the run evaluates, ``last``), in eval mode on ``device`` (default CPU)."""
    run = run_dir if isinstance(run_dir, RunDirectory) else RunDirectory(Path(run_dir))
    path = run.checkpoint(resolve_checkpoint(run, checkpoint))
    config = run.config()
    model = create(config.model_name, config)
    load_weights(model, load_checkpoint(path), config, path)
    return model.to(torch.device(device) if device else torch.device("cpu")).eval()
