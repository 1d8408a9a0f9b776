"""§3.4 RPN, shared by the segmentation and classification paths.

torchvision's ``RegionProposalNetwork`` insists on targets in training mode. The
classification path of one-shot training (images with an image-level label only) needs
proposals without a loss, so :meth:`OneShotRPN.propose` exposes that half of the
forward pass using the parent's own head, anchor generator, box coder and filter.
"""

from __future__ import annotations

from torch import Tensor
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, concat_box_prediction_layers

__all__ = ["OneShotRPN"]


class OneShotRPN(RegionProposalNetwork):
    """RPN that can also propose boxes for images without box targets."""

    def propose(self, images: ImageList, features: dict[str, Tensor]) -> list[Tensor]:
        """Proposals (``FloatTensor[P, 4]`` per image) with no loss, in either mode."""
        feature_list = list(features.values())
        objectness, deltas = self.head(feature_list)
        anchors = self.anchor_generator(images, feature_list)
        anchors_per_level = [o[0].numel() for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = self.box_coder.decode(deltas.detach(), anchors).view(len(anchors), -1, 4)
        boxes, _ = self.filter_proposals(proposals, objectness, images.image_sizes, anchors_per_level)
        return boxes
