"""The one-shot LSTM-attention model, one module per part of the paper's Figure 1:
``backbone`` (§3.3), ``rpn`` (§3.4), torchvision's RoI heads (§3.5),
``roi_classification`` (§3.6), ``attention`` (§3.7), ``heads`` (§3.8), assembled in
``one_shot``."""

from lstmattn.model.one_shot import ClassificationOutput, OneShotLSTMAttention

__all__ = ["OneShotLSTMAttention", "ClassificationOutput"]
