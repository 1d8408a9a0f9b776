"""Evaluation: model outputs → result files. Tables are built from these files only.

Per classification split ``<split>``::

    results/<split>_predictions.csv   one row per slice: file, label, predicted, σ(Δ) and Δ per class
    results/<split>_metrics.json      §4.3 metrics with bootstrap 95 % intervals, confusion matrix

and for the segmentation test split::

    results/segmentation_test_slices.json.gz  per-slice scores, all that every number below needs
    results/segmentation_test.json            mask AP (§4.2) at 0.5, 0.75 and [0.5:0.95], per-image
                                              and data-set level, all classes and lesions only, and
                                              semantic Dice, each with a bootstrap 95 % interval
                                              over the slices

The per-slice file (gzip-compressed JSON, :func:`segmentation_slices`) holds, slices in
split order: every predicted instance's score (float32), label and true-positive flags
under both matchings (:data:`AP_MATCHING`) at each IoU threshold, packed into one
integer (bit t: a true positive at ``iou_thresholds[t]``); every slice's ground-truth
labels; and per lesion class each slice's Dice pixel counts |P∩G| and |P| + |G|.
``segmentation_test.json`` is computed from that file alone (:func:`segmentation_summary`),
so its point values and intervals can be recomputed from a stored run.

A model whose BatchNorm uses batch statistics at inference
(``batchnorm_at_inference="train"``, the reference code) would mix the statistics of
every slice of a batch, so it is evaluated one slice at a time, as the reference code's
``eval.py`` does (:func:`inference_batch_size`).
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lstmattn.data.joint import collate_detection
from lstmattn.errors import DataError
from lstmattn.io import atomic_write_bytes
from lstmattn.labels import LESION_LABELS, class_names_for
from lstmattn.metrics import (
    DEFAULT_IOU_THRESHOLDS,
    ConfusionMatrixMetric,
    DiceMetric,
    ImageMatches,
    MaskAPMetric,
    roc_auc_ci,
)
from lstmattn.progress import progress_bar

__all__ = [
    "inference_batch_size",
    "predict_classification",
    "classification_metrics",
    "segmentation_slices",
    "segmentation_summary",
    "segmentation_metrics",
    "write_segmentation_slices",
    "read_segmentation_slices",
    "AP_MATCHING",
    "SEGMENTATION_SLICES_FILE",
    "SLICES_FORMAT",
]


def inference_batch_size(model: nn.Module, requested: int) -> int:
    """1 for a model that keeps BatchNorm in training mode at inference
    (``model.config.batchnorm_at_inference == "train"``), whose outputs would otherwise
    depend on the other slices of the batch; ``requested`` for every other model."""
    config = getattr(model, "config", None)
    return 1 if getattr(config, "batchnorm_at_inference", "eval") == "train" else requested


def _batches(model: nn.Module, dataset: Dataset, batch_size: int) -> Iterable[tuple[list[torch.Tensor], list[dict[str, Any]]]]:
    return DataLoader(dataset, batch_size=inference_batch_size(model, batch_size), shuffle=False, collate_fn=collate_detection)


@torch.no_grad()
def predict_classification(
    model: nn.Module,
    dataset: Dataset,
    *,
    device: torch.device,
    num_classes: int,
    batch_size: int = 8,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per slice: ``file``, ``label``, ``predicted``, ``prob_<class>``, ``logit_<class>``.

    Logits and probabilities are the model's own ``class_logits`` and ``class_probs``:
    for the one-shot model Δ = h(x_POS) − h(x_NEG) and σ(Δ) (Eq. 9), for softmax
    classifiers their logits and softmax. ``batch_size`` is 1 whatever is asked for a
    model with BatchNorm in training mode at inference (:func:`inference_batch_size`).
    """
    model.eval()
    names = class_names_for(num_classes)
    rows = []
    for images, targets in progress_bar(_batches(model, dataset, batch_size), desc="classify", disable=not progress, leave=False):
        outputs = model([image.to(device) for image in images])
        for target, output in zip(targets, outputs):
            logit, probability = output["class_logits"].cpu(), output["class_probs"].cpu()
            row = {"file": target["file"], "label": int(target["image_label"]), "predicted": int(output["predicted_class"])}
            row.update({f"prob_{name}": float(p) for name, p in zip(names, probability)})
            row.update({f"logit_{name}": float(v) for name, v in zip(names, logit)})
            rows.append(row)
    return pd.DataFrame(rows)


def classification_metrics(
    predictions: pd.DataFrame, *, num_classes: int, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """§4.3 metrics of a predictions table, each with a bootstrap 95 % interval.

    The class-weighted F1 (Eq. 13) uses the class shares of the evaluated set; ``f1_paper``
    uses the paper's fixed weights 0.45/0.35/0.20 (3 classes only). Two-class results add
    ``auc``, the ROC AUC of the logit difference ``logit_<class 1> − logit_<class 0>``
    (which orders slices as the predicted class does).
    """
    names = class_names_for(num_classes)
    metric = ConfusionMatrixMetric(num_classes, names)
    metric.update(predictions["label"].to_numpy(), predictions["predicted"].to_numpy())
    report = metric.aggregate()
    intervals = metric.bootstrap_ci(n_resamples=n_resamples, seed=seed)
    result: dict[str, Any] = {
        "n": int(len(predictions)),
        "class_names": list(names),
        "confusion": report.confusion.tolist(),
        "support": report.support.tolist(),
        "metrics": {name: asdict(interval) for name, interval in intervals.items()},
    }
    if num_classes == 3:
        paper = ConfusionMatrixMetric(3, names, f1_weights="paper")
        paper.update(predictions["label"].to_numpy(), predictions["predicted"].to_numpy())
        result["metrics"]["f1_paper_weights"] = asdict(paper.bootstrap_ci("f1", n_resamples=n_resamples, seed=seed)["f1"])
    if num_classes == 2:
        score = predictions[f"logit_{names[1]}"] - predictions[f"logit_{names[0]}"]
        auc = roc_auc_ci(predictions["label"].to_numpy() == 1, score.to_numpy(), n_resamples=n_resamples, seed=seed)
        result["metrics"]["auc"] = asdict(auc)
    return result


#: How predictions are matched to ground truth per AP aggregation (§4.2): the per-image AP
#: of Table 1 follows the authors' per-image AP script (each ground truth takes its
#: best-IoU prediction, REFERENCE_CODE.md §2.4); the data-set-level variant matches
#: greedily in score order, as Pascal VOC and COCO do.
AP_MATCHING: dict[str, str] = {"per_image": "reference", "dataset": "greedy"}


#: The segmentation test split's per-slice scores, beside ``segmentation_test.json``.
SEGMENTATION_SLICES_FILE = "segmentation_test_slices.json.gz"

#: The ``format`` of a per-slice file; a reader refuses any other.
SLICES_FORMAT = "lstmattn per-slice segmentation scores, version 1"


def _ap_variants(iou_thresholds: Iterable[float]) -> dict[str, MaskAPMetric]:
    """The four mask-AP variants ``<aggregation>/<scope>`` of ``segmentation_test.json``."""
    return {
        f"{aggregation}/{scope}": MaskAPMetric(iou_thresholds, aggregation=aggregation,
                                               matching=AP_MATCHING[aggregation],
                                               classes=None if scope == "all_classes" else LESION_LABELS)
        for aggregation in ("per_image", "dataset")
        for scope in ("all_classes", "lesions")
    }


def _float32_number(value: float) -> float:
    """``value`` as the shortest decimal that reads back as the same float32 (a model's
    score is a float32, and JSON would print its float64 form with 17 digits)."""
    return float(np.format_float_positional(np.float32(value), unique=True))


def _packed_flags(is_true_positive: np.ndarray) -> list[int]:
    """``bool[T, N]`` flags as N integers whose bit t is row t."""
    shifted = is_true_positive.astype(np.int64) << np.arange(len(is_true_positive))[:, None]
    return [int(bits) for bits in shifted.sum(axis=0)]


def _unpacked_flags(packed: Iterable[int], num_thresholds: int) -> np.ndarray:
    """:func:`_packed_flags` reversed: ``bool[T, N]``."""
    return (np.asarray(list(packed), dtype=np.int64)[None, :] >> np.arange(num_thresholds)[:, None]) & 1 == 1


@torch.no_grad()
def segmentation_slices(
    model: nn.Module,
    dataset: Dataset,
    *,
    device: torch.device,
    batch_size: int = 4,
    progress: bool = False,
) -> dict[str, Any]:
    """The per-slice scores of a segmentation split (the module docstring lists them): the
    model's predictions, matched to the ground truth under both :data:`AP_MATCHING`
    matchings over all classes, and the Dice pixel counts of the lesion classes. One slice
    per batch for a model with BatchNorm in training mode at inference."""
    model.eval()
    matched = {matching: MaskAPMetric(DEFAULT_IOU_THRESHOLDS, matching=matching)
               for matching in sorted(set(AP_MATCHING.values()))}
    dice = DiceMetric()
    for images, targets in progress_bar(_batches(model, dataset, batch_size), desc="segment", disable=not progress, leave=False):
        outputs = model([image.to(device) for image in images])
        predictions = [{k: output[k].cpu() for k in ("masks", "scores", "labels")} for output in outputs]
        truths = [{"masks": t["masks"], "labels": t["labels"]} for t in targets]
        for metric in matched.values():
            metric.update(predictions, truths)
        dice.update(predictions, truths)
    slices = next(iter(matched.values())).matches  # scores, labels and ground truth are those of every matching
    counts = dice.image_counts
    return {
        "format": SLICES_FORMAT,
        "n": len(slices),
        "iou_thresholds": list(DEFAULT_IOU_THRESHOLDS),
        "detections": {
            "per_slice": [len(image.scores) for image in slices],
            "score": [_float32_number(score) for image in slices for score in image.scores],
            "label": [int(label) for image in slices for label in image.labels],
            "true_positive": {matching: [bits for image in metric.matches
                                         for bits in _packed_flags(image.is_true_positive)]
                              for matching, metric in matched.items()},
        },
        "ground_truth": {
            "per_slice": [len(image.gt_labels) for image in slices],
            "label": [int(label) for image in slices for label in image.gt_labels],
        },
        "dice": {
            "class_labels": dict(dice.class_labels),
            "score_threshold": dice.score_threshold,
            "intersection": {name: values[:, 0].tolist() for name, values in counts.items()},
            "size": {name: values[:, 1].tolist() for name, values in counts.items()},
        },
    }


def _slice_metrics(slices: Mapping[str, Any]) -> tuple[dict[str, MaskAPMetric], DiceMetric]:
    """Every AP variant and the Dice metric, accumulated from the per-slice scores
    ``slices`` as :func:`segmentation_slices` found them."""
    thresholds = tuple(float(t) for t in slices["iou_thresholds"])
    detections, truth = slices["detections"], slices["ground_truth"]
    scores = np.asarray(detections["score"], dtype=np.float32).astype(float)
    labels = np.asarray(detections["label"], dtype=np.int64)
    flags = {matching: _unpacked_flags(packed, len(thresholds))
             for matching, packed in detections["true_positive"].items()}
    gt_labels = np.asarray(truth["label"], dtype=np.int64)
    starts, gt_starts = np.cumsum([0, *detections["per_slice"]]), np.cumsum([0, *truth["per_slice"]])
    variants = _ap_variants(thresholds)
    dice_counts = slices["dice"]
    dice = DiceMetric(dice_counts["class_labels"], score_threshold=dice_counts["score_threshold"])
    for index in range(slices["n"]):
        kept = slice(starts[index], starts[index + 1])
        truths = gt_labels[gt_starts[index]:gt_starts[index + 1]]
        matches = {matching: ImageMatches(scores[kept], labels[kept], is_true_positive[:, kept], truths)
                   for matching, is_true_positive in flags.items()}
        for metric in variants.values():
            metric.add_matches(matches[metric.matching])
        dice.add_counts({name: (dice_counts["intersection"][name][index], dice_counts["size"][name][index])
                         for name in dice_counts["intersection"]})
    return variants, dice


def segmentation_summary(slices: Mapping[str, Any], *, n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """``segmentation_test.json``'s numbers, computed from the per-slice scores ``slices``
    alone (:func:`segmentation_slices`, or :func:`read_segmentation_slices` of a stored
    file): ``n``; ``ap``: variant → ``AP@0.5`` / ``AP@0.75`` / ``AP@[0.5:0.95]`` (§4.2,
    Table 1); ``ap_matching``; ``dice``: ``dataset`` / ``mean_per_image`` → lesion class →
    Dice; and ``intervals``: the same AP and Dice values, each with its bootstrap 95 %
    percentile interval over ``n_resamples`` resamples of the slices drawn with a
    generator seeded with ``seed`` (:meth:`MaskAPMetric.bootstrap_ci`,
    :meth:`DiceMetric.bootstrap_ci`), as ``estimate``, ``low``, ``high``, ``confidence``
    like the classification metrics."""
    variants, dice = _slice_metrics(slices)
    result: dict[str, Any] = {"n": slices["n"], "ap": {}, "ap_matching": dict(AP_MATCHING)}
    intervals: dict[str, Any] = {"resampled": "slices", "n_resamples": n_resamples, "seed": seed, "ap": {}}
    for name, metric in variants.items():
        ap = metric.aggregate()
        result["ap"][name] = {"AP@0.5": ap.ap50, "AP@0.75": ap.ap75, "AP@[0.5:0.95]": ap.ap}
        bootstrap = metric.bootstrap_ci(n_resamples=n_resamples, seed=seed)
        intervals["ap"][name] = {key: asdict(bootstrap[key]) for key in result["ap"][name]}
    dice_result = dice.aggregate()
    result["dice"] = {"dataset": dice_result.dataset, "mean_per_image": dice_result.mean_per_image}
    intervals["dice"] = {kind: {name: asdict(interval) for name, interval in values.items()}
                         for kind, values in dice.bootstrap_ci(n_resamples=n_resamples, seed=seed).items()}
    result["intervals"] = intervals
    return result


def segmentation_metrics(
    model: nn.Module,
    dataset: Dataset,
    *,
    device: torch.device,
    batch_size: int = 4,
    n_resamples: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """§4.2 mask AP (Table 1) and semantic Dice on a segmentation split with their
    bootstrap intervals: :func:`segmentation_summary` of :func:`segmentation_slices`."""
    slices = segmentation_slices(model, dataset, device=device, batch_size=batch_size, progress=progress)
    return segmentation_summary(slices, n_resamples=n_resamples, seed=seed)


def write_segmentation_slices(slices: Mapping[str, Any], path: str | Path) -> Path:
    """Write per-slice scores as compact gzip-compressed JSON (no timestamp, so equal
    scores give equal bytes) atomically; returns ``path``."""
    text = json.dumps(slices, separators=(",", ":"))
    return atomic_write_bytes(gzip.compress(text.encode("utf-8"), mtime=0), path)


def read_segmentation_slices(path: str | Path) -> dict[str, Any]:
    """The per-slice scores in ``path`` (:func:`write_segmentation_slices`);
    :class:`~lstmattn.errors.DataError` naming the file when it is unreadable or of
    another format."""
    try:
        slices = json.loads(gzip.decompress(Path(path).read_bytes()).decode("utf-8"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"cannot read per-slice scores ({error})") from error
    if not isinstance(slices, dict) or slices.get("format") != SLICES_FORMAT:
        raise DataError(path, f"not per-slice segmentation scores of format {SLICES_FORMAT!r}")
    return slices
