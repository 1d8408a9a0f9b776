"""Slices and label maps as model tensors: the common ``FloatTensor[3, H, W]`` in
``[0, 1]`` form every loader returns (grey replicated to three channels, no
standardisation: the model's transform does that, paper §4.1), and resizing.

The arrays come from :mod:`lstmattn.data.images`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["to_image_tensor", "resize_image", "resize_label_map"]


def to_image_tensor(grey: np.ndarray) -> torch.Tensor:
    """``uint8[H, W]`` → ``FloatTensor[3, H, W]`` in ``[0, 1]`` (grey replicated)."""
    if grey.ndim != 2 or grey.dtype != np.uint8:
        raise ValueError(f"grey: expected a uint8 array [H, W], got {grey.dtype} {grey.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(grey)).to(torch.float32).div_(255.0)
    return tensor.unsqueeze(0).expand(3, -1, -1).contiguous()


def resize_image(image: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of ``FloatTensor[C, H, W]`` to ``[C, size, size]``."""
    if image.shape[-2:] == (size, size):
        return image
    resized = F.interpolate(image.unsqueeze(0), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return resized.squeeze(0).clamp_(0.0, 1.0)


def resize_label_map(label_map: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of ``uint8[H, W]`` labels to ``[size, size]`` (no new values)."""
    if label_map.shape == (size, size):
        return label_map
    tensor = torch.from_numpy(np.ascontiguousarray(label_map))[None, None].to(torch.float32)
    resized = F.interpolate(tensor, size=(size, size), mode="nearest-exact")
    return resized[0, 0].to(torch.uint8).numpy()
