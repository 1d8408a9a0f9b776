"""What a model sees of a slice, as one vector: the pooled features behind the
out-of-distribution check of ``lstmattn predict`` (:mod:`lstmattn.engine.feature_reference`).

* Models with a ``backbone`` (the one-shot model, the affinity model, Mask R-CNN): the
  global average of every map the backbone returns (each FPN level, or the C5 map
  alone), after the model's own transform (resize to ``image_size``², per-image
  standardisation), concatenated in the backbone's level order.
* The Table 2 classifiers (``network``): the input of the network's last linear layer
  (for the ResNets and DenseNet: their global-average-pooled last feature map).

:class:`FeatureTap` collects these vectors from forward hooks, so ``predict`` takes them
from the very forward pass that predicts (no second backbone pass);
:func:`dataset_features` runs the feature layers alone over a data set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from lstmattn.data.joint import collate_detection
from lstmattn.progress import progress_bar

__all__ = ["FeatureTap", "feature_definition", "dataset_features", "evenly_spaced"]


def _pooled(output: Any) -> Tensor:
    """``FloatTensor[B, D]``: each ``[B, C, H, W]`` map of ``output`` (a tensor or a
    mapping of them, in order) averaged over H and W, concatenated."""
    maps = list(output.values()) if isinstance(output, Mapping) else [output]
    return torch.cat([level.float().mean(dim=(-2, -1)) for level in maps], dim=1)


def _last_linear(network: nn.Module) -> nn.Linear:
    linears = [module for module in network.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(network).__name__}: no linear layer to take features from")
    return linears[-1]


def feature_definition(model: nn.Module) -> str:
    """One line saying which vector :class:`FeatureTap` takes from ``model``."""
    if hasattr(model, "backbone"):
        return ("global average of each backbone output map (every FPN level, or C5 alone) after the model's "
                "transform, concatenated")
    return "input of the classifier network's last linear layer (its pooled last feature map)"


class FeatureTap:
    """Collects the pooled features (module docstring) of every forward pass of
    ``model`` while open; :meth:`take` returns and forgets them.

    Use as a context manager: the hook is removed on exit."""

    def __init__(self, model: nn.Module) -> None:
        self._collected: list[Tensor] = []
        if hasattr(model, "backbone"):
            self._handle = model.backbone.register_forward_hook(
                lambda _module, _inputs, output: self._collected.append(_pooled(output).detach().cpu()))
        elif hasattr(model, "network"):
            self._handle = _last_linear(model.network).register_forward_pre_hook(
                lambda _module, inputs: self._collected.append(inputs[0].detach().float().flatten(1).cpu()))
        else:
            raise ValueError(f"{type(model).__name__}: no backbone or classifier network to take features from")

    def take(self) -> np.ndarray:
        """``float32[N, D]``: the features collected since the last call, in order."""
        if not self._collected:
            raise RuntimeError("no forward pass since the last take()")
        features = torch.cat(self._collected).numpy().astype(np.float32)
        self._collected.clear()
        return features

    def __enter__(self) -> "FeatureTap":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.remove()


def _feature_pass(model: nn.Module, images: list[Tensor]) -> None:
    """The least of ``model`` that fires the tap: transform and backbone, or the whole
    (cheap) classifier."""
    if hasattr(model, "backbone") and hasattr(model, "transform"):
        model.backbone(model.transform(images)[0].tensors)
    else:
        model(images)


def evenly_spaced(size: int, sample: int) -> list[int]:
    """Up to ``sample`` indices spread evenly over ``range(size)`` (the same every time)."""
    return sorted({int(i) for i in np.linspace(0, size - 1, min(size, sample)).round()}) if size else []


class _Sampled(Dataset):
    def __init__(self, dataset: Dataset, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]


@torch.no_grad()
def dataset_features(
    model: nn.Module,
    dataset: Dataset,
    *,
    sample: int | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
    progress: bool = False,
    label: str = "features",
) -> np.ndarray:
    """``float32[N, D]``: the pooled features of ``dataset``'s slices (items
    ``(FloatTensor[3, H, W], target)``), of up to ``sample`` of them evenly spaced, in
    eval mode; ``label`` names the progress display."""
    model.eval()
    indices = evenly_spaced(len(dataset), sample if sample is not None else len(dataset))
    loader = DataLoader(_Sampled(dataset, indices), batch_size=batch_size, shuffle=False, collate_fn=collate_detection)
    chunks = []
    with FeatureTap(model) as tap:
        for images, _ in progress_bar(loader, desc=label, disable=not progress, leave=False):
            _feature_pass(model, [image.to(device) for image in images])
            chunks.append(tap.take())
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)
