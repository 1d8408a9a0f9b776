"""Table 1's per-image mask AP matches as the authors' per-image AP script; the
data-set-level variant matches greedily (COCO-style). The per-slice scores the
evaluation keeps reproduce every number and give its interval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from lstmattn.engine.evaluation import (
    AP_MATCHING,
    SEGMENTATION_SLICES_FILE,
    read_segmentation_slices,
    segmentation_metrics,
    segmentation_slices,
    segmentation_summary,
    write_segmentation_slices,
)
from lstmattn.errors import DataError
from lstmattn.metrics import DEFAULT_IOU_THRESHOLDS


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


def test_the_per_slice_file_holds_every_number_and_its_interval(tmp_path: Path) -> None:
    """segmentation_test.json's numbers come from the per-slice scores alone: written,
    read back and summarised, they are those of the evaluation, each with an interval."""
    truth = torch.zeros(1, 32, 32, dtype=torch.uint8)
    truth[0, 8:24, 8:24] = 1
    dataset = [(torch.zeros(3, 32, 32), {"masks": truth, "labels": torch.tensor([2])}),
               (torch.zeros(3, 32, 32), {"masks": truth[:0], "labels": torch.tensor([], dtype=torch.int64)})]
    slices = segmentation_slices(_TwoDetections(), dataset, device=torch.device("cpu"))
    assert slices["n"] == 2 and slices["detections"]["per_slice"] == [2, 2]
    assert slices["detections"]["score"] == [0.9, 0.8, 0.9, 0.8]  # float32, shortest
    # slice 0, by score: IoU 16·13/16² then 16·15/16² with the ground truth; slice 1 has none.
    # Bit t: a true positive at threshold t (IoU strictly above it).
    loose, tight = 16 * 13 / 16**2, 16 * 15 / 16**2

    def bits(low: float, high: float) -> int:
        return sum(2**t for t, threshold in enumerate(DEFAULT_IOU_THRESHOLDS) if low <= threshold < high)

    packed = slices["detections"]["true_positive"]
    assert packed["greedy"][:2] == [bits(0.0, loose), bits(loose, tight)]
    assert packed["reference"][:2] == [0, bits(0.0, tight)]
    assert packed["greedy"][2:] == packed["reference"][2:] == [0, 0]
    assert slices["ground_truth"] == {"per_slice": [1, 0], "label": [2]}
    path = write_segmentation_slices(slices, tmp_path / SEGMENTATION_SLICES_FILE)
    assert read_segmentation_slices(path) == slices
    summary = segmentation_summary(read_segmentation_slices(path), n_resamples=100, seed=3)
    evaluated = segmentation_metrics(_TwoDetections(), dataset, device=torch.device("cpu"), n_resamples=100, seed=3)
    assert json.dumps(summary) == json.dumps(evaluated)  # as JSON: no consolidation anywhere, its Dice NaN
    intervals = summary["intervals"]
    assert (intervals["resampled"], intervals["n_resamples"], intervals["seed"]) == ("slices", 100, 3)
    for variant, values in summary["ap"].items():
        for name, value in values.items():
            interval = intervals["ap"][variant][name]
            assert interval["estimate"] == value and interval["low"] <= value <= interval["high"]
    # per image: slice 0 scores 1/2 (reference matching), slice 1 (two false positives) 0
    assert intervals["ap"]["per_image/lesions"]["AP@0.5"] == {"estimate": 0.25, "low": 0.0, "high": 0.5, "confidence": 0.95}
    assert set(intervals["dice"]) == {"dataset", "mean_per_image"}
    assert intervals["dice"]["dataset"]["any lesion"]["estimate"] == summary["dice"]["dataset"]["any lesion"]
    (tmp_path / "broken.json.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="broken.json.gz: cannot read per-slice scores"):
        read_segmentation_slices(tmp_path / "broken.json.gz")
    write_segmentation_slices({**slices, "format": "something else"}, tmp_path / "other.json.gz")
    with pytest.raises(DataError, match="other.json.gz: not per-slice segmentation scores"):
        read_segmentation_slices(tmp_path / "other.json.gz")
