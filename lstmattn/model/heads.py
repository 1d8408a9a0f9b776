"""§3.8 Image classification modules: FC → FC → class logits, one per attention branch,
and Eq. 9's difference Δ of their logits."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ImageClassificationHead", "DeltaLogits"]


class ImageClassificationHead(nn.Module):
    """Two fully connected layers (with ReLU) and a logits layer with one output per class."""

    def __init__(self, in_features: int, hidden: int = 128, num_classes: int = 3) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class DeltaLogits(nn.Module):
    """Eq. 9: Δ = h(x_POS) − h(x_NEG), the class logits whose sigmoid is σ(Δ) per class.

    No parameters: a module only so that Δ, like every other stage of Figure 1, can be
    read with a forward hook (see :mod:`lstmattn.viz.attention`).
    """

    def forward(self, positive_logits: Tensor, negative_logits: Tensor) -> Tensor:
        """``FloatTensor[B, K]`` twice → ``FloatTensor[B, K]``."""
        return positive_logits - negative_logits
