"""Grey-level statistics of training slices, and the out-of-distribution check of
``lstmattn predict``.

A model says nothing useful about slices whose intensities it never saw (a model
trained on synthetic phantoms, pointed at real CT, answers with confidence all the
same). So every run records, when its data is built, the grey-level statistics of a
sample of its classification-training slices (:func:`training_intensity_statistics`,
stored in ``record.json`` → ``data`` → ``intensity``), and ``predict`` compares each
input slice with them (:class:`IntensityReference`).

The rule, on 8-bit grey as the model sees it (COVIDx window for DICOM):

* a slice's **histogram** has :data:`HISTOGRAM_BINS` bins of equal width over 0-255,
  normalised to sum 1;
* the **reference** is the mean histogram of the sampled training slices;
* a slice's **distance** is the total-variation distance (half the L1 distance, 0 =
  same histogram, 1 = disjoint) between its histogram and the reference;
* a slice is **out of distribution** when its distance exceeds
  ``max(OOD_FACTOR × p99, OOD_MIN_DISTANCE)``, p99 being the 99th percentile of the
  sampled training slices' own distances.

Measured on the sample data: synthetic phantoms lie within 0.12 of their reference
(threshold 0.17) while real COVIDx-CT slices lie 0.26-0.51 from it; a reference of real
COVIDx-CT slices has p99 0.32 (threshold 0.48), which its held-out slices and the raw
DICOMs of the same series (at most 0.34) stay under.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from torch.utils.data import Dataset

__all__ = [
    "HISTOGRAM_BINS",
    "OOD_FACTOR",
    "OOD_MIN_DISTANCE",
    "SAMPLE_SLICES",
    "IntensityCheck",
    "IntensityReference",
    "grey_histogram",
    "training_intensity_statistics",
]

#: Bins of the grey-level histogram (equal width over 0-255).
HISTOGRAM_BINS = 32
#: A slice is out of distribution beyond this multiple of the training p99 distance ...
OOD_FACTOR = 1.5
#: ... and never below this distance (a very uniform training set has a tiny p99).
OOD_MIN_DISTANCE = 0.15
#: Training slices sampled (evenly over the list) for the statistics.
SAMPLE_SLICES = 64


def grey_histogram(grey: np.ndarray) -> np.ndarray:
    """The normalised :data:`HISTOGRAM_BINS`-bin histogram of a ``uint8[H, W]`` slice."""
    if grey.dtype != np.uint8 or grey.size == 0:
        raise ValueError(f"grey: expected a non-empty uint8 array, got {grey.dtype} {grey.shape}")
    counts = np.bincount((grey // (256 // HISTOGRAM_BINS)).ravel(), minlength=HISTOGRAM_BINS)
    return counts.astype(np.float64) / grey.size


def _distance(histogram: np.ndarray, reference: np.ndarray) -> float:
    """Total-variation distance between two normalised histograms, in [0, 1]."""
    return float(0.5 * np.abs(histogram - reference).sum())


def _grey_of(item: Any) -> np.ndarray:
    """The ``uint8[H, W]`` grey of a data-set item ``(FloatTensor[3, H, W] in [0, 1], target)``
    (in NumPy: a few small torch operations per slice cost more than the whole histogram)."""
    image = item[0] if isinstance(item, (tuple, list)) else item
    return np.rint(np.clip(image[0].detach().cpu().numpy(), 0.0, 1.0) * 255.0).astype(np.uint8)


def training_intensity_statistics(dataset: Dataset, sample: int = SAMPLE_SLICES) -> dict[str, Any]:
    """Grey-level statistics of up to ``sample`` slices of ``dataset`` (evenly spaced,
    so the same every time), for ``record.json`` → ``data`` → ``intensity``.

    Items are ``(FloatTensor[3, H, W] in [0, 1], target)`` as every loader returns them.
    Keys: ``reference_histogram``, the distance percentiles ``distance_p50`` /
    ``distance_p99`` / ``distance_max`` of the sampled slices to it, ``slice_mean_grey``
    percentiles (``p1``, ``p50``, ``p99``; for people, not for the rule), ``sample_slices``
    and ``histogram_bins``.
    """
    size = len(dataset)
    if size == 0:
        raise ValueError("training_intensity_statistics needs at least one slice")
    indices = sorted({int(i) for i in np.linspace(0, size - 1, min(size, sample)).round()})
    greys = [_grey_of(dataset[index]) for index in indices]
    histograms = np.stack([grey_histogram(grey) for grey in greys])
    reference = histograms.mean(axis=0)
    distances = np.array([_distance(histogram, reference) for histogram in histograms])
    means = np.array([grey.mean() for grey in greys])
    return {
        "method": "grey-level histogram distance (lstmattn.data.intensity)",
        "sample_slices": len(indices),
        "histogram_bins": HISTOGRAM_BINS,
        "reference_histogram": [round(float(v), 6) for v in reference],
        "distance_p50": float(np.percentile(distances, 50)),
        "distance_p99": float(np.percentile(distances, 99)),
        "distance_max": float(distances.max()),
        "slice_mean_grey": {f"p{q}": float(np.percentile(means, q)) for q in (1, 50, 99)},
    }


@dataclass(frozen=True)
class IntensityCheck:
    """One slice against the training statistics."""

    distance: float
    threshold: float
    mean_grey: float

    @property
    def out_of_distribution(self) -> bool:
        """Whether the slice lies beyond the threshold (module docstring)."""
        return self.distance > self.threshold

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, rounded for people."""
        return {
            "histogram_distance": round(self.distance, 4),
            "threshold": round(self.threshold, 4),
            "mean_grey": round(self.mean_grey, 2),
            "out_of_distribution": self.out_of_distribution,
        }


@dataclass(frozen=True)
class IntensityReference:
    """The training statistics a run recorded, ready to check slices against."""

    histogram: np.ndarray
    distance_p99: float

    @classmethod
    def from_record(cls, statistics: Mapping[str, Any] | None) -> "IntensityReference | None":
        """From ``record.json`` → ``data`` → ``intensity``; ``None`` for a run recorded
        before these statistics existed (or with a malformed entry)."""
        if not isinstance(statistics, Mapping):
            return None
        histogram = np.asarray(statistics.get("reference_histogram", ()), dtype=np.float64)
        p99 = statistics.get("distance_p99")
        if histogram.shape != (HISTOGRAM_BINS,) or not isinstance(p99, (int, float)):
            return None
        return cls(histogram, float(p99))

    @property
    def threshold(self) -> float:
        """The distance above which a slice is out of distribution (module docstring)."""
        return max(OOD_FACTOR * self.distance_p99, OOD_MIN_DISTANCE)

    def check(self, grey: np.ndarray) -> IntensityCheck:
        """Compare one ``uint8[H, W]`` slice with the training slices."""
        return IntensityCheck(_distance(grey_histogram(grey), self.histogram), self.threshold, float(grey.mean()))
