"""Evaluation: model outputs → result files. Tables are built from these files only.

Per classification split ``<split>``::

    results/<split>_predictions.csv   one row per slice: file, label, predicted, σ(Δ) and Δ per class
    results/<split>_metrics.json      §4.3 metrics with bootstrap 95 % intervals, confusion matrix

and for the segmentation test split ``results/segmentation_test.json`` with mask AP
(§4.2) at 0.5, 0.75 and [0.5:0.95], per-image and data-set level, all classes and
lesions only, plus semantic Dice.

A model whose BatchNorm uses batch statistics at inference
(``batchnorm_at_inference="train"``, the reference code) would mix the statistics of
every slice of a batch, so it is evaluated one slice at a time, as the reference code's
``eval.py`` does (:func:`inference_batch_size`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Iterable

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lstmattn.data.joint import collate_detection
from lstmattn.labels import LESION_LABELS, class_names_for
from lstmattn.metrics import ConfusionMatrixMetric, DiceMetric, MaskAPMetric, roc_auc_ci
from lstmattn.progress import progress_bar

__all__ = [
    "inference_batch_size",
    "predict_classification",
    "classification_metrics",
    "segmentation_metrics",
    "AP_MATCHING",
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


@torch.no_grad()
def segmentation_metrics(
    model: nn.Module,
    dataset: Dataset,
    *,
    device: torch.device,
    batch_size: int = 4,
    progress: bool = False,
) -> dict[str, Any]:
    """§4.2 mask AP (Table 1) and semantic Dice on a segmentation split (one slice per
    batch for a model with BatchNorm in training mode at inference)."""
    model.eval()
    variants: dict[str, MaskAPMetric] = {
        f"{aggregation}/{scope}": MaskAPMetric(aggregation=aggregation, matching=AP_MATCHING[aggregation],
                                               classes=None if scope == "all_classes" else LESION_LABELS)
        for aggregation in ("per_image", "dataset")
        for scope in ("all_classes", "lesions")
    }
    dice = DiceMetric()
    for images, targets in progress_bar(_batches(model, dataset, batch_size), desc="segment", disable=not progress, leave=False):
        outputs = model([image.to(device) for image in images])
        predictions = [{k: output[k].cpu() for k in ("masks", "scores", "labels")} for output in outputs]
        truths = [{"masks": t["masks"], "labels": t["labels"]} for t in targets]
        for metric in variants.values():
            metric.update(predictions, truths)
        dice.update(predictions, truths)
    result: dict[str, Any] = {"n": len(dataset), "ap": {}, "ap_matching": dict(AP_MATCHING)}
    for name, metric in variants.items():
        ap = metric.aggregate()
        result["ap"][name] = {"AP@0.5": ap.ap50, "AP@0.75": ap.ap75, "AP@[0.5:0.95]": ap.ap}
    dice_result = dice.aggregate()
    result["dice"] = {"dataset": dice_result.dataset, "mean_per_image": dice_result.mean_per_image}
    return result

