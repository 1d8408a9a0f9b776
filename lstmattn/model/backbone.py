"""§3.3 Feature extraction: a torchvision ResNet/ResNeXt with a Feature Pyramid Network.

Built from torchvision's own parts (``torchvision.models.get_model`` and
``BackboneWithFPN``). ``fpn_levels="c5"`` is §3.3's setup ("only the last layer of the
backbone, FPN output, is used in RPN layer ... and RoI layer"), which the reference code
also has: only ``layer4`` (C5, stride 32) enters the FPN and no max-pool level is added.
ImageNet weights come from :mod:`lstmattn.model.pretrained`.
"""

from __future__ import annotations

import torchvision
from torch import Tensor, nn
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import ExtraFPNBlock, LastLevelMaxPool

from lstmattn.config import BackboneConfig
from lstmattn.model.pretrained import load_pretrained

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
    """Build the configured ResNet/ResNeXt + FPN: random init, or the ImageNet weights of
    ``config.weights`` in the body (the FPN is always new)."""
    norm_layer = misc_nn_ops.FrozenBatchNorm2d if config.norm == "frozen_batchnorm" else nn.BatchNorm2d
    body = torchvision.models.get_model(config.name, weights=None, norm_layer=norm_layer)
    if config.weights is not None:
        load_pretrained(body, config.name, config.weights, head="fc")

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

