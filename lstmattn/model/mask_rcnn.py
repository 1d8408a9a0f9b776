"""Mask R-CNN baselines of Table 1: the one-shot model's segmentation branch on its own.

Both are torchvision's ``MaskRCNN`` assembled from the same parts as the one-shot model
(:func:`~lstmattn.model.segmentation_branch.segmentation_components`: backbone, anchors, RPN and RoI
head settings, 4 classes) with the same per-image standardising transform, and trained
on the segmentation data alone.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torchvision.models.detection import MaskRCNN

from lstmattn.config import ModelConfig
from lstmattn.model.segmentation_branch import segmentation_components
from lstmattn.model.transform import PerImageStandardizeTransform

__all__ = ["MaskRCNNBaseline", "MaskRCNNHeadsOnly"]

_TARGET_KEYS = ("boxes", "labels", "masks")


class MaskRCNNBaseline(MaskRCNN):
    """Mask R-CNN with the one-shot model's segmentation settings (Table 1, "Mask R-CNN").

    Input: ``images``, a list of ``FloatTensor[3, H, W]`` in ``[0, 1]``, resized to
    ``image_size``² and standardised per image and channel, as for the one-shot model.

    Training takes one target per image with ``boxes (FloatTensor[N, 4])``, ``labels
    (Int64Tensor[N])`` (1 lungs, 2 GGO, 3 consolidation) and ``masks (UInt8Tensor[N, H,
    W])`` (other keys are ignored) and returns the five Mask R-CNN losses. Evaluation
    returns torchvision's detections per image: ``boxes``, ``labels``, ``scores``,
    ``masks (FloatTensor[D, 1, H, W])`` in input pixels.

    ``batchnorm_at_inference="train"`` keeps the backbone's BatchNorm on batch statistics
    in eval mode, as the one-shot model's segmentation branch does.
    """

    tasks = frozenset({"segmentation"})

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(**segmentation_components(config))
        self.config = config
        self.transform = PerImageStandardizeTransform(config.image_size)

    def train(self, mode: bool = True) -> "MaskRCNNBaseline":
        super().train(mode)
        if not mode and self.config.batchnorm_at_inference == "train":
            self.backbone.train()
        return self

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None) -> Any:  # type: ignore[override]
        if self.training:
            if targets is None or len(targets) != len(images):
                raise ValueError("training needs one target dict per image")
            missing = [i for i, t in enumerate(targets) if not all(key in t for key in _TARGET_KEYS)]
            if missing:
                raise ValueError(f"targets {missing} lack segmentation labels {_TARGET_KEYS} (Mask R-CNN trains on segmentation data only)")
            targets = [{key: t[key] for key in _TARGET_KEYS} for t in targets]
        return super().forward(images, targets)


class MaskRCNNHeadsOnly(MaskRCNNBaseline):
    """Mask R-CNN with backbone (body + FPN) and RPN frozen; only the RoI heads (box and
    mask) learn (Table 1, "Mask R-CNN (heads only)").

    What initialises the frozen parts is not stated in the paper. Here they keep what the
    config gives them: the ImageNet weights of ``backbone.weights`` for the body (the
    ``paper`` and ``reference`` profiles) or random initialisation (``quick``,
    ``backbone.weights: null``); the FPN and RPN are always random. With random
    initialisation a frozen backbone means the heads learn on random features; that is
    what this row of Table 1 measures under ``quick``. The frozen parts' BatchNorm layers stay
    in eval mode in training too (their running statistics never change), whatever
    ``batchnorm_at_inference`` says. The RPN still reports its two losses, which carry no
    gradient.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        for module in (self.backbone, self.rpn):
            for parameter in module.parameters():
                parameter.requires_grad_(False)

    def train(self, mode: bool = True) -> "MaskRCNNHeadsOnly":
        MaskRCNN.train(self, mode)
        # Frozen BatchNorm statistics. The RPN has no BatchNorm and follows the model's mode,
        # so it keeps the training proposal counts.
        self.backbone.eval()
        return self
