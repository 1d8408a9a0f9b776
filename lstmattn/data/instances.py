"""Semantic label map → lesion instances (boxes, labels, binary masks).

The Mask R-CNN branch learns *instances*; the CNCB and MedSeg masks are semantic.
Following the reference code (``REFERENCE_CODE.md`` §2.3), each class's pixels are
split into connected components (``skimage.measure.label``, 8-connectivity) and small
components are dropped. Unlike the reference code, pixel values map to class labels
through an explicit table, so consolidation keeps its label when GGO is absent.

Malformed input (not a 2-D integer array, a label outside ``[1, 2**63)``, a negative
area) raises :class:`~lstmattn.errors.MaskError`.
"""

from __future__ import annotations

import numbers
from typing import Iterable, Mapping

import numpy as np
import torch
from skimage.measure import label as connected_components
from skimage.measure import regionprops

from lstmattn.errors import MaskError

__all__ = ["label_map_to_instances", "unexpected_values", "empty_instances"]


_MAX_LABEL = 2**63 - 1  # instance labels are int64


def _check_label_map(label_map: np.ndarray) -> None:
    if not isinstance(label_map, np.ndarray) or label_map.ndim != 2 or label_map.dtype.kind not in "biu":
        shape = getattr(label_map, "shape", None)
        kind = getattr(label_map, "dtype", type(label_map).__name__)
        raise MaskError(f"label_map: expected a 2-D integer array [H, W], got {kind} {shape}")


def unexpected_values(label_map: np.ndarray, allowed: Iterable[int]) -> list[int]:
    """Sorted pixel values of ``label_map`` that are not in ``allowed``."""
    _check_label_map(label_map)
    allowed = set(allowed)
    return [int(v) for v in np.unique(label_map) if int(v) not in allowed]


def empty_instances(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero instances with the right shapes: boxes ``[0, 4]``, labels ``[0]``, masks ``[0, H, W]``."""
    return (
        torch.zeros((0, 4), dtype=torch.float32),
        torch.zeros((0,), dtype=torch.int64),
        torch.zeros((0, height, width), dtype=torch.uint8),
    )


def label_map_to_instances(
    label_map: np.ndarray,
    label_values: Mapping[int, int],
    min_area: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Connected components of each class in ``label_map``.

    Args:
        label_map: ``uint8[H, W]`` (or any integer array) of semantic pixel values.
        label_values: pixel value → class label for the values that become instances
            (e.g. CNCB ``{1: 1, 2: 2, 3: 3}``, MedSeg ``{1: 2, 2: 3}``). Other values,
            including 0, are background.
        min_area: components of at most this many pixels are dropped (the reference
            code's ``area <= 100`` rule for ``min_area=100``); 0 keeps all.

    Returns:
        ``boxes`` (FloatTensor[N, 4], ``x1, y1, x2, y2`` with exclusive ``x2, y2``),
        ``labels`` (Int64Tensor[N]) and ``masks`` (UInt8Tensor[N, H, W]), ordered by
        pixel value, then by component number (raster order of first pixel).
    """
    _check_label_map(label_map)
    for value, label in label_values.items():
        if not isinstance(value, numbers.Integral) or not isinstance(label, numbers.Integral) or not 1 <= label <= _MAX_LABEL:
            raise MaskError(f"label_values: expected pixel value → class label >= 1, got {value!r} → {label!r}")
    if not isinstance(min_area, numbers.Integral) or min_area < 0:
        raise MaskError(f"min_area: must be an integer >= 0, got {min_area!r}")
    height, width = label_map.shape
    if label_map.size == 0:
        return empty_instances(height, width)
    boxes: list[list[float]] = []
    labels: list[int] = []
    masks: list[np.ndarray] = []
    for value in sorted(label_values):
        components = connected_components(label_map == value, connectivity=2)
        for region in regionprops(components):
            if region.area <= min_area:
                continue
            row0, col0, row1, col1 = region.bbox
            boxes.append([float(col0), float(row0), float(col1), float(row1)])
            labels.append(int(label_values[value]))
            masks.append(components == region.label)
    if not boxes:
        return empty_instances(height, width)
    return (
        torch.tensor(boxes, dtype=torch.float32),
        torch.tensor(labels, dtype=torch.int64),
        torch.from_numpy(np.stack(masks).astype(np.uint8)),
    )
