"""Input transform: torchvision's resize/batching with the paper's normalisation.

The reference code standardises every image to zero mean and unit standard deviation,
channel by channel, and never uses ImageNet statistics (REFERENCE_CODE.md §1.2). We do
the same inside the model, so data loaders hand over plain ``[0, 1]`` tensors.
"""

from __future__ import annotations

from torch import Tensor
from torchvision.models.detection.transform import GeneralizedRCNNTransform

__all__ = ["PerImageStandardizeTransform"]


class PerImageStandardizeTransform(GeneralizedRCNNTransform):
    """``GeneralizedRCNNTransform`` that resizes to ``image_size``² and standardises each
    image per channel: x ← (x − mean_c(x)) / (std_c(x) + eps)."""

    def __init__(self, image_size: int, eps: float = 1e-6) -> None:
        super().__init__(
            min_size=image_size,
            max_size=image_size,
            image_mean=[0.0, 0.0, 0.0],
            image_std=[1.0, 1.0, 1.0],
            fixed_size=(image_size, image_size),
        )
        self.eps = eps

    def normalize(self, image: Tensor) -> Tensor:
        mean = image.mean(dim=(-2, -1), keepdim=True)
        std = image.std(dim=(-2, -1), keepdim=True)
        return (image - mean) / (std + self.eps)
