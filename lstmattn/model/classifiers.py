"""Image classifiers of Table 2 (rows 4-10): torchvision ResNets, ResNeXts and DenseNets
trained on the same classification data as the one-shot model."""

from __future__ import annotations

from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from lstmattn.errors import ConfigError
from lstmattn.losses import CLASSIFICATION_LOSS_NAME
from lstmattn.model.augmentation import random_flip_crop
from lstmattn.model.pretrained import load_pretrained
from lstmattn.model.transform import PerImageStandardizeTransform

__all__ = [
    "BOTTLENECK_ARCHITECTURES",
    "CLASSIFIER_ARCHITECTURES",
    "ImageClassifier",
    "build_classifier_network",
]

#: torchvision architectures of Table 2, in the table's order.
CLASSIFIER_ARCHITECTURES: tuple[str, ...] = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "densenet121",
    "densenet169",
)

#: The architectures of :data:`CLASSIFIER_ARCHITECTURES` built of torchvision's
#: ``Bottleneck`` residual blocks (ResNet18 and ResNet34 use ``BasicBlock``; DenseNets
#: have no residual blocks).
BOTTLENECK_ARCHITECTURES: tuple[str, ...] = ("resnet50", "resnext50_32x4d", "resnext101_32x8d")

def _head_name(architecture: str) -> str:
    return "classifier" if architecture.startswith("densenet") else "fc"


def build_classifier_network(
    architecture: str, num_classes: int, weights: Optional[str] = None, *, zero_init_bottleneck: bool = False
) -> nn.Module:
    """A torchvision classifier with a new ``num_classes``-way final layer.

    ``zero_init_bottleneck`` (``model.classifier_zero_init_bottleneck``): for the
    :data:`BOTTLENECK_ARCHITECTURES`, the last BatchNorm scale of every residual block
    starts at zero (torchvision's ``zero_init_residual``), so that each block starts as
    the identity and the deep networks train from random weights like shallow ones
    (README, "Table 2 classifiers"). The other architectures ignore it: ResNet18 lost
    points with it (benchmarks/MEASUREMENTS.md). Loaded ``weights`` replace those scales.

    ``weights`` (``model.backbone.weights``): ``None`` (random init), a torchvision
    weight-enum name such as ``"IMAGENET1K_V1"``, or a local state dict of the 1000-class
    ImageNet model, loaded by :func:`lstmattn.model.pretrained.load_pretrained` (same
    cache, same offline error as the backbone). They fill everything but the final layer.
    """
    if architecture not in CLASSIFIER_ARCHITECTURES:
        raise ConfigError(f"classifier architecture must be one of {CLASSIFIER_ARCHITECTURES}, got {architecture!r}")
    options = {"zero_init_residual": True} if zero_init_bottleneck and architecture in BOTTLENECK_ARCHITECTURES else {}
    network = torchvision.models.get_model(architecture, weights=None, num_classes=num_classes, **options)
    if weights is not None:
        load_pretrained(network, architecture, weights, head=_head_name(architecture))
    return network


class ImageClassifier(nn.Module):
    """A Table 2 image classifier with the engine's model contract.

    Input: ``images``, a list of ``FloatTensor[3, H, W]`` in ``[0, 1]`` (sizes may differ).
    Each image is standardised per channel (zero mean, unit std: the one-shot model's
    :class:`PerImageStandardizeTransform` normalisation, no ImageNet statistics), then
    resized bilinearly to ``image_size``² and stacked, the same order of operations as
    the one-shot transform.

    Training takes one target per image with ``image_label (Int64Tensor[])`` and returns
    ``{"loss_classification": K-class cross-entropy}`` (mean over the batch). Evaluation
    returns one dict per image: ``class_logits (FloatTensor[K])``, ``class_probs
    (FloatTensor[K])`` (softmax), ``predicted_class (Int64Tensor[])``.

    BatchNorm follows the usual train/eval modes (``batchnorm_at_inference`` is a
    one-shot-model option and does not apply here).

    Augmentation (``"flip_crop"``, training mode only): each standardised image is
    cropped to a random box of :data:`CROP_SCALE` of its area and :data:`CROP_RATIO`
    aspect (torchvision's ``RandomResizedCrop`` box), flipped left-right with
    probability ½, then resized as at evaluation. The paper does not say how its Table 2
    classifiers were trained; without it, the bottleneck ResNets fit the quick
    profile's 1,080 phantom training slices exactly (training accuracy 100 %) and stay
    at 85 % on the validation slices (README).

    Args:
        architecture: one of :data:`CLASSIFIER_ARCHITECTURES`.
        num_classes: K.
        image_size: the side the inputs are resized to (recorded as ``self.image_size``).
        weights: see :func:`build_classifier_network`.
        augmentation: ``"none"`` or ``"flip_crop"``.
        zero_init_bottleneck: see :func:`build_classifier_network`.

    Example:
        >>> model = ImageClassifier("resnet18", num_classes=3, image_size=64).eval()
        >>> model([torch.rand(3, 80, 70)])[0]["class_probs"].shape
        torch.Size([3])
    """

    tasks = frozenset({"classification"})

    def __init__(
        self,
        architecture: str,
        *,
        num_classes: int = 3,
        image_size: int = 512,
        weights: Optional[str] = None,
        augmentation: Literal["none", "flip_crop"] = "none",
        zero_init_bottleneck: bool = False,
    ) -> None:
        super().__init__()
        if image_size < 32:
            raise ValueError(f"image_size must be >= 32, got {image_size}")
        if augmentation not in ("none", "flip_crop"):
            raise ValueError(f"augmentation must be 'none' or 'flip_crop', got {augmentation!r}")
        self.architecture = architecture
        self.image_size = image_size
        self.augmentation = augmentation
        self.standardize = PerImageStandardizeTransform(image_size)  # only its normalize() is used
        self.network = build_classifier_network(architecture, num_classes, weights,
                                                zero_init_bottleneck=zero_init_bottleneck)

    def preprocess(self, images: list[Tensor]) -> Tensor:
        """Standardise each image, augment it (training with ``"flip_crop"``), resize it
        to ``image_size``², stack: ``FloatTensor[B, 3, S, S]``."""
        size = (self.image_size, self.image_size)
        return torch.cat(
            [
                F.interpolate(self._augmented(self.standardize.normalize(image))[None], size=size, mode="bilinear",
                              align_corners=False)
                for image in images
            ]
        )

    def _augmented(self, image: Tensor) -> Tensor:
        """``image`` (``FloatTensor[3, H, W]``) randomly cropped and flipped while training
        with ``"flip_crop"``; as it is otherwise."""
        if not (self.training and self.augmentation == "flip_crop"):
            return image
        return random_flip_crop(image)

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None) -> Any:
        if self.training and (targets is None or len(targets) != len(images)):
            raise ValueError("training needs one target dict per image")
        if self.training and not all("image_label" in t for t in targets):  # type: ignore[union-attr]
            raise ValueError("every target needs an image_label (image classifiers train on classification data only)")
        logits = self.network(self.preprocess(images))
        if self.training:
            labels = torch.stack([t["image_label"] for t in targets]).to(logits.device).long()  # type: ignore[union-attr]
            return {CLASSIFICATION_LOSS_NAME: F.cross_entropy(logits, labels)}
        probabilities = F.softmax(logits, dim=-1)
        return [
            {"class_logits": logit, "class_probs": probability, "predicted_class": logit.argmax()}
            for logit, probability in zip(logits, probabilities)
        ]
