"""Model registry: every model of the companion's tables is built by :func:`create`.

A registered model is an ``nn.Module`` that the engine trains and evaluates without
knowing what it is. The contract:

* ``tasks``: a frozenset of ``"segmentation"`` and/or ``"classification"``: which data
  the engine feeds it.
* training (``model.train()``): ``model(images, targets)`` → dict of scalar losses; the
  training objective is their sum. Segmentation targets hold ``boxes``, ``labels``,
  ``masks``; classification targets hold ``image_label``.
* evaluation (``model.eval()``): ``model(images)`` → one dict per image, with
  ``class_logits``, ``class_probs`` (``FloatTensor[K]``) and ``predicted_class`` for
  classification models, and torchvision detections (``boxes``, ``labels``, ``scores``,
  ``masks``) for segmentation models.
* optional: ``sync_classification_branch(segmentation_loss) -> bool`` (§3.6 weight copy)
  and ``end_epoch()``, called after each complete training epoch (the smoothed copy).

Builders take the :class:`~lstmattn.config.ExperimentConfig` and return the model.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from lstmattn.config import ExperimentConfig
from lstmattn.errors import ConfigError
from lstmattn.labels import ONE_SHOT

__all__ = ["register", "create", "available_models", "ONE_SHOT"]


_BUILDERS: dict[str, Callable[[ExperimentConfig], nn.Module]] = {}


def register(name: str) -> Callable[[Callable[[ExperimentConfig], nn.Module]], Callable[[ExperimentConfig], nn.Module]]:
    """Decorator: register a builder ``fn(config) -> nn.Module`` under ``name``."""

    def decorate(builder: Callable[[ExperimentConfig], nn.Module]) -> Callable[[ExperimentConfig], nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        _BUILDERS[name] = builder
        return builder

    return decorate


def available_models() -> list[str]:
    """Every registered model name (the package ``lstmattn.model`` registers them all)."""
    return sorted(_BUILDERS)


def create(name: str, config: ExperimentConfig) -> nn.Module:
    """Build the registered model ``name`` for ``config``."""
    if name not in _BUILDERS:
        raise ConfigError(f"unknown model {name!r}; available: {sorted(_BUILDERS)}")
    return _BUILDERS[name](config)
