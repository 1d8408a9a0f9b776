"""§3.3 Feature extraction: a torchvision ResNet/ResNeXt with a Feature Pyramid Network.

Built from torchvision's own parts (``torchvision.models.get_model`` and
``BackboneWithFPN``). ``fpn_levels="c5"`` reproduces the reference code's single-level
"FPN": only ``layer4`` (C5, stride 32) enters the FPN and no max-pool level is added.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import ExtraFPNBlock, LastLevelMaxPool

from lstmattn.config import BackboneConfig
from lstmattn.errors import ConfigError

__all__ = ["NoExtraLevels", "build_backbone", "feature_map_names"]

_LAYERS_BY_TRAINABLE_COUNT = ["layer4", "layer3", "layer2", "layer1", "conv1"]


class NoExtraLevels(ExtraFPNBlock):
    """An FPN extra block that adds nothing (the reference code's FPN has no pool level)."""

    def forward(self, results: list[Tensor], x: list[Tensor], names: list[str]) -> tuple[list[Tensor], list[str]]:
        return results, names


def feature_map_names(config: BackboneConfig) -> list[str]:
    """Names of the FPN maps that RoIAlign pools from (the max-pool level is RPN-only)."""
    return ["0"] if config.fpn_levels == "c5" else ["0", "1", "2", "3"]


def build_backbone(config: BackboneConfig) -> BackboneWithFPN:
    """Build the configured ResNet/ResNeXt + FPN (random init unless ``config.weights``)."""
    norm_layer = misc_nn_ops.FrozenBatchNorm2d if config.norm == "frozen_batchnorm" else nn.BatchNorm2d
    weights_enum = _weights_enum(config)
    body = torchvision.models.get_model(config.name, weights=weights_enum, norm_layer=norm_layer)
    if config.weights is not None and weights_enum is None:
        _load_local_weights(body, Path(config.weights))

    trainable = _LAYERS_BY_TRAINABLE_COUNT[: config.trainable_layers]
    if config.trainable_layers == 5:
        trainable.append("bn1")
    for name, parameter in body.named_parameters():
        if not any(name.startswith(layer) for layer in trainable):
            parameter.requires_grad_(False)

    returned_layers = [4] if config.fpn_levels == "c5" else [1, 2, 3, 4]
    stage2_channels = body.inplanes // 8
    extra: ExtraFPNBlock = NoExtraLevels() if config.fpn_levels == "c5" else LastLevelMaxPool()
    return BackboneWithFPN(
        body,
        return_layers={f"layer{k}": str(i) for i, k in enumerate(returned_layers)},
        in_channels_list=[stage2_channels * 2 ** (k - 1) for k in returned_layers],
        out_channels=config.out_channels,
        extra_blocks=extra,
    )


def _weights_enum(config: BackboneConfig) -> Optional[torchvision.models.WeightsEnum]:
    """The torchvision weight enum named by ``config.weights``, or None for a file path."""
    if config.weights is None or Path(config.weights).suffix in {".pth", ".pt", ".bin"}:
        return None
    enum_class = torchvision.models.get_model_weights(config.name)
    try:
        return enum_class[config.weights]
    except KeyError as error:
        raise ConfigError(
            f"backbone.weights={config.weights!r} is neither a file nor one of "
            f"{[w.name for w in enum_class]} for {config.name}"
        ) from error


def _load_local_weights(body: nn.Module, path: Path) -> None:
    """Load ImageNet classification weights from a local file (the ``fc`` layer is ignored)."""
    if not path.is_file():
        raise ConfigError(f"{path}: backbone weight file not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = body.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise ConfigError(f"{path}: weights do not fit the backbone (missing {missing[:3]}, unexpected {unexpected[:3]})")
