"""§3.6 RoI classification branch: frozen copies of the segmentation RoI heads that turn
RPN proposals into a fixed-length sequence of β RoI mask features.

The branch never receives gradients of its own (its parameters have
``requires_grad=False``), but gradients flow *through* it, via RoIAlign, into the
backbone. Its weights are refreshed from the segmentation heads by
:meth:`RoIClassificationBranch.sync_from` whenever the segmentation loss improves.

Proposals: the branch scores the RPN's post-NMS proposals of the current mode. While the
model trains (``model.train()``, the classification images of a training step) that is
``rpn_post_nms_top_n_train`` proposals per image after ``rpn_pre_nms_top_n_train`` per
level; at inference (``model.eval()``, also with ``batchnorm_at_inference="train"``,
which keeps only the backbone and the attention layer in training mode) the ``*_test``
counts. The reference code has 200 of each, so there the two coincide.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import batched_nms, boxes as box_ops

__all__ = ["RoISequence", "RoIClassificationBranch", "padding_indices", "select_rois"]


@dataclass
class RoISequence:
    """The β RoIs of each image, in sequence order.

    Attributes:
        features: ``FloatTensor[B, β, C, H, W]`` RoI mask features (H = W = 28).
        boxes: ``FloatTensor[B, β, 4]`` boxes (x1, y1, x2, y2) in model-input pixels.
        scores: ``FloatTensor[B, β]`` class confidence of each box.
        labels: ``Int64Tensor[B, β]`` segmentation class of each box (1 lungs, 2 GGO, 3 C).
        num_distinct: ``Int64Tensor[B]`` boxes that survived NMS before padding to β.
    """

    features: Tensor
    boxes: Tensor
    scores: Tensor
    labels: Tensor
    num_distinct: Tensor


def padding_indices(num_boxes: int, beta: int, device: torch.device | None = None) -> Tensor:
    """Indices that stretch ``num_boxes`` ranked boxes to exactly ``beta`` slots.

    With at least β boxes the top β are kept. With fewer, every survivor fills a run of
    consecutive slots, runs as even as possible and in rank order (slot k takes box
    ⌊k·n/β⌋), so the best box always comes first. This is a deterministic version of the
    reference code's random-length duplication (REFERENCE_CODE.md §1.4).
    """
    if num_boxes < 1:
        raise ValueError(f"num_boxes must be >= 1, got {num_boxes}")
    if num_boxes >= beta:
        return torch.arange(beta, device=device)
    return torch.arange(beta, device=device) * num_boxes // beta


def select_rois(
    boxes: Tensor,
    scores: Tensor,
    shape: tuple[int, int],
    *,
    beta: int,
    score_thresh: float,
    nms_thresh: float,
    order: Literal["confidence", "distance", "shuffled"],
) -> tuple[Tensor, Tensor, Tensor, int]:
    """§3.6 box selection in one image: the β RoIs of the sequence, in sequence order.

    Args:
        boxes: ``FloatTensor[P, K, 4]`` class-specific boxes decoded from P proposals
            (column 0 is the background class).
        scores: ``FloatTensor[P, K]`` class probabilities (softmax) of the proposals.
        shape: the model-input image size ``(height, width)``; boxes are clipped to it.
        beta: β, the sequence length.
        score_thresh: θ; boxes with confidence ≤ θ are removed (θ < 0 keeps all).
        nms_thresh: the IoU of the class-wise NMS (0.25 in the paper's model).
        order: ``"confidence"`` (decreasing, §3.7.1), ``"distance"`` (ascending
            distance of the top-left corner from the image origin, §4.1) or
            ``"shuffled"`` (a random permutation from torch's generator on every call: an
            ablation that tests whether the sequence order carries information).

    Returns:
        ``(boxes FloatTensor[β, 4], scores FloatTensor[β], labels Int64Tensor[β],
        number of distinct boxes before padding)``. Fewer than β survivors are repeated
        by :func:`padding_indices`; none at all (no proposals, or none above θ) gives the
        whole image with score 0 and label 0.
    """
    num_classes = scores.shape[-1]
    boxes = box_ops.clip_boxes_to_image(boxes, shape)[:, 1:].reshape(-1, 4)
    labels = torch.arange(1, num_classes, device=scores.device).repeat(scores.shape[0])
    scores = scores[:, 1:].reshape(-1)
    widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    keep = (scores > score_thresh) & (widths > 0) & (heights > 0)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = batched_nms(boxes, scores, labels, nms_thresh)[:beta]
    if keep.numel() == 0:
        height, width = shape
        boxes = torch.tensor([[0.0, 0.0, float(width), float(height)]], device=scores.device)
        scores = torch.zeros(1, device=scores.device)
        labels = torch.zeros(1, dtype=torch.int64, device=scores.device)
        keep = torch.zeros(1, dtype=torch.int64, device=scores.device)
    index = keep[padding_indices(keep.numel(), beta, keep.device)]
    boxes, scores, labels = boxes[index], scores[index], labels[index]
    if order == "distance":
        distance = torch.hypot(boxes[:, 0], boxes[:, 1])
        ranked = torch.sort(distance, stable=True).indices
        boxes, scores, labels = boxes[ranked], scores[ranked], labels[ranked]
    elif order == "shuffled":
        ranked = torch.randperm(boxes.shape[0]).to(boxes.device)
        boxes, scores, labels = boxes[ranked], scores[ranked], labels[ranked]
    return boxes, scores, labels, int(keep.numel())


class RoIClassificationBranch(nn.Module):
    """Frozen box + mask heads that select β RoIs and extract their mask features (§3.6).

    Box selection: the copied box head scores every RPN proposal; class-specific boxes are
    decoded and clipped, the background column dropped, boxes with confidence ≤ θ removed
    (θ = −0.01 accepts all, as §3.6 intends), NMS per class at ``nms_thresh``, and the
    top β by confidence kept, padded by :func:`padding_indices` when fewer survive. If an
    image yields no box at all (no proposals), the whole image stands in with score 0
    (:func:`select_rois`).

    Order (§3.7.1 vs §4.1): ``"confidence"`` keeps decreasing confidence (§3.7.1);
    ``"distance"`` sorts by the distance of each box's top-left corner from the image
    origin, ascending (§4.1's reported model, and the reference code); ``"shuffled"``
    draws a random order on every pass (an ablation, chapter 5).

    Weight copy (§3.6): ``policy="best"`` copies when the segmentation loss is below the
    best loss seen so far (the paper's "improvement"); ``"previous"`` copies when it is
    below the previous iteration's loss (the reference code). ``smoothing="none"``
    compares each step's loss (the paper); ``"epoch_mean"`` compares the running mean of
    the losses of the current epoch with the best (``"previous"``: the last) mean of a
    completed epoch (:meth:`end_epoch`), so that one lucky batch cannot stop the copy for
    long. Copied: box head, box predictor, mask head and the mask predictor's transposed
    convolution (the rest of the predictor is not part of the branch).
    """

    def __init__(
        self,
        roi_heads: RoIHeads,
        *,
        beta: int = 16,
        score_thresh: float = -0.01,
        nms_thresh: float = 0.25,
        order: Literal["confidence", "distance", "shuffled"] = "confidence",
        policy: Literal["best", "previous"] = "best",
        smoothing: Literal["none", "epoch_mean"] = "none",
    ) -> None:
        super().__init__()
        if beta < 1:
            raise ValueError(f"beta must be >= 1, got {beta}")
        if order not in ("confidence", "distance", "shuffled"):
            raise ValueError(f"order must be 'confidence', 'distance' or 'shuffled', got {order!r}")
        if policy not in ("best", "previous"):
            raise ValueError(f"policy must be 'best' or 'previous', got {policy!r}")
        if smoothing not in ("none", "epoch_mean"):
            raise ValueError(f"smoothing must be 'none' or 'epoch_mean', got {smoothing!r}")
        if not roi_heads.has_mask():
            raise ValueError("roi_heads must have a mask branch")
        self.beta, self.score_thresh, self.nms_thresh = beta, score_thresh, nms_thresh
        self.order, self.policy, self.smoothing = order, policy, smoothing
        self.box_coder: BoxCoder = roi_heads.box_coder
        self.box_roi_pool = roi_heads.box_roi_pool
        self.mask_roi_pool = roi_heads.mask_roi_pool
        self.box_head = copy.deepcopy(roi_heads.box_head)
        self.box_predictor = copy.deepcopy(roi_heads.box_predictor)
        self.mask_head = copy.deepcopy(roi_heads.mask_head)
        self.mask_upsampler = nn.Sequential(
            OrderedDict(conv5_mask=copy.deepcopy(roi_heads.mask_predictor.conv5_mask), relu=nn.ReLU())
        )
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.register_buffer("reference_loss", torch.tensor(math.inf))
        if smoothing == "epoch_mean":  # the epoch so far, checkpointed with the weights
            self.register_buffer("epoch_loss_sum", torch.tensor(0.0, dtype=torch.float64))
            self.register_buffer("epoch_loss_count", torch.tensor(0, dtype=torch.int64))

    def _copied_pairs(self, roi_heads: RoIHeads) -> list[tuple[nn.Module, nn.Module]]:
        return [
            (self.box_head, roi_heads.box_head),
            (self.box_predictor, roi_heads.box_predictor),
            (self.mask_head, roi_heads.mask_head),
            (self.mask_upsampler.conv5_mask, roi_heads.mask_predictor.conv5_mask),
        ]

    @torch.no_grad()
    def sync_from(self, roi_heads: RoIHeads, segmentation_loss: float) -> bool:
        """Copy the segmentation heads' weights if ``segmentation_loss`` (L_SEG of this
        step) is an improvement under the configured policy and smoothing; returns whether
        a copy happened."""
        if self.smoothing == "epoch_mean":
            self.epoch_loss_sum += segmentation_loss
            self.epoch_loss_count += 1
            compared = float(self.epoch_loss_sum / self.epoch_loss_count)
        else:
            compared = segmentation_loss
        improved = bool(compared < self.reference_loss.item())
        if self.smoothing == "none" and (improved or self.policy == "previous"):
            self.reference_loss.fill_(segmentation_loss)
        if improved:
            for target, source in self._copied_pairs(roi_heads):
                target.load_state_dict(source.state_dict())
        return improved

    @torch.no_grad()
    def end_epoch(self) -> None:
        """Close a training epoch: with ``smoothing="epoch_mean"`` its mean L_SEG becomes
        the reference (``"best"``: only if lower) and the running mean restarts; without
        smoothing nothing happens."""
        if self.smoothing != "epoch_mean" or int(self.epoch_loss_count) == 0:
            return
        mean = float(self.epoch_loss_sum / self.epoch_loss_count)
        if self.policy == "previous" or mean < self.reference_loss.item():
            self.reference_loss.fill_(mean)
        self.epoch_loss_sum.zero_()
        self.epoch_loss_count.zero_()

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        pooled_box_features: Tensor | None = None,
    ) -> RoISequence:
        """The β RoIs of each image. ``pooled_box_features``: ``FloatTensor[ΣP, C, 7, 7]``,
        the box RoI pooler's output for exactly these ``features`` and ``proposals``,
        when the caller already has it (the evaluation pass, where the segmentation RoI
        heads pooled them just before: the pooler is theirs); else the branch pools."""
        with torch.no_grad():
            selections = self._select_boxes(features, proposals, image_shapes, pooled_box_features)
        boxes = torch.stack([s[0] for s in selections])
        mask_features = self.mask_roi_pool(features, list(boxes.unbind(0)), image_shapes)
        mask_features = self.mask_upsampler(self.mask_head(mask_features))
        return RoISequence(
            features=mask_features.view(len(selections), self.beta, *mask_features.shape[1:]),
            boxes=boxes,
            scores=torch.stack([s[1] for s in selections]),
            labels=torch.stack([s[2] for s in selections]),
            num_distinct=torch.tensor([s[3] for s in selections], device=boxes.device),
        )

    def _select_boxes(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        pooled_box_features: Tensor | None,
    ) -> list[tuple[Tensor, Tensor, Tensor, int]]:
        if pooled_box_features is None:
            pooled_box_features = self.box_roi_pool(features, proposals, image_shapes)
        box_features = self.box_head(pooled_box_features)
        class_logits, box_regression = self.box_predictor(box_features)
        decoded = self.box_coder.decode(box_regression, proposals)
        probabilities = F.softmax(class_logits, dim=-1)
        per_image = [p.shape[0] for p in proposals]
        return [
            select_rois(boxes, scores, shape, beta=self.beta, score_thresh=self.score_thresh,
                        nms_thresh=self.nms_thresh, order=self.order)
            for boxes, scores, shape in zip(decoded.split(per_image), probabilities.split(per_image), image_shapes)
        ]
