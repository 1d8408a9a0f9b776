"""The one-shot model of Figure 1: Mask R-CNN + RoI classification branch + attention
layer + two image classification modules, solving segmentation and classification at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import resize_boxes

from lstmattn.config import ExperimentConfig, ModelConfig
from lstmattn.losses import CLASSIFICATION_LOSS_NAME, delta_sigma_loss
from lstmattn.model.attention import AttentionLayer, AttentionOutput
from lstmattn.model.augmentation import random_flip_crop
from lstmattn.model.heads import DeltaLogits, ImageClassificationHead
from lstmattn.model.roi_classification import RoIClassificationBranch, RoISequence
from lstmattn.model.registry import ONE_SHOT, register
from lstmattn.model.rpn import OneShotRPN
from lstmattn.model.segmentation_branch import segmentation_components
from lstmattn.model.transform import PerImageStandardizeTransform

__all__ = ["ClassificationOutput", "OneShotLSTMAttention"]


@dataclass
class ClassificationOutput:
    """Everything the full classification branch computes for a batch of B images."""

    positive_logits: Tensor  # h(x_POS), FloatTensor[B, K]
    negative_logits: Tensor  # h(x_NEG), FloatTensor[B, K]
    delta: Tensor  # Δ = h(x_POS) − h(x_NEG) (Eq. 9 before the sigmoid), FloatTensor[B, K]
    rois: RoISequence
    attention: AttentionOutput


class OneShotLSTMAttention(MaskRCNN):
    """One-shot COVID-19 classification and lesion segmentation with LSTM attention.

    Extends torchvision's ``MaskRCNN`` (the segmentation branch, §3.3-3.5, unchanged)
    with the RoI classification branch (§3.6), the attention layer (§3.7) and the
    positive/negative image classification modules (§3.8).

    Input: ``images``, a list of ``FloatTensor[3, H, W]`` in ``[0, 1]`` (any size; the
    transform resizes to ``image_size``² and standardises each image).

    Training (``model.train()``) takes ``targets``, one dict per image, each with
      * segmentation labels: ``boxes (FloatTensor[N, 4])``, ``labels (Int64Tensor[N])``
        with 1 lungs / 2 GGO / 3 consolidation, ``masks (UInt8Tensor[N, H, W])``; and/or
      * an image label: ``image_label (Int64Tensor[])``, 0 Normal / 1 CP / 2 COVID-19.
    It returns a dict of scalar losses: the five Mask R-CNN terms (``loss_objectness``,
    ``loss_rpn_box_reg``, ``loss_classifier``, ``loss_box_reg``, ``loss_mask``) over the
    images with segmentation labels, and ``loss_classification`` (Eq. 9-10) over the
    images with image labels. Eq. 8 is :func:`lstmattn.losses.total_loss` of that dict.

    Evaluation (``model.eval()``) returns one dict per image:
      * ``class_logits (FloatTensor[K])``: Δ = h(x_POS) − h(x_NEG);
      * ``class_probs (FloatTensor[K])``: σ(Δ) per class (Eq. 9, multilabel: they need not
        sum to 1);
      * ``predicted_class (Int64Tensor[])``: argmax Δ;
      * detections as in torchvision: ``boxes (FloatTensor[D, 4])``, ``labels
        (Int64Tensor[D])``, ``scores (FloatTensor[D])``, ``masks (FloatTensor[D, 1, H, W])``
        probabilities, in the input image's pixels;
      * ``attention``: a dict with ``alpha_pos`` and ``alpha_neg (FloatTensor[β])`` (each
        sums to 1), ``roi_boxes (FloatTensor[β, 4])`` in input pixels, ``roi_scores
        (FloatTensor[β])``, ``roi_labels (Int64Tensor[β])``, all in sequence order, plus
        ``order`` (``"confidence"`` or ``"distance"``) and ``num_distinct`` (RoIs before
        padding to β).

    Args:
        config: the model configuration (see :class:`lstmattn.config.ModelConfig`).
        classification_loss_reduction: ``"sum"`` (Eq. 10) or ``"mean"`` (reference code)
            over the classes.

    Example:
        >>> from lstmattn.config import get_profile
        >>> model = OneShotLSTMAttention(get_profile("quick").model).eval()
        >>> output = model([torch.rand(3, 128, 128)])[0]
        >>> output["attention"]["alpha_pos"].shape
        torch.Size([16])
    """

    tasks = frozenset({"segmentation", "classification"})

    def __init__(self, config: ModelConfig, *, classification_loss_reduction: Literal["sum", "mean"] = "sum") -> None:
        components = segmentation_components(config)
        super().__init__(**components)
        self.config = config
        self.classification_loss_reduction = classification_loss_reduction
        self.transform = PerImageStandardizeTransform(config.image_size)
        self.rpn = OneShotRPN(
            components["rpn_anchor_generator"],
            components["rpn_head"],
            fg_iou_thresh=0.7,
            bg_iou_thresh=0.3,
            batch_size_per_image=config.rpn_batch_size_per_image,
            positive_fraction=config.rpn_positive_fraction,
            pre_nms_top_n=dict(training=config.rpn_pre_nms_top_n_train, testing=config.rpn_pre_nms_top_n_test),
            post_nms_top_n=dict(training=config.rpn_post_nms_top_n_train, testing=config.rpn_post_nms_top_n_test),
            nms_thresh=config.rpn_nms_thresh,
        )
        channels = self.backbone.out_channels
        self.roi_classification = RoIClassificationBranch(
            self.roi_heads,
            beta=config.roi_batch_size,
            score_thresh=config.roi_score_thresh,
            nms_thresh=config.roi_nms_thresh,
            order=config.roi_order,
            policy=config.weight_copy_policy,
            smoothing=config.weight_copy_smoothing,
        )
        self.attention = AttentionLayer(
            channels,
            hidden_size=config.lstm_hidden_size,
            sieve_blocks=config.sieve_blocks,
            sieve_order=config.sieve_order,
            pooling=config.attention_pooling,
            negative_branch=config.negative_branch,
        )
        self.positive_head = ImageClassificationHead(
            config.lstm_hidden_size, config.classifier_hidden_size, config.num_image_classes
        )
        self.negative_head = ImageClassificationHead(
            config.lstm_hidden_size, config.classifier_hidden_size, config.num_image_classes
        ) if config.negative_branch else None
        self.class_delta = DeltaLogits()

    # ----------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "OneShotLSTMAttention":
        """As ``nn.Module.train``; with ``batchnorm_at_inference="train"`` the backbone and
        attention layer keep using batch statistics in eval mode (reference code)."""
        super().train(mode)
        if not mode and self.config.batchnorm_at_inference == "train":
            self.backbone.train()
            self.attention.train()
        return self

    def sync_classification_branch(self, segmentation_loss: float) -> bool:
        """§3.6: copy the segmentation heads into the RoI classification branch if
        ``segmentation_loss`` (L_SEG of the current weights) is an improvement.

        Call it after ``backward()`` and before ``optimizer.step()``: the copy then holds
        exactly the weights that produced the loss, and the autograd graph (which runs
        through the branch in the summed scheme) is no longer needed. In DDP, pass the
        loss averaged over ranks so that every rank makes the same decision.
        """
        return self.roi_classification.sync_from(self.roi_heads, segmentation_loss)

    def end_epoch(self) -> None:
        """Called by the trainer after each complete epoch: closes the epoch of the
        smoothed weight copy (``weight_copy_smoothing="epoch_mean"``; a no-op otherwise)."""
        self.roi_classification.end_epoch()

    # ----------------------------------------------------------------- forward
    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None) -> Any:  # type: ignore[override]
        if self.training:
            if targets is None or len(targets) != len(images):
                raise ValueError("training needs one target dict per image")
            return self._training_losses(images, targets)
        return self._predict(images)

    def _training_losses(self, images: list[Tensor], targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        segmentation = [(image, t) for image, t in zip(images, targets) if "masks" in t]
        classification = [(image, t["image_label"]) for image, t in zip(images, targets) if "image_label" in t]
        if not segmentation and not classification:
            raise ValueError("every target needs segmentation labels (boxes, labels, masks) or an image_label")
        losses: dict[str, Tensor] = {}
        if segmentation:
            seg_images, seg_targets = zip(*segmentation)
            losses.update(self.segmentation_losses(list(seg_images), list(seg_targets)))
        if classification:
            cls_images, labels = zip(*classification)
            losses[CLASSIFICATION_LOSS_NAME] = self.classification_loss(list(cls_images), torch.stack(labels))
        return losses

    def segmentation_losses(self, images: list[Tensor], targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """The five Mask R-CNN losses of L_SEG (§3.5) for images with segmentation labels."""
        targets = [{key: t[key] for key in ("boxes", "labels", "masks")} for t in targets]
        image_list, targets = self.transform(images, targets)
        features = self.backbone(image_list.tensors)
        proposals, rpn_losses = self.rpn(image_list, features, targets)
        _, roi_losses = self.roi_heads(features, proposals, image_list.image_sizes, targets)
        return {**rpn_losses, **roi_losses}

    def _classify_images(self, images: list[Tensor]) -> Any:
        """Transform → backbone → proposals → :meth:`classify` (the classification path)."""
        image_list, _ = self.transform(images)
        features = self.backbone(image_list.tensors)
        return self.classify(image_list, features, self.rpn.propose(image_list, features))

    def _detect_and_classify(self, images: list[Tensor]) -> tuple[list[dict[str, Tensor]], Any, ImageList, list[tuple[int, int]]]:
        """Evaluation pass shared by both paths: detections in input pixels, the
        classification output, the transformed images and the input sizes."""
        original_sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
        image_list, _ = self.transform(images)
        features = self.backbone(image_list.tensors)
        proposals = self.rpn.propose(image_list, features)
        # The segmentation box head pools the very features and proposals the RoI
        # classification branch scores next (§3.6: its pooler is theirs); the branch takes
        # that output instead of pooling again (RoIAlign over every proposal: about a fifth
        # of a quick 512² slice's CPU inference).
        pooled: list[Tensor] = []
        hook = self.roi_heads.box_roi_pool.register_forward_hook(lambda _pool, _inputs, output: pooled.append(output))
        try:
            detections, _ = self.roi_heads(features, proposals, image_list.image_sizes)
        finally:
            hook.remove()
        detections = self.transform.postprocess(detections, image_list.image_sizes, original_sizes)
        output = self.classify(image_list, features, proposals, pooled_box_features=pooled[0])
        return detections, output, image_list, original_sizes

    def classification_loss(self, images: list[Tensor], labels: Tensor) -> Tensor:
        """L_CLS (Eq. 9-10) for images with image-level labels (while training, each
        randomly cropped and flipped first with ``classification_augmentation="flip_crop"``)."""
        if self.training and self.config.classification_augmentation == "flip_crop":
            images = [random_flip_crop(image) for image in images]
        output = self._classify_images(images)
        return delta_sigma_loss(
            output.positive_logits,
            output.negative_logits,
            labels.to(output.positive_logits.device),
            self.classification_loss_reduction,
        )

    def classify(
        self,
        image_list: ImageList,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        pooled_box_features: Tensor | None = None,
    ) -> ClassificationOutput:
        """The full classification branch: RoI sequence → attention → h(x_POS), h(x_NEG).
        ``pooled_box_features``: see :meth:`RoIClassificationBranch.forward`."""
        rois = self.roi_classification(features, proposals, image_list.image_sizes, pooled_box_features)
        attention = self.attention(rois.features)
        positive_logits = self.positive_head(attention.positive)
        if self.negative_head is None:  # one branch (an ablation): h(x_NEG) = 0, Δ = h(x_POS)
            negative_logits = torch.zeros_like(positive_logits)
        else:
            negative_logits = self.negative_head(attention.negative)
        return ClassificationOutput(
            positive_logits=positive_logits,
            negative_logits=negative_logits,
            delta=self.class_delta(positive_logits, negative_logits),
            rois=rois,
            attention=attention,
        )

    def _predict(self, images: list[Tensor]) -> list[dict[str, Any]]:
        detections, output, image_list, original_sizes = self._detect_and_classify(images)
        delta = output.delta
        results = []
        for i, detection in enumerate(detections):
            roi_boxes = resize_boxes(output.rois.boxes[i], image_list.image_sizes[i], original_sizes[i])
            results.append(
                {
                    **detection,
                    "class_logits": delta[i],
                    "class_probs": torch.sigmoid(delta[i]),
                    "predicted_class": delta[i].argmax(),
                    "attention": {
                        "alpha_pos": output.attention.alpha_positive[i],
                        "alpha_neg": output.attention.alpha_negative[i],
                        "roi_boxes": roi_boxes,
                        "roi_scores": output.rois.scores[i],
                        "roi_labels": output.rois.labels[i],
                        "num_distinct": output.rois.num_distinct[i],
                        "order": self.roi_classification.order,
                    },
                }
            )
        return results


@register(ONE_SHOT)
def build_one_shot(config: ExperimentConfig) -> OneShotLSTMAttention:
    """The paper's model with the run's model config and loss reduction."""
    return OneShotLSTMAttention(config.model, classification_loss_reduction=config.train.classification_loss_reduction)
