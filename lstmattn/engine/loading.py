"""A trained run's model, loaded for inference: what the figures, the explorers and
``lstmattn predict`` need, without the training loop (:mod:`lstmattn.engine.trainer`)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lstmattn.engine.checkpoint import load_checkpoint
from lstmattn.engine.runs import RunDirectory
from lstmattn.model import create

__all__ = ["resolve_device", "load_trained_model"]


def resolve_device(requested: str | torch.device | None = None, local_rank: int = 0) -> torch.device:
    """``requested`` if given, else CUDA (this rank's GPU) when present, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")


def load_trained_model(
    run_dir: RunDirectory | str | Path, checkpoint: str = "best", device: str | torch.device | None = None
) -> nn.Module:
    """The run's registered model (:func:`lstmattn.model.create` of its ``config.yaml``)
    with the weights of ``checkpoints/<checkpoint>.pt``, in eval mode on ``device``
    (default CPU). ``best`` falls back to ``last`` when no validation has happened."""
    run = run_dir if isinstance(run_dir, RunDirectory) else RunDirectory(Path(run_dir))
    path = run.checkpoint(checkpoint)
    if not path.exists() and checkpoint == "best":
        path = run.checkpoint("last")
    config = run.config()
    model = create(config.model_name, config)
    model.load_state_dict(load_checkpoint(path)["model"])
    return model.to(torch.device(device) if device else torch.device("cpu")).eval()
