"""The out-of-distribution check of ``lstmattn predict``: is a slice like the ones the
model was trained on, judged from what the model sees of it?

A model says nothing useful about slices unlike its training data, and answers with
confidence all the same. The check, fitted once per run and stored in the run folder
(``results/feature_reference.npz``, :data:`REFERENCE_FILE`):

* a slice's **features** are the model's pooled features (:mod:`lstmattn.engine.features`);
* the **reference** is the mean and a Ledoit-Wolf shrinkage covariance (Ledoit & Wolf
  2004, ``sklearn.covariance.LedoitWolf``) of the features of up to :data:`FIT_SLICES`
  classification-training slices, evenly spaced over the split;
* a slice's **distance** is its Mahalanobis distance to the reference (Lee et al. 2018
  score pooled features the same way, per class; here one class-free Gaussian);
* the **threshold** is the ``1 - false_alarm_rate`` quantile
  (:data:`FALSE_ALARM_RATE`: 5 %) of the distances of the *validation* slices, which the
  fit never saw: on slices drawn like the training data, about that share is flagged.

A slice beyond the threshold is "unlike the training data". The file holds the mean and
the precision matrix (float32) and a JSON ``metadata`` string: the feature definition,
the false-alarm rate, the slices fitted and calibrated, the split names.
Measurements: ``benchmarks/MEASUREMENTS.md``, "Out-of-distribution check" (2026-12-07).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from lstmattn.engine.datasets import DataBundle, build_data
from lstmattn.engine.features import dataset_features, feature_definition
from lstmattn.engine.loading import load_trained_model, resolve_checkpoint, resolve_device
from lstmattn.engine.runs import RunDirectory
from lstmattn.errors import LstmattnError
from lstmattn.io import atomic_write

__all__ = [
    "REFERENCE_FILE",
    "FALSE_ALARM_RATE",
    "FIT_SLICES",
    "CALIBRATION_SLICES",
    "FeatureCheck",
    "FeatureReference",
    "fit_reference",
    "compute_feature_reference",
    "write_feature_reference",
    "read_feature_reference",
]

#: The reference's file name under a run's ``results/``.
REFERENCE_FILE = "feature_reference.npz"
#: Share of in-distribution slices the threshold lets be flagged (calibrated on validation).
FALSE_ALARM_RATE = 0.05
#: Training slices fitted at most (evenly spaced): bounds the CPU time of the fit.
FIT_SLICES = 300
#: Validation slices calibrated on at most.
CALIBRATION_SLICES = 600


@dataclass(frozen=True)
class FeatureCheck:
    """One slice against the reference."""

    distance: float
    threshold: float

    @property
    def out_of_distribution(self) -> bool:
        return self.distance > self.threshold

    def to_json(self) -> dict[str, Any]:
        return {"feature_distance": round(self.distance, 3), "threshold": round(self.threshold, 3)}


@dataclass(frozen=True)
class FeatureReference:
    """Mean, precision matrix and calibrated threshold of a run's pooled features."""

    mean: np.ndarray
    precision: np.ndarray
    threshold: float
    metadata: Mapping[str, Any]

    @property
    def false_alarm_rate(self) -> float:
        return float(self.metadata["false_alarm_rate"])

    def distances(self, features: np.ndarray) -> np.ndarray:
        """``float64[N]``: the Mahalanobis distance of each row of ``features`` ``[N, D]``."""
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise ValueError(f"features: expected [N, {self.mean.shape[0]}], got {list(features.shape)}")
        centred = features.astype(np.float64) - self.mean
        squared = np.einsum("nd,de,ne->n", centred, self.precision.astype(np.float64), centred)
        return np.sqrt(np.clip(squared, 0.0, None))

    def checks(self, features: np.ndarray) -> list[FeatureCheck]:
        """One :class:`FeatureCheck` per row of ``features``."""
        return [FeatureCheck(float(d), self.threshold) for d in self.distances(features)]

    def describe(self) -> dict[str, Any]:
        """What ``predictions.json`` says about the check."""
        return {
            "method": "Mahalanobis distance of the model's pooled features to its training slices' "
                      "(lstmattn.engine.feature_reference)",
            "features": self.metadata.get("features"),
            "threshold": round(self.threshold, 3),
            "false_alarm_rate": self.false_alarm_rate,
            "calibrated_on": self.metadata.get("calibration_split"),
            "checkpoint": self.metadata.get("checkpoint"),
        }

    def save(self, path: str | Path) -> Path:
        """Write the reference to ``path`` (``.npz``) atomically; returns ``path``."""
        with atomic_write(path) as tmp, open(tmp, "wb") as file:
            np.savez(file, mean=self.mean.astype(np.float32), precision=self.precision.astype(np.float32),
                     threshold=np.float64(self.threshold), metadata=np.array(json.dumps(dict(self.metadata))))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "FeatureReference":
        """Read a reference :meth:`save` wrote; :class:`LstmattnError` naming the file
        when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                mean, precision = stored["mean"], stored["precision"]
                threshold, metadata = float(stored["threshold"]), json.loads(str(stored["metadata"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise LstmattnError(f"{path}: not a feature reference ({error})") from None
        if mean.ndim != 1 or precision.shape != (mean.shape[0],) * 2 or "false_alarm_rate" not in metadata:
            raise LstmattnError(f"{path}: not a feature reference (mean {list(mean.shape)}, precision "
                                f"{list(precision.shape)})")
        return cls(mean, precision, threshold, metadata)


def fit_reference(
    fit: np.ndarray,
    calibration: np.ndarray,
    *,
    false_alarm_rate: float = FALSE_ALARM_RATE,
    metadata: Mapping[str, Any] | None = None,
) -> FeatureReference:
    """Fit mean and Ledoit-Wolf precision on ``fit`` ``[N, D]``; the threshold is the
    ``1 - false_alarm_rate`` quantile of the distances of ``calibration`` ``[M, D]``."""
    from sklearn.covariance import LedoitWolf

    if len(fit) < 2 or len(calibration) < 1:
        raise ValueError(f"fit_reference needs at least 2 fitted and 1 calibration slice, got {len(fit)} and {len(calibration)}")
    if not 0.0 < false_alarm_rate < 1.0:
        raise ValueError(f"false_alarm_rate must lie in (0, 1), got {false_alarm_rate}")
    estimator = LedoitWolf().fit(fit.astype(np.float64))
    unfitted = FeatureReference(estimator.location_.astype(np.float32), estimator.precision_.astype(np.float32), 0.0,
                                {"false_alarm_rate": false_alarm_rate})
    threshold = float(np.quantile(unfitted.distances(calibration), 1.0 - false_alarm_rate))
    details = {**(metadata or {}), "false_alarm_rate": false_alarm_rate, "n_fitted": int(len(fit)),
               "n_calibrated": int(len(calibration)), "dimensions": int(fit.shape[1]),
               "shrinkage": round(float(estimator.shrinkage_), 4)}
    return FeatureReference(unfitted.mean, unfitted.precision, threshold, details)


def compute_feature_reference(
    model: nn.Module, data: DataBundle, *, device: torch.device | str = "cpu", progress: bool = False
) -> FeatureReference:
    """The reference of ``model`` fitted on its classification-training slices and
    calibrated on its validation slices (module docstring)."""
    fit = dataset_features(model, data.classification_train, sample=FIT_SLICES, device=device, progress=progress,
                           label="features of training slices")
    calibration = dataset_features(model, data.classification_val, sample=CALIBRATION_SLICES, device=device,
                                   progress=progress, label="features of validation slices")
    return fit_reference(fit, calibration, metadata={
        "features": feature_definition(model),
        "fit_split": "classification train",
        "calibration_split": "classification val",
        "data": data.description,
    })


def write_feature_reference(
    run: RunDirectory,
    *,
    model: nn.Module | None = None,
    data: DataBundle | None = None,
    checkpoint: str | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> Path:
    """Fit the run's reference (:func:`compute_feature_reference`) and write it as
    ``run.results / REFERENCE_FILE``; returns the path. ``model`` (loaded from
    ``checkpoint``, :func:`~lstmattn.engine.loading.resolve_checkpoint`) and ``data``
    (built from the run's config) are those evaluation already holds, else loaded: the
    reference of a run evaluated before it existed (``lstmattn evaluate RUN
    --feature-reference``)."""
    checkpoint = resolve_checkpoint(run, checkpoint)
    device = resolve_device(device)
    model = model if model is not None else load_trained_model(run, checkpoint, device)
    data = data if data is not None else build_data(run.config(), progress=progress)
    reference = compute_feature_reference(model, data, device=device, progress=progress)
    reference = FeatureReference(reference.mean, reference.precision, reference.threshold,
                                 {**reference.metadata, "checkpoint": checkpoint})
    return reference.save(run.results / REFERENCE_FILE)


def read_feature_reference(run: RunDirectory) -> FeatureReference | None:
    """The run's reference, or ``None`` when it has none (trained before it existed)."""
    path = run.results / REFERENCE_FILE
    return FeatureReference.load(path) if path.is_file() else None
