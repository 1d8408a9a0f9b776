"""Common machinery of the label-map segmentation data sets (CNCB, MedSeg).

An image (``.jpg``/``.jpeg``/``.png``) is paired with the mask ``<stem>.png`` in the
mask folder. Each item is ``(image, target)`` with ``image`` a ``FloatTensor[3, H, W]``
in ``[0, 1]`` and ``target`` the torchvision detection dict::

    boxes  (FloatTensor[N, 4])  x1, y1, x2, y2 with exclusive x2, y2
    labels (Int64Tensor[N])
    masks  (UInt8Tensor[N, H, W])
    file   (str)                image file name

Images with no instance give ``N = 0`` tensors of the same shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch.utils.data import Dataset

from lstmattn.data.images import IMAGE_SUFFIXES, load_label_map, load_slice, resize_image, resize_label_map, to_image_tensor
from lstmattn.data.instances import label_map_to_instances, unexpected_values
from lstmattn.errors import DataError
from lstmattn.io import natural_key

__all__ = ["SegmentationSample", "pair_images_with_masks", "LabelMapSegmentationDataset"]

SegmentationSample = tuple[Path, Path]


def pair_images_with_masks(
    image_dir: str | Path,
    mask_dir: str | Path,
    names: Sequence[str] | None = None,
) -> list[SegmentationSample]:
    """``(image, mask)`` paths for ``names`` (default: every image in ``image_dir``).

    Raises one :class:`DataError` listing every listed image or mask that is missing.
    """
    image_dir, mask_dir = Path(image_dir), Path(mask_dir)
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(folder, "folder not found")
    if names is None:
        names = sorted((p.name for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if not names:
            raise DataError(image_dir, f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder")
    samples: list[SegmentationSample] = []
    missing: list[str] = []
    for name in names:
        image_path = image_dir / name
        mask_path = mask_dir / f"{Path(name).stem}.png"
        if not image_path.is_file():
            missing.append(str(image_path))
        elif not mask_path.is_file():
            missing.append(str(mask_path))
        else:
            samples.append((image_path, mask_path))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(missing[0], f"missing file ({len(missing)} missing in all: {shown})")
    return samples


class LabelMapSegmentationDataset(Dataset):
    """Images with semantic label-map masks, served as lesion instances.

    Args:
        samples: ``(image path, mask path)`` pairs.
        label_values: mask value → class label for values that become instances.
        known_values: every mask value allowed (others raise a DataError naming the mask).
        image_size: resize image (bilinear) and mask (nearest, before instance
            extraction) to ``image_size × image_size``; ``None`` keeps the stored size.
        min_component_area: components of at most this many pixels are dropped.
    """

    def __init__(
        self,
        samples: Sequence[SegmentationSample],
        label_values: Mapping[int, int],
        known_values: Sequence[int],
        *,
        image_size: int | None = None,
        min_component_area: int = 100,
    ) -> None:
        if image_size is not None and image_size <= 0:
            raise ValueError(f"image_size: must be positive or None, got {image_size}")
        if min_component_area < 0:
            raise ValueError(f"min_component_area: must be >= 0, got {min_component_area}")
        self.samples = list(samples)
        self.label_values = dict(label_values)
        self.known_values = tuple(sorted({0, *known_values, *label_values}))
        self.image_size = image_size
        self.min_component_area = min_component_area

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image_path, mask_path = self.samples[index]
        grey = load_slice(image_path)
        label_map = load_label_map(mask_path)
        if label_map.shape != grey.shape:
            raise DataError(mask_path, f"mask is {label_map.shape[1]}x{label_map.shape[0]} but image "
                            f"{image_path.name} is {grey.shape[1]}x{grey.shape[0]} (width x height)")
        unknown = unexpected_values(label_map, self.known_values)
        if unknown:
            raise DataError(mask_path, f"unexpected mask values {unknown}; expected only {list(self.known_values)}")
        image = to_image_tensor(grey)
        if self.image_size is not None:
            image = resize_image(image, self.image_size)
            label_map = resize_label_map(label_map, self.image_size)
        boxes, labels, masks = label_map_to_instances(label_map, self.label_values, self.min_component_area)
        return image, {"boxes": boxes, "labels": labels, "masks": masks, "file": image_path.name}
