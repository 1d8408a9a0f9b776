"""One Shot Model [15] with feature affinity: the paper's main comparison (Tables 1-4).

The segmentation branch and the RoI classification branch are the one-shot model's
(:class:`~lstmattn.model.one_shot.OneShotLSTMAttention`); only the layer after the RoI
sequence differs. Where the LSTM model runs two LSTM+attention branches, the affinity
model runs the mask sieve and vectorisation (§3.7.1, shared) and then an affinity layer
that mixes the β RoI vectors into one image vector (REFERENCE_CODE.md §1.9).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList

from lstmattn.config import ModelConfig
from lstmattn.model.attention import MaskSieve, RoIVectoriser
from lstmattn.model.heads import ImageClassificationHead
from lstmattn.model.one_shot import OneShotLSTMAttention
from lstmattn.model.roi_classification import RoISequence

__all__ = ["affinity", "AffinityLayer", "AffinityOutput", "OneShotAffinity"]


def affinity(x: Tensor, w1: Tensor, w2: Tensor) -> Tensor:
    """The affinity map of [15] for RoI vectors X.

    With X (``FloatTensor[B, β, C]``, one β×C matrix per image), W1 (``[β, A]``) and w2
    (``[A, 1]``):  F = W1ᵀX (A×C),  v = Fᵀw2 (C×1), returned as ``FloatTensor[B, C]``.
    """
    if x.shape[1] != w1.shape[0]:
        raise ValueError(f"X has {x.shape[1]} RoIs but W1 expects β = {w1.shape[0]}")
    affinities = torch.einsum("ba,nbc->nac", w1, x)  # F = W1ᵀX per image: [B, A, C]
    return torch.einsum("nac,a->nc", affinities, w2.squeeze(-1))  # v = Fᵀw2: [B, C]


class AffinityLayer(nn.Module):
    """Sieve → vectorise → affinity: ``FloatTensor[B, β, C, 28, 28]`` → ``FloatTensor[B, C]``.

    The sieve and vectoriser are the one-shot model's (:class:`MaskSieve`,
    :class:`RoIVectoriser`); W1 (β×A) and w2 (A×1) are initialised with ``randn`` as in
    the reference code.

    Args:
        channels: C, the RoI feature channels.
        beta: β, RoIs per image (the model config's ``roi_batch_size``).
        affinities: A (the paper's comparison: 8).
        sieve_blocks, sieve_order: as for the attention layer.
    """

    def __init__(
        self,
        channels: int,
        *,
        beta: int = 16,
        affinities: int = 8,
        sieve_blocks: int = 1,
        sieve_order: Literal["paper", "reference"] = "paper",
    ) -> None:
        super().__init__()
        if beta < 1 or affinities < 1:
            raise ValueError(f"beta and affinities must be positive, got beta={beta}, affinities={affinities}")
        self.sieve = MaskSieve(channels, sieve_blocks, sieve_order)
        self.vectoriser = RoIVectoriser(channels)
        self.w1 = nn.Parameter(torch.randn(beta, affinities))
        self.w2 = nn.Parameter(torch.randn(affinities, 1))

    def forward(self, roi_features: Tensor) -> Tensor:
        batch, beta = roi_features.shape[:2]
        vectors = self.vectoriser(self.sieve(roi_features.flatten(0, 1)))
        return affinity(vectors.view(batch, beta, -1), self.w1, self.w2)


@dataclass
class AffinityOutput:
    """The affinity classification branch for B images: ``logits (FloatTensor[B, K])``
    and the RoI sequence they came from."""

    logits: Tensor
    rois: RoISequence


class OneShotAffinity(OneShotLSTMAttention):
    """One Shot Model [15]: Mask R-CNN + RoI classification branch + affinity layer + one
    image classification head.

    Same inputs, targets, segmentation branch, RoI classification branch (frozen copies
    refreshed by :meth:`sync_classification_branch` under the config's copy policy, θ,
    NMS, sieve and vectorisation) as :class:`OneShotLSTMAttention`. Differences:

    * the affinity layer (:class:`AffinityLayer`, β = ``roi_batch_size``, A =
      ``affinity_count``) takes the attention layer's place (and its attribute name,
      ``attention``, so ``batchnorm_at_inference="train"`` treats it the same way: backbone
      and affinity layer keep batch statistics at inference; [15]'s test script does that
      for the affinity layer only);
    * one head, FC → FC → K logits (:class:`ImageClassificationHead`, reference 256 → 128
      → 128 → 3), instead of the positive/negative pair;
    * RoIs stay in score (confidence) order whatever ``config.roi_order`` says: [15] has
      no distance-from-origin reordering;
    * the training loss of [15] is unpublished (its training script is not released): we
      use K-class cross-entropy on the head's logits, returned as ``loss_classification``
      (plus the five Mask R-CNN terms for segmentation targets, summed as Eq. 8).

    Evaluation returns one dict per image: ``class_logits (FloatTensor[K])``,
    ``class_probs (FloatTensor[K])`` = softmax of the logits, ``predicted_class
    (Int64Tensor[])`` = argmax, and the detections ``boxes``, ``labels``, ``scores``,
    ``masks`` exactly as the one-shot model.

    Example:
        >>> from lstmattn.config import get_profile
        >>> model = OneShotAffinity(get_profile("quick").model).eval()
        >>> output = model([torch.rand(3, 128, 128)])[0]
        >>> output["class_probs"].shape, round(float(output["class_probs"].detach().sum()), 4)
        (torch.Size([3]), 1.0)
    """

    tasks = frozenset({"segmentation", "classification"})

    def __init__(self, config: ModelConfig) -> None:
        config = replace(config, roi_order="confidence")
        super().__init__(config)
        # The LSTM model's attention layer, positive/negative heads and Δ are replaced.
        del self.positive_head, self.negative_head, self.class_delta
        channels = self.backbone.out_channels
        self.attention = AffinityLayer(
            channels,
            beta=config.roi_batch_size,
            affinities=config.affinity_count,
            sieve_blocks=config.sieve_blocks,
            sieve_order=config.sieve_order,
        )
        self.head = ImageClassificationHead(channels, config.classifier_hidden_size, config.num_image_classes)

    def classify(  # type: ignore[override]
        self,
        image_list: ImageList,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        pooled_box_features: Tensor | None = None,
    ) -> AffinityOutput:
        """RoI sequence (confidence order) → affinity layer → head logits."""
        rois = self.roi_classification(features, proposals, image_list.image_sizes, pooled_box_features)
        return AffinityOutput(logits=self.head(self.attention(rois.features)), rois=rois)

    def classification_loss(self, images: list[Tensor], labels: Tensor) -> Tensor:
        """K-class cross-entropy (our choice: the loss of [15] is unpublished)."""
        logits = self._classify_images(images).logits
        return F.cross_entropy(logits, labels.to(logits.device).long())

    def _predict(self, images: list[Tensor]) -> list[dict[str, Any]]:
        detections, output, _, _ = self._detect_and_classify(images)
        logits = output.logits
        probabilities = F.softmax(logits, dim=-1)
        return [
            {**detection, "class_logits": logits[i], "class_probs": probabilities[i], "predicted_class": logits[i].argmax()}
            for i, detection in enumerate(detections)
        ]
