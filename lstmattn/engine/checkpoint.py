"""Checkpoints: written atomically (temp file + rename), read with ``weights_only=True``,
and loaded into a model only when they fit it (:func:`load_weights`)."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from lstmattn.config import ExperimentConfig, to_dict
from lstmattn.engine.runs import config_differences, describe_differences
from lstmattn.errors import LstmattnError

__all__ = ["save_checkpoint", "load_checkpoint", "load_weights"]


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` so that a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (no arbitrary pickles)."""
    path = Path(path)
    if not path.is_file():
        raise LstmattnError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:  # it holds objects that loading would have to build or run
        blocked = re.search(r"GLOBAL ([\w.]+)", str(error))
        holds = f" ({blocked.group(1)})" if blocked else ""
        raise LstmattnError(f"{path}: not a readable lstmattn checkpoint: it holds Python objects{holds}, "
                            "not only weights, and is refused") from None
    except Exception as error:  # torch raises several types for corrupt or foreign files
        detail = next(iter(str(error).strip().splitlines()), type(error).__name__)
        raise LstmattnError(f"{path}: not a readable lstmattn checkpoint ({detail})") from error


def _architecture(config: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a :func:`~lstmattn.config.to_dict` config that decide the weights."""
    return {"model_name": config.get("model_name"), "model": config.get("model", {})}


def load_weights(model: nn.Module, checkpoint: Mapping[str, Any], config: ExperimentConfig, path: str | Path) -> None:
    """Load ``checkpoint["model"]`` into ``model`` (built from ``config``, the run's
    ``config.yaml``), or raise one :class:`LstmattnError` line saying why they do not fit:
    the architecture fields that differ from the config the checkpoint was trained with
    (``model.backbone.name: 'resnet34' in config.yaml, 'resnet18' in the checkpoint``),
    or else how many weights are missing, unexpected or of another shape."""
    weights = checkpoint["model"]
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    reshaped = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or reshaped:
        trained_with = checkpoint.get("config")
        differences = config_differences(_architecture(to_dict(config)), _architecture(trained_with)) if trained_with else {}
        if differences:
            detail = describe_differences(differences, "in config.yaml", "in the checkpoint")
        else:
            counts = [f"{len(keys)} {what}" for keys, what in ((missing, "missing"), (unexpected, "unexpected"),
                                                               (reshaped, "of another shape")) if keys]
            detail = f"weights {', '.join(counts)}, e.g. {(missing or unexpected or reshaped)[0]!r}"
        raise LstmattnError(f"{path}: checkpoint does not match config.yaml ({detail})")
    model.load_state_dict(weights)
