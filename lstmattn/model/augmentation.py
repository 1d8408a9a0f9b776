"""Training-time augmentation of classification images (``flip_crop``): the Table 2
classifiers' ``model.classifier_augmentation`` and the one-shot model's
``model.classification_augmentation``. Segmentation images are never augmented."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.transforms import RandomResizedCrop

__all__ = ["CROP_SCALE", "CROP_RATIO", "random_flip_crop"]

#: ``flip_crop`` augmentation: the crop keeps 85-100 % of the slice's area at an aspect
#: ratio of 0.9-1.1, so at least 87 % of each side: what it cuts off a CT slice is mostly
#: air and table (3 % of the quick phantoms' lesion pixels lie in the outer 12.5 % band).
CROP_SCALE: tuple[float, float] = (0.85, 1.0)
CROP_RATIO: tuple[float, float] = (0.9, 1.1)


def random_flip_crop(image: Tensor) -> Tensor:
    """``image`` (``FloatTensor[C, H, W]``) cropped to a random box of :data:`CROP_SCALE`
    of its area at an aspect ratio in :data:`CROP_RATIO`, then flipped left-right with
    probability 1/2 (torch's generator)."""
    top, left, height, width = RandomResizedCrop.get_params(image, scale=list(CROP_SCALE), ratio=list(CROP_RATIO))
    image = image[:, top:top + height, left:left + width]
    return image.flip(-1) if torch.rand(()) < 0.5 else image
