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

Every way a weight file can fail is one :class:`ConfigError` line naming the file and the
problem, never a torch exception: a download whose SHA-256 does not match the hash in
the file's name (torch.hub's check; nothing is kept), a corrupt or truncated file, one
that holds Python objects (read with ``weights_only=True``, so never run), one that is
not a mapping of parameter names to tensors, and weights whose names or shapes do not
fit the architecture.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping
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


def _download(enum: WeightsEnum, cached: Path, weights: str) -> None:
    """Download the file of ``enum`` to ``cached`` through torch.hub, which checks its
    SHA-256 against the hash in the file name and keeps nothing when they differ."""
    hashed = torch.hub.HASH_REGEX.search(cached.name)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(enum.url, str(cached), hashed.group(1) if hashed else None, progress=False)
    except OSError as error:  # URLError and socket errors are OSErrors: no network
        raise ConfigError(
            f"model.backbone.weights={weights!r}: {cached} is missing and could not be downloaded "
            f"({getattr(error, 'reason', None) or error}); copy {enum.url} to {cached}, or set "
            f"model.backbone.weights to a local .pth file, or to null for random initialisation"
        ) from None
    except RuntimeError as error:  # torch.hub: 'invalid hash value (expected "...", got "...")'
        raise ConfigError(f"{cached}: the download of {enum.url} failed its hash check ({_first_line(error)}); "
                          "nothing was kept: download it again, or copy a good copy there") from None


def _first_line(error: BaseException, limit: int = 160) -> str:
    """``Type: first line of the message``, cut to ``limit`` characters."""
    line = next(iter(str(error).strip().splitlines()), "")
    text = f"{type(error).__name__}: {line}" if line else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_state(path: Path, remedy: str) -> dict[str, Tensor]:
    """The state dict in the weight file ``path``, read with ``weights_only=True``; a
    :class:`ConfigError` naming the file, the problem and ``remedy`` when it cannot be
    read or is not a mapping of parameter names to tensors."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or foreign files
        blocked = re.search(r"GLOBAL ([\w.]+)", str(error))
        problem = (f"it holds Python objects ({blocked.group(1)}), not only weights, and is refused" if blocked
                   else f"corrupt or not a weight file ({_first_line(error)})")
        raise ConfigError(f"{path}: {problem}; {remedy}") from None
    if not isinstance(state, Mapping) or not state:
        raise ConfigError(f"{path}: not a state dict (it holds {_holds(state)}); {remedy}")
    foreign = next(((key, value) for key, value in state.items()
                    if not isinstance(key, str) or not isinstance(value, Tensor)), None)
    if foreign is not None:
        raise ConfigError(f"{path}: not a state dict ({foreign[0]!r} holds {_holds(foreign[1])}, not a tensor); {remedy}")
    return dict(state)


def _holds(value: object) -> str:
    """``an empty dict``, ``a list``, ``an int``: what a weight file held instead of tensors."""
    name = type(value).__name__
    if isinstance(value, Mapping) and not value:
        return f"an empty {name}"
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def _enum_state(architecture: str, weights: str) -> tuple[dict[str, Tensor], Path]:
    """The state dict of a torchvision weight enum, from torch's hub cache (downloaded
    there when missing), and the file it came from."""
    enum = weights_enum(architecture, weights)
    cached = cached_weight_path(enum)
    if not cached.is_file():
        _download(enum, cached, weights)
    return _read_state(cached, f"delete it to download it again (model.backbone.weights={weights!r})"), cached


def _file_state(path: Path) -> tuple[dict[str, Tensor], Path]:
    """The state dict of a local weight file, and the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: backbone weight file not found (model.backbone.weights; null for random initialisation)")
    return _read_state(path, "model.backbone.weights must name an ImageNet state dict (null for random initialisation)"), path


def load_pretrained(network: nn.Module, architecture: str, weights: str, *, head: str) -> None:
    """Fill ``network`` (a torchvision ``architecture``) with the ImageNet weights
    ``weights`` names, except the layer called ``head``; a state dict that does not fit
    is a :class:`ConfigError`."""
    state, path = _file_state(Path(weights)) if is_weight_file(weights) else _enum_state(architecture, weights)
    state = {key: value for key, value in state.items() if not key.startswith(head + ".")}
    try:
        missing, unexpected = network.load_state_dict(state, strict=False)
    except RuntimeError as error:  # tensors of the wrong shape
        raise ConfigError(f"{path}: weights do not fit {architecture} ({str(error).splitlines()[-1].strip()})") from None
    missing = [key for key in missing if not key.startswith(head + ".")]
    if missing or unexpected:
        raise ConfigError(f"{path}: weights do not fit {architecture} (missing {missing[:3]}, unexpected {unexpected[:3]})")
