"""The one-shot LSTM-attention model, one module per part of the paper's Figure 1:
``backbone`` (§3.3), ``rpn`` (§3.4), torchvision's RoI heads (§3.5),
``roi_classification`` (§3.6), ``attention`` (§3.7), ``heads`` (§3.8), assembled in
``one_shot``. Baselines live in ``baselines``; ``create(name, config)`` builds any of them.

Importing this package imports every module that registers a model (``one_shot``,
``baselines``), so the registry is complete whichever ``lstmattn.model`` module a caller
imports first."""

from lstmattn.model.registry import ONE_SHOT, available_models, create
from lstmattn.model import baselines as _baselines  # noqa: F401  (registers the baselines)
from lstmattn.model.one_shot import ClassificationOutput, OneShotLSTMAttention

__all__ = ["OneShotLSTMAttention", "ClassificationOutput", "create", "available_models", "ONE_SHOT"]
