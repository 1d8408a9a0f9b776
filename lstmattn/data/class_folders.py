"""Labelled slices in the folder-per-class layout (torchvision's ``ImageFolder`` layout).

``ROOT/<class folder>/<image>``, one folder per class, e.g. the SARS-CoV-2 CT-scan set
(Soares et al. 2020)::

    sarscov2-ct/COVID/Covid (1).png          → label 1 (COVID-19)
    sarscov2-ct/non-COVID/Non-Covid (1).png  → label 0 (Negative)

The class folders are given in label order (``data.class_folders`` of the config; by
default ``non-COVID``, ``COVID`` for the two-class task of
:data:`lstmattn.labels.TWO_CLASS_NAMES`). Images may be PNG or JPEG, grey, RGB
or RGBA (converted to grey, :func:`lstmattn.data.images.load_slice`), of any size.

A slice is named by its path relative to ROOT with ``/`` separators
(``COVID/Covid (1).png``); file names may hold spaces, so split lists of these
sets (:mod:`lstmattn.data.split_lists`) hold one such path per line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from lstmattn.data.images import IMAGE_SUFFIXES, load_slice, resize_image, to_image_tensor
from lstmattn.errors import DataError
from lstmattn.io import natural_key

__all__ = ["LabelledName", "folder_label", "scan_class_folders", "ClassFolderDataset"]

LabelledName = tuple[str, int]
"""A slice's path relative to ROOT (``COVID/Covid (1).png``) and its label."""


def folder_label(name: str, class_folders: Sequence[str]) -> int:
    """The label of a relative path from its first folder; ``ValueError`` for a path
    outside the class folders."""
    folder, _, file = name.partition("/")
    if not file or folder not in class_folders:
        raise ValueError(f"{name!r} is not <class folder>/<file> with a class folder of {list(class_folders)}")
    return list(class_folders).index(folder)


def scan_class_folders(root: str | Path, class_folders: Sequence[str]) -> list[LabelledName]:
    """Every image under ``root/<class folder>/`` (not recursive), with its label, class
    by class in label order and in natural name order within a class.

    Raises one :class:`DataError` naming every missing or empty class folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "data folder not found")
    records: list[LabelledName] = []
    problems: list[str] = []
    for label, folder in enumerate(class_folders):
        path = root / folder
        if not path.is_dir():
            problems.append(f"class folder {folder}/ not found")
            continue
        names = sorted((p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if not names:
            problems.append(f"class folder {folder}/ holds no images ({', '.join(IMAGE_SUFFIXES)})")
        records += [(f"{folder}/{name}", label) for name in names]
    if problems:
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataError(root, "; ".join(problems) + f" (folders there: {found or 'none'}; expected {list(class_folders)})")
    return records


class ClassFolderDataset(Dataset):
    """Slices of a folder-per-class set with their labels.

    Args:
        root: the folder holding the class folders.
        records: ``(relative path, label)`` of the slices to serve, in order
            (:func:`scan_class_folders`, or a split list).
        image_size: square bilinear resize, or ``None`` for the stored size.

    Items: ``image`` (FloatTensor[3, H, W] in [0, 1]) and ``{"image_label":
    LongTensor[], "file": str}`` with the relative path as ``file``.
    """

    def __init__(self, root: str | Path, records: Sequence[LabelledName], *, image_size: int | None = None) -> None:
        if image_size is not None and image_size <= 0:
            raise ValueError(f"image_size: must be positive or None, got {image_size}")
        if not records:
            raise DataError(root, "no slices to serve")
        self.root = Path(root)
        self.records = list(records)
        self.image_size = image_size

    @property
    def labels(self) -> list[int]:
        """Label of every record, in order."""
        return [label for _, label in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        name, label = self.records[index]
        image = to_image_tensor(load_slice(self.root / name))
        if self.image_size is not None:
            image = resize_image(image, self.image_size)
        return image, {"image_label": torch.tensor(label, dtype=torch.int64), "file": name}
