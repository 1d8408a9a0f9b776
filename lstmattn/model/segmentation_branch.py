"""The segmentation branch of Figure 1 (§3.3-3.5) as torchvision ``MaskRCNN`` parts.

Shared by the one-shot model (:mod:`lstmattn.model.one_shot`), which adds the
classification branch on top, and the Mask R-CNN baselines
(:mod:`lstmattn.model.mask_rcnn`), which are this branch alone.
"""

from __future__ import annotations

from typing import Any

from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign

from lstmattn.config import ModelConfig
from lstmattn.model.backbone import build_backbone, feature_map_names

__all__ = ["segmentation_components"]

_DEFAULT_ANCHOR_SIZES = (32, 64, 128, 256, 512)


def segmentation_components(config: ModelConfig) -> dict[str, Any]:
    """Backbone, RPN and RoI-head parts of the segmentation branch (§3.3-3.5), as keyword
    arguments for torchvision's ``MaskRCNN``.

    Anchors: one size per FPN level (``backbone.fpn_levels="all"``, five levels; the
    config guarantees five sizes), or every size on the single C5 level.
    """
    backbone = build_backbone(config.backbone)
    channels = backbone.out_channels
    names = feature_map_names(config.backbone)
    sizes = tuple(config.anchor_sizes or _DEFAULT_ANCHOR_SIZES)
    single_level = config.backbone.fpn_levels == "c5"
    anchor_sizes = (sizes,) if single_level else tuple((size,) for size in sizes)
    anchors = AnchorGenerator(anchor_sizes, (tuple(config.anchor_aspect_ratios),) * len(anchor_sizes))
    return dict(
        backbone=backbone,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(channels, anchors.num_anchors_per_location()[0]),
        box_roi_pool=MultiScaleRoIAlign(names, output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(channels * 7 * 7, config.box_representation_size),
        box_predictor=FastRCNNPredictor(config.box_representation_size, config.num_segmentation_classes),
        mask_roi_pool=MultiScaleRoIAlign(names, output_size=14, sampling_ratio=2),
        mask_head=MaskRCNNHeads(channels, [channels] * config.mask_head_layers, 1),
        mask_predictor=MaskRCNNPredictor(channels, channels, config.num_segmentation_classes),
        min_size=config.image_size,
        max_size=config.image_size,
        rpn_pre_nms_top_n_train=config.rpn_pre_nms_top_n_train,
        rpn_pre_nms_top_n_test=config.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_train=config.rpn_post_nms_top_n_train,
        rpn_post_nms_top_n_test=config.rpn_post_nms_top_n_test,
        rpn_nms_thresh=config.rpn_nms_thresh,
        rpn_batch_size_per_image=config.rpn_batch_size_per_image,
        rpn_positive_fraction=config.rpn_positive_fraction,
        box_score_thresh=config.box_score_thresh,
        box_nms_thresh=config.box_nms_thresh,
        box_detections_per_img=config.box_detections_per_img,
        box_fg_iou_thresh=config.box_fg_iou_thresh,
        box_bg_iou_thresh=config.box_bg_iou_thresh,
        box_batch_size_per_image=config.box_batch_size_per_image,
        box_positive_fraction=config.box_positive_fraction,
    )
