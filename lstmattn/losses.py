"""Loss functions of §3.8 (Eq. 8-10)."""

from __future__ import annotations

from typing import Literal, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SEGMENTATION_LOSS_NAMES", "CLASSIFICATION_LOSS_NAME", "segmentation_loss", "delta_sigma_loss", "total_loss"]

#: The five Mask R-CNN terms of L_SEG: box + objectness in the RPN, box + class + mask in the RoI heads.
SEGMENTATION_LOSS_NAMES: tuple[str, ...] = (
    "loss_objectness",
    "loss_rpn_box_reg",
    "loss_classifier",
    "loss_box_reg",
    "loss_mask",
)
CLASSIFICATION_LOSS_NAME = "loss_classification"


def segmentation_loss(losses: Mapping[str, Tensor]) -> Tensor:
    """L_SEG: the unweighted sum of the five Mask R-CNN losses (§3.8)."""
    missing = [name for name in SEGMENTATION_LOSS_NAMES if name not in losses]
    if missing:
        raise KeyError(f"segmentation losses missing: {missing}")
    return torch.stack([losses[name] for name in SEGMENTATION_LOSS_NAMES]).sum()


def delta_sigma_loss(
    positive_logits: Tensor,
    negative_logits: Tensor,
    labels: Tensor,
    reduction: Literal["sum", "mean"] = "sum",
) -> Tensor:
    """Eq. 9-10: L_CLS, per-class binary cross-entropy on Δσ = σ(h(x_POS) − h(x_NEG)).

    The target of image i is the one-hot vector of its class. ``reduction="sum"`` sums
    the per-class terms as Eq. 10 is written; ``"mean"`` averages them, as the reference
    code does (a factor 1/C). Either way the result is averaged over the batch.
    """
    delta = positive_logits - negative_logits
    target = F.one_hot(labels.long(), num_classes=delta.shape[-1]).to(delta.dtype)
    per_class = F.binary_cross_entropy_with_logits(delta, target, reduction="none")
    per_image = per_class.sum(dim=-1) if reduction == "sum" else per_class.mean(dim=-1)
    return per_image.mean()


def total_loss(losses: Mapping[str, Tensor]) -> Tensor:
    """Eq. 8: L_TOTAL = L_SEG + L_CLS, over whichever of the two the batch produced."""
    parts = []
    if any(name in losses for name in SEGMENTATION_LOSS_NAMES):
        parts.append(segmentation_loss(losses))
    if CLASSIFICATION_LOSS_NAME in losses:
        parts.append(losses[CLASSIFICATION_LOSS_NAME])
    if not parts:
        raise KeyError("no segmentation or classification loss in the loss dict")
    return torch.stack(parts).sum()
