"""Tiny in-memory data sets with the loaders' contract, for fast engine tests."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch.utils.data import Dataset

from conftest import segmentation_target, tiny_model_config
from lstmattn.config import get_profile
from lstmattn.engine.datasets import DataBundle


class SegmentationToy(Dataset):
    def __init__(self, n: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = [torch.rand(3, 64, 64, generator=generator) for _ in range(n)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], {**segmentation_target(), "file": f"seg{index}.png"}


class ClassificationToy(Dataset):
    def __init__(self, n: int, seed: int = 1) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = [torch.rand(3, 64, 64, generator=generator) for _ in range(n)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], {"image_label": torch.tensor(index % 3), "file": f"cls{index}.png"}


def toy_bundle() -> DataBundle:
    return DataBundle(
        description="toy tensors (tests)",
        is_phantom=True,
        segmentation_train=SegmentationToy(3),
        segmentation_test=SegmentationToy(2, seed=5),
        classification_train=ClassificationToy(4),
        classification_val=ClassificationToy(3, seed=7),
        classification_test=ClassificationToy(3, seed=8),
        record={"description": "toy tensors (tests)"},
    )


def toy_config(**train_overrides):
    config = get_profile("quick")
    train = replace(config.train, epochs=2, lr=1e-3, segmentation_batch_size=1, classification_batch_size=2, **train_overrides)
    return replace(config, model=tiny_model_config(), train=train)


#: A quick-profile YAML config small enough to train and evaluate in seconds (64-px
#: phantoms, a few slices per split, one step).
TINY_PROFILE_YAML = (
    "profile: quick\n"
    "model: {image_size: 64, classifier_image_size: 64, backbone: {name: resnet18, out_channels: 16}}\n"
    "train: {epochs: 1, max_steps: 1, classification_batch_size: 2, segmentation_batch_size: 1}\n"
    "data:\n"
    "  phantom_per_class: {train: 2, val: 1, test: 1, holdout: 1}\n"
    "  phantom_segmentation: {train: 2, test: 1}\n"
)
