"""Prediction on new slices: model outputs → one JSON record per slice.

Inputs are PNG/JPEG slices, CT DICOM files, DICOM series folders or folders of slices
(formats mixed). Every slice gets:

* σ(Δ) per image class and the predicted class (Eq. 9, multilabel: need not sum to 1);
* its lesions (GGO, consolidation) above a detection score threshold, masks binarised at
  0.5, each with a box, an area in pixels and as a percentage of the lung area, the lung
  area being the union of the predicted lung (label 1) masks (``null`` with a note when
  no lung is detected);
* the attention record of §3.7: α of the positive and negative branch over the β RoIs,
  with the RoI boxes, scores, labels and sequence order.

Several slices (a folder) also get a scan-level summary per series — per-class slice
counts, the maximum and mean σ(Δ), and the lesion burden — that the paper does *not*
define; it is labelled as such wherever it appears. DICOM files of different series
(SeriesInstanceUID) in one folder are never merged: each series is ordered by
InstanceNumber and summarised on its own; PNG/JPEG slices form one more group, in
natural name order.

Inputs are fitted for the model (:func:`lstmattn.data.images.fit_slice`): a slice under
32 px a side is refused, one over 1024 px on its long side is downscaled right after
decoding (boxes, areas and overlays are then in the downscaled pixels; the record keeps
the stored size), and one far outside CT slice sizes gets a warning.

A slice may be cropped before the model sees it (:mod:`lstmattn.data.body_crop`): a
model trained on slices cropped around the lungs (the SARS-CoV-2 CT-scan screenshots,
``data.source="class-folders"``) sees a full field-of-view slice (DICOM, COVIDx PNG)
cropped the same way, under the :class:`~lstmattn.data.body_crop.CropRule` the caller
passes (``lstmattn predict --crop auto|body|none``). Each slice record holds its
``crop`` (the box in the slice's pixels, or ``null`` with the reason); every box, mask,
area and RoI of the record is mapped back to the whole slice's pixels, so the overlays
are drawn on the whole slice.

What the model was trained on travels with every output (:class:`TrainingData`, from
the run's ``record.json``): a model trained on synthetic phantoms is labelled
:data:`PHANTOM_TRAINED` in the JSON header, each series summary, each overlay caption
and on the console. Each slice is checked against what the model saw in training: its
pooled features against the run's feature reference (:mod:`lstmattn.engine.feature_reference`,
a Mahalanobis distance with a threshold calibrated on the validation split) and its
grey-level histogram against the training slices' (:mod:`lstmattn.data.intensity`); a
slice either check flags is "unlike the training data" in its record, its overlay
caption, its series summary and on the console.

Written layout (:func:`write_predictions_json`)::

    OUT/predictions.json          header (trained_on, warnings), "slices", "failures",
                                  "series_summaries" (folders: one per series)

This module draws nothing: the overlay PNGs of ``lstmattn predict`` (``OUT/overlays/``)
are drawn by :mod:`lstmattn.viz.prediction_files`, whose paths each slice record names.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Sized

import numpy as np
import torch
from torch import nn

from lstmattn import __version__
from lstmattn.data.body_crop import NO_CROP, CropRule, SliceCrop
from lstmattn.data.images import to_image_tensor
from lstmattn.data.intensity import IntensityCheck, IntensityReference
from lstmattn.engine.feature_reference import REFERENCE_FILE, FeatureCheck, FeatureReference
from lstmattn.engine.features import FeatureTap
from lstmattn.engine.precision import Precision, inference_precision
from lstmattn.engine.slice_files import (
    DecodedSlices,
    PredictionFailure,
    SliceInput,
    as_slice_input,
    input_files,
    order_slice_files,
    with_crop,
)
from lstmattn.errors import LstmattnError
from lstmattn.io import atomic_write_json
from lstmattn.labels import LESION_LABELS, LUNG_LABEL, SEGMENTATION_NAMES
from lstmattn.progress import progress_bar

__all__ = [
    "SERIES_NOTE",
    "PHANTOM_TRAINED",
    "UNLIKE_TRAINING",
    "TrainingData",
    "SliceInput",
    "Lesion",
    "SlicePrediction",
    "PredictionFailure",
    "PredictionReport",
    "predict_slices",
    "slice_prediction",
    "predict_path",
    "summarize_series",
    "series_summaries",
    "out_of_distribution_check",
    "run_warnings",
    "check_output_folder",
    "write_predictions_json",
]

MASK_THRESHOLD = 0.5
SERIES_NOTE = (
    "aggregation not done in the paper: the paper classifies single slices; these "
    "scan-level numbers are a convenience of this package"
)
#: The crop of a slice predicted whole without a crop decided (``SliceInput.crop`` ``None``).
_WHOLE_SLICE = SliceCrop(None, None, "the whole slice")
NO_LUNG_NOTE = "no lung (label 1) detected above the score threshold; lesion percentages undefined"
#: What a model trained on the synthetic phantoms is labelled with in every output.
PHANTOM_TRAINED = "synthetic phantoms — not a diagnostic model"
#: How every output names a slice the out-of-distribution check flags.
UNLIKE_TRAINING = "unlike the training data"


@dataclass(frozen=True)
class TrainingData:
    """What a run's model was trained on, from its ``record.json``: the data's
    description, whether it was the synthetic phantoms, its grey-level statistics
    (``None`` for a run recorded before they were kept) and its feature reference
    (:mod:`lstmattn.engine.feature_reference`; ``None`` for a run evaluated before it
    existed)."""

    description: str
    is_phantom: bool
    intensity: IntensityReference | None = None
    features: FeatureReference | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, data_source: str | None = None,
                    features: FeatureReference | None = None) -> "TrainingData":
        """From ``record.json`` (``identity`` and ``data``) and the run's ``features``
        reference; ``data_source`` (the config's ``data.source``) decides ``is_phantom``
        when the record does not say."""
        identity = record.get("identity") if isinstance(record.get("identity"), Mapping) else {}
        data = record.get("data") if isinstance(record.get("data"), Mapping) else {}
        description = str(identity.get("data") or data.get("description") or data_source or "unknown data")
        is_phantom = identity.get("is_phantom")
        if not isinstance(is_phantom, bool):
            is_phantom = data_source == "phantom"
        return cls(description, is_phantom, IntensityReference.from_record(data.get("intensity")), features)

    @property
    def trained_on(self) -> str:
        """:data:`PHANTOM_TRAINED` for a phantom-trained model, else the data's description."""
        return PHANTOM_TRAINED if self.is_phantom else self.description


@dataclass(frozen=True)
class Lesion:
    """One detected lesion instance (label 2 GGO or 3 consolidation)."""

    label: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in input pixels
    area_px: int
    percent_of_lung: float | None
    score: float

    def to_json(self) -> dict[str, Any]:
        return {
            "class": SEGMENTATION_NAMES[self.label],
            "label": self.label,
            "box": list(self.box),
            "area_px": self.area_px,
            "percent_of_lung": self.percent_of_lung,
            "score": self.score,
        }


@dataclass
class SlicePrediction:
    """Everything predicted for one slice; ``image`` and ``lesion_map`` feed the overlays
    (:mod:`lstmattn.viz.overlays`).

    ``lesion_map`` is ``uint8[H, W]`` holding 0, 2 (GGO) or 3 (consolidation, drawn over
    GGO where they overlap), from the lesions kept in ``lesions``. ``image``, the lesion
    boxes and map and the attention's RoI boxes are the whole slice's, whatever part of
    it the model saw (``crop``; ``None``: the whole slice).
    """

    source: str
    class_names: tuple[str, ...]
    class_probs: tuple[float, ...]
    class_logits: tuple[float, ...]
    predicted_index: int
    lesions: list[Lesion]
    lung_area_px: int | None
    lesion_area_px: int
    attention: dict[str, Any]
    score_threshold: float
    image: np.ndarray = field(repr=False)
    lesion_map: np.ndarray = field(repr=False)
    instance_number: int | None = None
    series_instance_uid: str | None = None
    patient_id: str | None = None
    original_size: tuple[int, int] | None = None
    input_warnings: tuple[str, ...] = ()
    intensity: IntensityCheck | None = None
    features: FeatureCheck | None = None
    trained_on: str | None = None
    crop: SliceCrop | None = None

    @property
    def predicted_class(self) -> str:
        return self.class_names[self.predicted_index]

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the slice as predicted (after any downscaling)."""
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def out_of_distribution(self) -> bool:
        """Whether the slice is unlike the training data: its features beyond the
        reference's threshold, or its intensities far from the training slices'."""
        return any(check is not None and check.out_of_distribution for check in (self.features, self.intensity))

    @property
    def warnings(self) -> tuple[str, ...]:
        """The slice's warnings, without its file name: reading (size) and, when it is
        unlike the training data, which check says so."""
        reasons = []
        if self.features is not None and self.features.out_of_distribution:
            reasons.append(f"feature distance {self.features.distance:.1f} > {self.features.threshold:.1f}")
        if self.intensity is not None and self.intensity.out_of_distribution:
            reasons.append(f"grey-level histogram distance {self.intensity.distance:.2f} > {self.intensity.threshold:.2f}")
        if not reasons:
            return self.input_warnings
        return (*self.input_warnings, f"{UNLIKE_TRAINING} ({', '.join(reasons)}); the prediction is unreliable")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (no pixel arrays)."""
        height, width = self.size
        original_height, original_width = self.original_size or self.size
        return {
            "source": self.source,
            "instance_number": self.instance_number,
            "series_instance_uid": self.series_instance_uid,
            "patient_id": self.patient_id,
            "height": height,
            "width": width,
            "original_height": original_height,
            "original_width": original_width,
            "warnings": list(self.warnings),
            "crop": None if self.crop is None else self.crop.to_json(),
            "out_of_distribution": self.out_of_distribution,
            "feature_check": None if self.features is None else self.features.to_json(),
            "intensity": None if self.intensity is None else self.intensity.to_json(),
            "class_probabilities": dict(zip(self.class_names, self.class_probs)),
            "class_logits": dict(zip(self.class_names, self.class_logits)),
            "predicted_class": self.predicted_class,
            "predicted_index": self.predicted_index,
            "score_threshold": self.score_threshold,
            "mask_threshold": MASK_THRESHOLD,
            "lung_area_px": self.lung_area_px,
            "lung_area_note": NO_LUNG_NOTE if self.lung_area_px is None else None,
            "lesion_area_px": self.lesion_area_px,
            "lesions": [lesion.to_json() for lesion in self.lesions],
            "attention": self.attention,
        }


@dataclass
class PredictionReport:
    """The outcome of :func:`predict_path`: predictions in slice order (series after
    series), and failures."""

    predictions: list[SlicePrediction]
    failures: list[PredictionFailure]
    is_series: bool


def _lung_area(labels: np.ndarray, masks: np.ndarray) -> int | None:
    """Pixels of the union of lung masks, or None when there is none."""
    lung = masks[labels == LUNG_LABEL]
    area = int(lung.any(axis=0).sum()) if len(lung) else 0
    return area or None


def _lesions(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, masks: np.ndarray, lung_area: int | None) -> list[Lesion]:
    lesions = []
    for box, label, score, mask in zip(boxes, labels, scores, masks):
        if int(label) not in LESION_LABELS:
            continue
        area = int(mask.sum())
        percent = None if lung_area is None else 100.0 * area / lung_area
        lesions.append(Lesion(int(label), tuple(float(v) for v in box), area, percent, float(score)))
    return lesions


def _lesion_map(labels: np.ndarray, masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``uint8[H, W]``: 2 where any GGO mask is on, 3 where any consolidation mask is on."""
    lesion_map = np.zeros(size, dtype=np.uint8)
    for label in LESION_LABELS:  # consolidation painted last, over GGO
        selected = masks[labels == label]
        if len(selected):
            lesion_map[selected.any(axis=0)] = label
    return lesion_map


def _attention_record(attention: Mapping[str, Any], offset: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """§3.7 attention as JSON: α per branch over the β RoIs, in sequence order, the RoI
    boxes moved by ``offset`` (``x, y``: from a crop's pixels to the slice's)."""
    labels = [int(v) for v in attention["roi_labels"].cpu()]
    shift = np.array([*offset, *offset], dtype=np.float64)
    return {
        "order": attention["order"],
        "num_distinct": int(attention["num_distinct"]),
        "alpha": {
            "positive": [float(v) for v in attention["alpha_pos"].cpu()],
            "negative": [float(v) for v in attention["alpha_neg"].cpu()],
        },
        "roi_boxes": [[float(v) for v in box + shift] for box in attention["roi_boxes"].cpu().double().numpy()],
        "roi_scores": [float(v) for v in attention["roi_scores"].cpu()],
        "roi_labels": labels,
        "roi_label_names": [SEGMENTATION_NAMES.get(label, "background") for label in labels],
    }


def _pasted(masks: np.ndarray, crop: SliceCrop, size: tuple[int, int]) -> np.ndarray:
    """``bool[N, h, w]`` masks of ``crop``'s part of a slice as ``bool[N, H, W]`` masks of
    the whole ``size`` slice."""
    if crop.box is None:
        return masks
    x0, y0, x1, y1 = crop.box
    whole = np.zeros((len(masks), *size), dtype=bool)
    whole[:, y0:y1, x0:x1] = masks
    return whole


def slice_prediction(
    item: SliceInput,
    output: Mapping[str, Any],
    class_names: tuple[str, ...],
    score_threshold: float,
    training: TrainingData | None = None,
    features: FeatureCheck | None = None,
) -> SlicePrediction:
    """One model output as a :class:`SlicePrediction`; with ``training``, the slice is
    labelled with what the model was trained on and checked against its intensities;
    ``features`` is its check against the run's feature reference.

    ``output`` is the model's on ``item.crop``'s part of the slice (the whole slice when
    ``item.crop`` is ``None``); its boxes, masks and RoIs are mapped to the whole slice.
    The intensity check looks at the part the model saw."""
    crop = item.crop or _WHOLE_SLICE
    x0, y0 = crop.offset
    keep = (output["scores"] >= score_threshold).cpu().numpy()
    boxes = output["boxes"].cpu().numpy()[keep] + np.array([x0, y0, x0, y0], dtype=np.float32)
    labels = output["labels"].cpu().numpy()[keep]
    scores = output["scores"].cpu().numpy()[keep]
    masks = _pasted((output["masks"][:, 0] > MASK_THRESHOLD).cpu().numpy()[keep], crop, item.image.shape)
    lung_area = _lung_area(labels, masks)
    lesion_map = _lesion_map(labels, masks, item.image.shape)
    return SlicePrediction(
        source=item.source,
        class_names=class_names,
        class_probs=tuple(float(v) for v in output["class_probs"].cpu()),
        class_logits=tuple(float(v) for v in output["class_logits"].cpu()),
        predicted_index=int(output["predicted_class"]),
        lesions=_lesions(boxes, labels, scores, masks, lung_area),
        lung_area_px=lung_area,
        lesion_area_px=int((lesion_map > 0).sum()),
        attention=_attention_record(output["attention"], crop.offset),
        score_threshold=score_threshold,
        image=item.image,
        lesion_map=lesion_map,
        instance_number=item.instance_number,
        series_instance_uid=item.series_instance_uid,
        patient_id=item.patient_id,
        original_size=item.original_size,
        input_warnings=item.warnings,
        intensity=training.intensity.check(crop.apply(item.image)) if training and training.intensity else None,
        features=features,
        trained_on=training.trained_on if training else None,
        crop=item.crop,
    )


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last may be shorter), taken as they come."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


@contextlib.contextmanager
def _detections_from(model: nn.Module, score_threshold: float, *, bfloat16: bool = False) -> Iterator[None]:
    """While predicting, the detection head itself drops detections scored below
    ``score_threshold`` (torchvision keeps scores *above* its ``score_thresh``, hence the
    next float32 down), so their masks are never pasted back at full slice size (a third
    of the CPU inference time of a 512² slice with the default 0.05). The kept detections
    are the same: NMS and the per-image top-k only ever let higher scores displace
    lower ones. The classification branch works on the RPN proposals and is unaffected.
    Under ``bfloat16`` autocast the scores, and the threshold compared with them, are
    bfloat16 (8 significant bits), so the head's threshold is lowered by one part in 128:
    a score kept at ``score_threshold`` is never dropped inside the model. A model without
    torchvision RoI heads is left as it is."""
    heads = getattr(model, "roi_heads", None)
    if heads is None:
        yield
        return
    original = heads.score_thresh
    # float32 scores: the next float32 down (the comparison rounds a Python float to it);
    # bfloat16 scores: one bfloat16 step down
    if bfloat16:
        below = score_threshold * (1 - 2**-7)
    else:
        below = float(np.nextafter(np.float32(score_threshold), np.float32(-np.inf)))
    heads.score_thresh = max(original, below)
    try:
        yield
    finally:
        heads.score_thresh = original


def _as_float32(value: Any) -> Any:
    """``value`` (a model output: tensors in dicts and lists) with floating tensors in float32."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, Mapping):
        return {key: _as_float32(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_as_float32(item) for item in value)
    return value


@torch.no_grad()
def predict_slices(
    model: nn.Module,
    paths_or_arrays: Iterable[str | Path | np.ndarray | SliceInput],
    *,
    class_names: Sequence[str],
    score_threshold: float = 0.5,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: bool = False,
    training: TrainingData | None = None,
    on_prediction: Callable[[SlicePrediction], None] | None = None,
    precision: Precision | None = None,
    crop: CropRule = NO_CROP,
) -> list[SlicePrediction]:
    """Predict every slice with the one-shot model, in input order.

    Items are slice files (PNG/JPEG/DICOM), ``uint8[H, W]`` arrays or :class:`SliceInput`;
    files and arrays are fitted for prediction (too small: refused; too large:
    downscaled). An unreadable or refused file raises :class:`DataError` naming it
    (:func:`predict_path` collects such failures instead). Detections below
    ``score_threshold`` are dropped; masks are binarised at 0.5. ``training`` (what the
    model was trained on) labels each prediction and checks it for being out of
    distribution (the features for its reference are taken from the predicting forward
    pass itself, :class:`~lstmattn.engine.features.FeatureTap`). ``on_prediction`` is called with each prediction as soon as its batch
    is done, in input order (the CLI writes overlays meanwhile). ``model`` is put in eval
    mode with channels-last weights; ``precision`` (default: float32) may run it under
    bfloat16 autocast (:func:`~lstmattn.engine.precision.inference_precision`), its
    outputs turned back to float32. ``crop`` (default: none) says which part of each
    slice the model sees (:func:`~lstmattn.engine.slice_files.with_crop`; an item with
    its crop decided keeps it); the predictions are in the whole slices' pixels.
    """
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must lie in [0, 1], got {score_threshold}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    names = tuple(class_names)
    device = torch.device(device)
    # channels-last convolutions: 16 % less CPU time per slice for the quick model (73 vs
    # 87 ms on 2 cores), the same predictions up to float rounding (σ(Δ) within 1e-6).
    model.eval().to(memory_format=torch.channels_last)
    precision = precision or inference_precision(False, device)
    predictions: list[SlicePrediction] = []
    batches = _batches(enumerate(paths_or_arrays), batch_size)
    total = -(-len(paths_or_arrays) // batch_size) if isinstance(paths_or_arrays, Sized) else None
    reference = training.features if training else None
    with _detections_from(model, score_threshold, bfloat16=precision.bfloat16), \
            (FeatureTap(model) if reference else contextlib.nullcontext()) as tap:
        for batch in progress_bar(batches, total=total, desc="predict", unit="batch", disable=not progress, leave=False):
            inputs = [with_crop(as_slice_input(item, index), crop) for index, item in batch]
            with precision.autocast():
                outputs = _as_float32(model([to_image_tensor(item.crop.apply(item.image)).to(device) for item in inputs]))
            checks = reference.checks(tap.take()) if reference else [None] * len(inputs)
            for item, output, check in zip(inputs, outputs, checks):
                predictions.append(slice_prediction(item, output, names, score_threshold, training, check))
                if on_prediction is not None:
                    on_prediction(predictions[-1])
    return predictions


def predict_path(
    model: nn.Module,
    path: str | Path,
    *,
    class_names: Sequence[str],
    score_threshold: float = 0.5,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: bool = False,
    training: TrainingData | None = None,
    on_prediction: Callable[[SlicePrediction], None] | None = None,
    precision: Precision | None = None,
    crop: CropRule = NO_CROP,
) -> PredictionReport:
    """Predict a slice file or every slice of a folder (DICOM series or mixed slices).

    Unreadable or refused files are reported in ``failures`` and skipped; a missing path
    or an empty folder raises :class:`LstmattnError`. A folder's slices are grouped by
    DICOM series (SeriesInstanceUID; PNG/JPEG slices form one group), each ordered by
    InstanceNumber, then by natural file name. ``training``, ``on_prediction``,
    ``precision`` and ``crop``: see :func:`predict_slices` (the decoding threads find
    the crops).
    """
    files, is_series = input_files(Path(path))
    ordered, failures = order_slice_files(files)
    predictions = predict_slices(
        model,
        DecodedSlices(ordered, failures, crop),
        class_names=class_names,
        score_threshold=score_threshold,
        batch_size=batch_size,
        device=device,
        progress=progress and is_series,
        training=training,
        on_prediction=on_prediction,
        precision=precision,
        crop=crop,
    )
    return PredictionReport(predictions, failures, is_series)


def _out_of_distribution_warning(predictions: Sequence[SlicePrediction]) -> str | None:
    """One line for all out-of-distribution slices of ``predictions``, or None."""
    flagged = sum(p.out_of_distribution for p in predictions)
    if not flagged:
        return None
    return f"{flagged} of {len(predictions)} slices {UNLIKE_TRAINING}; treat the result as unreliable"


def summarize_series(predictions: Sequence[SlicePrediction]) -> dict[str, Any]:
    """Scan-level numbers over a series' slices (aggregation NOT done in the paper).

    ``slice_counts``: slices per predicted class; ``max_probability`` / ``mean_probability``:
    σ(Δ) per class over slices; ``lesion_burden``: total lesion pixels / total lung
    pixels over all slices (``null`` when no lung was detected on any slice). The series
    (``series_instance_uid``, ``patient_id``: those of its first slice), what the model
    was trained on (``trained_on``), the out-of-distribution slice count and the
    ``warnings`` (a phantom-trained model, out-of-distribution slices) come with them.
    """
    if not predictions:
        raise ValueError("summarize_series needs at least one slice prediction")
    names = predictions[0].class_names
    probs = np.array([p.class_probs for p in predictions], dtype=np.float64)
    lesion_px = sum(p.lesion_area_px for p in predictions)
    lung_px = sum(p.lung_area_px or 0 for p in predictions)
    trained_on = predictions[0].trained_on
    warnings = [f"model trained on {trained_on}"] if trained_on == PHANTOM_TRAINED else []
    out_of_distribution = _out_of_distribution_warning(predictions)
    if out_of_distribution:
        warnings.append(out_of_distribution)
    return {
        "note": SERIES_NOTE,
        "series_instance_uid": predictions[0].series_instance_uid,
        "patient_id": predictions[0].patient_id,
        "trained_on": trained_on,
        "warnings": warnings,
        "num_slices": len(predictions),
        "out_of_distribution_slices": sum(p.out_of_distribution for p in predictions),
        "slice_counts": {name: sum(p.predicted_index == k for p in predictions) for k, name in enumerate(names)},
        "max_probability": dict(zip(names, probs.max(axis=0).tolist())),
        "mean_probability": dict(zip(names, probs.mean(axis=0).tolist())),
        "lesion_burden": {
            "lesion_px": lesion_px,
            "lung_px": lung_px,
            "fraction": lesion_px / lung_px if lung_px else None,
            "slices_without_lung": sum(p.lung_area_px is None for p in predictions),
        },
    }


def series_summaries(predictions: Sequence[SlicePrediction]) -> list[dict[str, Any]]:
    """One :func:`summarize_series` per series (SeriesInstanceUID; slices without one
    form one group), in the order the series first appear in ``predictions``."""
    groups: dict[str | None, list[SlicePrediction]] = {}
    for prediction in predictions:
        groups.setdefault(prediction.series_instance_uid, []).append(prediction)
    return [summarize_series(group) for group in groups.values()]


def out_of_distribution_check(training: TrainingData) -> dict[str, Any]:
    """What ``predictions.json``'s header says about the out-of-distribution check: the
    feature reference's method, threshold and calibrated false-alarm rate, or that the
    run has none."""
    if training.features is None:
        return {"method": None, "note": f"unavailable for this run (no results/{REFERENCE_FILE})"}
    return training.features.describe()


def run_warnings(training: TrainingData, predictions: Sequence[SlicePrediction], run_name: str) -> list[str]:
    """The warnings about the whole prediction, one line each: a model trained on
    synthetic phantoms, a run without a feature reference or training intensity
    statistics (that check unavailable), and how many slices are unlike the training data."""
    warnings = []
    if training.is_phantom:
        warnings.append(f"{run_name}: trained on {PHANTOM_TRAINED}; its answers on real CT mean nothing")
    if training.features is None:
        warnings.append(f"{run_name}: the out-of-distribution check is unavailable for this run (no "
                        f"results/{REFERENCE_FILE}; `lstmattn evaluate RUN --feature-reference` fits it)")
    if training.intensity is None:
        warnings.append(f"{run_name}: the run recorded no training intensity statistics (trained before they were "
                        "kept); inputs are not checked for being out of distribution")
    out_of_distribution = _out_of_distribution_warning(predictions)
    if out_of_distribution:
        warnings.append(out_of_distribution)
    return warnings


def check_output_folder(out_dir: str | Path, *, overlays: bool = True) -> None:
    """Raise :class:`LstmattnError` (one line naming the path) unless ``out_dir`` is, or
    can be created as, a folder this process can write ``predictions.json`` (and
    ``overlays/``) into. Creates nothing; meant to run before any inference."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise LstmattnError(f"{out_dir}: exists and is not a folder (--out names the folder to write predictions.json into)")
    existing = out_dir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise LstmattnError(f"{out_dir}: cannot be created, {existing} is a file")
    if (out_dir / "predictions.json").is_dir():
        raise LstmattnError(f"{out_dir / 'predictions.json'}: is a folder; cannot write the predictions there")
    if overlays and (out_dir / "overlays").exists() and not (out_dir / "overlays").is_dir():
        raise LstmattnError(f"{out_dir / 'overlays'}: is a file; cannot write the overlay PNGs there")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise LstmattnError(f"{out_dir}: cannot write there ({existing}: {error.strerror or error})") from None


def write_predictions_json(
    predictions: Sequence[SlicePrediction],
    out_dir: str | Path,
    *,
    overlays: Sequence[str | Path] = (),
    failures: Sequence[PredictionFailure] = (),
    summaries: Sequence[Mapping[str, Any]] = (),
    header: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``out_dir/predictions.json`` atomically; returns its path.

    ``overlays``: the overlay PNG of each prediction, in order (empty: none drawn), stored
    in each slice record as ``overlay``, relative to ``out_dir``. ``header`` adds
    provenance fields (run, checkpoint, input, trained_on, warnings); ``summaries`` (one
    per series, :func:`series_summaries`) are stored as ``series_summaries`` when given.
    """
    out_dir = Path(out_dir)
    if overlays and len(overlays) != len(predictions):
        raise ValueError(f"overlays: expected one path per prediction ({len(predictions)}), got {len(overlays)}")
    slices = []
    for index, prediction in enumerate(predictions):
        record = prediction.to_json()
        if overlays:
            record["overlay"] = Path(overlays[index]).relative_to(out_dir).as_posix()
        slices.append(record)
    document: dict[str, Any] = {"lstmattn_version": __version__, **(header or {}), "slices": slices}
    document["failures"] = [failure.to_json() for failure in failures]
    if summaries:
        document["series_summaries"] = [dict(summary) for summary in summaries]
    return atomic_write_json(document, out_dir / "predictions.json")
