"""§3.8 Image classification modules: FC → FC → class logits, one per attention branch."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ImageClassificationHead"]


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
