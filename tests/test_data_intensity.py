"""Training intensity statistics and the out-of-distribution rule (lstmattn.data.intensity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from lstmattn.data.images import load_slice, to_image_tensor
from lstmattn.data.intensity import (
    HISTOGRAM_BINS,
    OOD_FACTOR,
    OOD_MIN_DISTANCE,
    IntensityReference,
    grey_histogram,
    training_intensity_statistics,
)


class _Slices(Dataset):
    """Items as the loaders return them: ``(FloatTensor[3, H, W] in [0, 1], target)``."""

    def __init__(self, greys: list[np.ndarray]) -> None:
        self.greys = greys

    def __len__(self) -> int:
        return len(self.greys)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        return to_image_tensor(self.greys[index]), {"image_label": torch.tensor(0)}


def _real_slices(sample_data: Path, prefix: str) -> list[np.ndarray]:
    return [load_slice(p) for p in sorted((sample_data / "covidx-ct-sample/images").glob(f"{prefix}*.png"))]


def test_histogram_is_normalised() -> None:
    grey = np.array([[0, 7, 8, 255]], dtype=np.uint8)
    histogram = grey_histogram(grey)
    assert histogram.shape == (HISTOGRAM_BINS,) and histogram.sum() == pytest.approx(1.0)
    assert histogram[0] == 0.5 and histogram[1] == 0.25 and histogram[-1] == 0.25


def test_statistics_are_sampled_evenly_and_round_trip_through_the_record(sample_data: Path) -> None:
    greys = _real_slices(sample_data, "COVIDCTMD-P001")
    statistics = training_intensity_statistics(_Slices(greys), sample=10)
    assert statistics["sample_slices"] == 10 and statistics == training_intensity_statistics(_Slices(greys), sample=10)
    assert statistics["distance_p50"] <= statistics["distance_p99"] <= statistics["distance_max"] <= 1.0
    reference = IntensityReference.from_record(statistics)
    assert reference.threshold == pytest.approx(max(OOD_FACTOR * statistics["distance_p99"], OOD_MIN_DISTANCE))
    assert not any(reference.check(grey).out_of_distribution for grey in greys)


def test_far_intensities_are_out_of_distribution(sample_data: Path) -> None:
    reference = IntensityReference.from_record(training_intensity_statistics(_Slices(_real_slices(sample_data, "COVIDCTMD-P001"))))
    check = reference.check(np.full((64, 64), 250, dtype=np.uint8))
    assert check.out_of_distribution and check.to_json()["histogram_distance"] > check.threshold
    assert check.to_json()["mean_grey"] == 250.0


@pytest.mark.parametrize("statistics", [None, {}, {"reference_histogram": [1.0], "distance_p99": 0.1}, {"reference_histogram": [0.0] * HISTOGRAM_BINS}])
def test_old_or_malformed_records_give_no_reference(statistics) -> None:
    assert IntensityReference.from_record(statistics) is None
