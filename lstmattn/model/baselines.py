"""Baselines of Tables 1 and 2, registered under the names the tables and runs use.

Every baseline is built through the one registry and trained and evaluated by the same
engine, data and metrics as the main model. The models live in their own modules:

* ``one-shot-affinity``: One Shot Model [15] with feature affinity
  (:class:`~lstmattn.model.affinity.OneShotAffinity`), Tables 1-4;
* ``mask-rcnn`` and ``mask-rcnn-heads-only``: the segmentation branch alone
  (:mod:`lstmattn.model.mask_rcnn`), Table 1;
* ``classifier-<architecture>``: torchvision image classifiers
  (:class:`~lstmattn.model.classifiers.ImageClassifier`), Table 2 rows 4-10, input size
  ``model.classifier_image_size`` (default ``model.image_size``), weights
  ``model.backbone.weights``, training augmentation ``model.classifier_augmentation``, the
  bottleneck networks' residual-block initialisation ``model.classifier_zero_init_bottleneck``.

COVID-CT-Mask-Net and the literature rows are quoted, not reimplemented.
"""

from __future__ import annotations

from functools import partial

from lstmattn.config import ExperimentConfig
from lstmattn.model.affinity import OneShotAffinity
from lstmattn.model.classifiers import CLASSIFIER_ARCHITECTURES, ImageClassifier
from lstmattn.model.mask_rcnn import MaskRCNNBaseline, MaskRCNNHeadsOnly
from lstmattn.model.registry import register

__all__ = ["AFFINITY", "MASK_RCNN", "MASK_RCNN_HEADS_ONLY", "CLASSIFIERS", "classifier_image_size"]

AFFINITY = "one-shot-affinity"
MASK_RCNN = "mask-rcnn"
MASK_RCNN_HEADS_ONLY = "mask-rcnn-heads-only"
#: Registered name of each Table 2 classifier, by torchvision architecture.
CLASSIFIERS: dict[str, str] = {architecture: f"classifier-{architecture}" for architecture in CLASSIFIER_ARCHITECTURES}


@register(AFFINITY)
def build_affinity(config: ExperimentConfig) -> OneShotAffinity:
    return OneShotAffinity(config.model)


@register(MASK_RCNN)
def build_mask_rcnn(config: ExperimentConfig) -> MaskRCNNBaseline:
    return MaskRCNNBaseline(config.model)


@register(MASK_RCNN_HEADS_ONLY)
def build_mask_rcnn_heads_only(config: ExperimentConfig) -> MaskRCNNHeadsOnly:
    return MaskRCNNHeadsOnly(config.model)


def classifier_image_size(config: ExperimentConfig) -> int:
    """The classifiers' input side: ``model.classifier_image_size``, else ``model.image_size``."""
    return config.model.classifier_image_size or config.model.image_size


def _build_classifier(architecture: str, config: ExperimentConfig) -> ImageClassifier:
    return ImageClassifier(
        architecture,
        num_classes=config.model.num_image_classes,
        image_size=classifier_image_size(config),
        weights=config.model.backbone.weights,
        augmentation=config.model.classifier_augmentation,
        zero_init_bottleneck=config.model.classifier_zero_init_bottleneck,
    )


for _architecture, _name in CLASSIFIERS.items():
    register(_name)(partial(_build_classifier, _architecture))
