"""ImageNet weights for the backbone (§3.3) and the Table 2 classifiers.

The paper does not say how the backbone is initialised; the authors' code builds it with
torchvision's ImageNet weights. ``model.backbone.weights`` chooses:

* ``None``: random initialisation;
* a torchvision weight-enum name of the architecture, ``"IMAGENET1K_V1"`` or in full
  ``"ResNeXt50_32X4D_Weights.IMAGENET1K_V1"``: read through torchvision's own enum from
  torch's hub cache, ``<torch.hub.get_dir()>/checkpoints/<file>``, and downloaded there
  only when missing. Offline, a missing file is one :class:`ConfigError` line naming the
  file, where to put it, and the two other choices;
* the path of a local state dict (``.pth``, ``.pt``, ``.bin``, or any path with a
  directory part): the same ImageNet checkpoint saved elsewhere.

The 1000-class ImageNet head (``fc`` of ResNets, ``classifier`` of DenseNets) is never
loaded: the backbone drops it and the classifiers replace it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models import WeightsEnum

from lstmattn.errors import ConfigError

__all__ = ["WEIGHT_FILE_SUFFIXES", "is_weight_file", "weights_enum", "cached_weight_path", "load_pretrained"]

#: Suffixes that mark ``backbone.weights`` as a file rather than an enum name.
WEIGHT_FILE_SUFFIXES = frozenset({".pth", ".pt", ".bin"})


def is_weight_file(weights: str) -> bool:
    """Whether ``weights`` names a local file (a weight-file suffix or a directory part)."""
    return Path(weights).suffix in WEIGHT_FILE_SUFFIXES or os.sep in weights or "/" in weights


def weights_enum(architecture: str, weights: str) -> WeightsEnum:
    """The torchvision weight enum of ``architecture`` named ``weights``."""
    enum_class = torchvision.models.get_model_weights(architecture)
    name = weights.removeprefix(enum_class.__name__ + ".")
    try:
        return enum_class[name]
    except KeyError:
        raise ConfigError(f"model.backbone.weights={weights!r} is neither a file nor one of "
                          f"{[w.name for w in enum_class]} for {architecture}") from None


def cached_weight_path(enum: WeightsEnum) -> Path:
    """Where torch's hub cache keeps the file of ``enum`` (what ``torch.hub`` downloads)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(enum.url).path)


def _enum_state(architecture: str, weights: str) -> dict[str, Tensor]:
    enum = weights_enum(architecture, weights)
    cached = cached_weight_path(enum)
    try:
        return enum.get_state_dict(progress=False, check_hash=True, map_location="cpu")
    except OSError as error:  # URLError and socket errors are OSErrors: no network
        raise ConfigError(
            f"model.backbone.weights={weights!r}: {cached} is missing and could not be downloaded "
            f"({getattr(error, 'reason', None) or error}); copy {enum.url} to {cached}, or set "
            f"model.backbone.weights to a local .pth file, or to null for random initialisation"
        ) from None


def _file_state(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise ConfigError(f"{path}: backbone weight file not found (model.backbone.weights; null for random initialisation)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or foreign files
        raise ConfigError(f"{path}: not a readable state dict ({error})") from None


def load_pretrained(network: nn.Module, architecture: str, weights: str, *, head: str) -> None:
    """Fill ``network`` (a torchvision ``architecture``) with the ImageNet weights
    ``weights`` names, except the layer called ``head``; a state dict that does not fit
    is a :class:`ConfigError`."""
    state = _file_state(Path(weights)) if is_weight_file(weights) else _enum_state(architecture, weights)
    state = {key: value for key, value in state.items() if not key.startswith(head + ".")}
    try:
        missing, unexpected = network.load_state_dict(state, strict=False)
    except RuntimeError as error:  # tensors of the wrong shape
        raise ConfigError(f"{weights}: weights do not fit {architecture} ({str(error).splitlines()[-1].strip()})") from None
    missing = [key for key in missing if not key.startswith(head + ".")]
    if missing or unexpected:
        raise ConfigError(f"{weights}: weights do not fit {architecture} (missing {missing[:3]}, unexpected {unexpected[:3]})")
