"""Table 1's per-image mask AP matches as the authors' per-image AP script; the
data-set-level variant matches greedily (COCO-style)."""

from __future__ import annotations

import torch
from torch import nn

from lstmattn.engine.evaluation import AP_MATCHING, segmentation_metrics


class _TwoDetections(nn.Module):
    """Two lesion detections of one ground truth: the higher-scored one overlaps it less."""

    tasks = frozenset({"segmentation"})

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        loose = torch.zeros(1, 32, 32)
        loose[0, 8:24, 8:21] = 1.0  # IoU 0.62 with the ground truth below
        tight = torch.zeros(1, 32, 32)
        tight[0, 8:24, 8:23] = 1.0  # IoU 0.86
        return [{"masks": torch.stack([loose, tight]), "scores": torch.tensor([0.9, 0.8]),
                 "labels": torch.tensor([2, 2]), "boxes": torch.zeros(2, 4)} for _ in images]


def test_per_image_ap_uses_the_authors_matching_and_dataset_ap_greedy() -> None:
    truth = torch.zeros(1, 32, 32, dtype=torch.uint8)
    truth[0, 8:24, 8:24] = 1
    dataset = [(torch.zeros(3, 32, 32), {"masks": truth, "labels": torch.tensor([2])})]
    result = segmentation_metrics(_TwoDetections(), dataset, device=torch.device("cpu"))
    assert result["ap_matching"] == AP_MATCHING == {"per_image": "reference", "dataset": "greedy"}
    # The authors' matching gives the ground truth to the best-IoU detection, which ranks
    # second: precision 1/2 at full recall. Greedy matching gives it to the first.
    assert result["ap"]["per_image/lesions"]["AP@0.5"] == 0.5
    assert result["ap"]["dataset/lesions"]["AP@0.5"] == 1.0
