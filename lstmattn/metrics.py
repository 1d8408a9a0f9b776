"""The paper's evaluation metrics: classification (§4.3, Eq. 11-13) and segmentation (§4.2).

Every metric accumulates with ``update(...)`` once per batch, reports with
``aggregate()`` and starts over with ``reset()``. Inputs may be Python numbers, numpy
arrays or torch tensors. A ratio whose denominator is zero (a class that never occurs,
a class that is never predicted) is defined as 0.0, like scikit-learn's
``zero_division=0``.

Classification follows the authors' evaluation script: a confusion matrix with rows =
true class and columns = predicted class, per-class sensitivity and precision, and the
class-weighted F1 of Eq. 13. Mask AP follows the authors' segmentation evaluation: mask
IoU from the dot product of flattened binary masks, Pascal VOC all-point interpolation
and, by default, one AP per image averaged over the images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from lstmattn.labels import IMAGE_CLASS_NAMES, LESION_NAMES

__all__ = [
    "PAPER_F1_WEIGHTS",
    "DEFAULT_IOU_THRESHOLDS",
    "ANY_LESION",
    "confusion_matrix",
    "ClassificationReport",
    "ConfidenceInterval",
    "ConfusionMatrixMetric",
    "bootstrap_ci",
    "roc_auc",
    "roc_auc_ci",
    "mask_iou",
    "match_predictions",
    "average_precision",
    "ImageMatches",
    "MaskAPResult",
    "MaskAPMetric",
    "DiceResult",
    "DiceMetric",
]

PAPER_F1_WEIGHTS: tuple[float, ...] = (0.45, 0.35, 0.20)
"""Eq. 13's fixed class weights w(Neg), w(CP), w(COVID-19), in :data:`~lstmattn.labels.IMAGE_CLASS_NAMES` order."""

DEFAULT_IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
"""§4.2: the COCO thresholds 0.50, 0.55, ..., 0.95 (exact decimals, not float steps)."""

ANY_LESION = "any lesion"
"""Key of the union of all lesion classes in :class:`DiceResult`."""

F1Weights = Literal["support", "paper"] | Sequence[float]
_LabelPart = tuple[np.ndarray, np.ndarray, int]  # one image's scores, TP flags and ground-truth count of one label
ConfusionStatistic = Callable[[np.ndarray], np.ndarray]


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _safe_divide(numerator: Any, denominator: Any) -> np.ndarray:
    """numerator / denominator elementwise, 0.0 where the denominator is 0."""
    numerator, denominator = np.broadcast_arrays(
        np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    )
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator != 0)


def _check_resampling(n_resamples: int, confidence: float) -> None:
    """:class:`ValueError` naming the argument unless ``n_resamples`` is a positive integer
    and ``confidence`` lies in (0, 1)."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")


# --------------------------------------------------------------------------- classification


def _class_labels(values: Any, num_classes: int, argument: str) -> np.ndarray:
    labels = _to_numpy(values).ravel()
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{argument} must hold integer class labels, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{argument} holds labels outside [0, {num_classes}): {np.unique(labels)}")
    return labels.astype(np.int64)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """Counts of (true, predicted) pairs: rows = true class, columns = predicted class."""
    true = _class_labels(y_true, num_classes, "y_true")
    pred = _class_labels(y_pred, num_classes, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {true.size} vs {pred.size}")
    counts = np.bincount(true * num_classes + pred, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def _resolve_f1_weights(f1_weights: F1Weights, num_classes: int) -> np.ndarray | None:
    """Fixed Eq. 13 weights, or None for the class shares of the evaluated set."""
    if isinstance(f1_weights, str):
        if f1_weights == "support":
            return None
        if f1_weights == "paper":
            if num_classes != len(PAPER_F1_WEIGHTS):
                raise ValueError(
                    f"f1_weights='paper' is defined for 3 classes (Normal, CP, COVID-19), "
                    f"not {num_classes}; pass 'support' or explicit weights"
                )
            return np.asarray(PAPER_F1_WEIGHTS)
        raise ValueError(f"f1_weights must be 'support', 'paper' or a sequence, got {f1_weights!r}")
    weights = np.asarray(f1_weights, dtype=float)
    if weights.shape != (num_classes,) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"f1_weights must be {num_classes} non-negative numbers with a positive sum, "
            f"got {f1_weights!r}"
        )
    return weights / weights.sum()


def _class_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class rates of a stack of confusion matrices (..., C, C)."""
    true_positives = np.diagonal(counts, axis1=-2, axis2=-1).astype(float)
    support = counts.sum(axis=-1)
    sensitivity = _safe_divide(true_positives, support)  # Eq. 11
    precision = _safe_divide(true_positives, counts.sum(axis=-2))  # Eq. 12
    return {
        "true_positives": true_positives,
        "support": support,
        "share": _safe_divide(support, support.sum(axis=-1, keepdims=True)),
        "sensitivity": sensitivity,
        "precision": precision,
        "f1": _safe_divide(2 * sensitivity * precision, sensitivity + precision),
    }


def _scalar_metrics(
    counts: np.ndarray, class_names: Sequence[str], fixed_weights: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Every scalar metric of a stack of confusion matrices (..., C, C), each of shape (...)."""
    rates = _class_rates(counts)
    share = rates["share"]
    f1_weights = share if fixed_weights is None else fixed_weights
    scalars = {
        "accuracy": _safe_divide(rates["true_positives"].sum(-1), rates["support"].sum(-1)),
        "f1": (f1_weights * rates["f1"]).sum(-1),
        "sensitivity": (share * rates["sensitivity"]).sum(-1),
        "precision": (share * rates["precision"]).sum(-1),
        "sensitivity_macro": rates["sensitivity"].mean(-1),
        "precision_macro": rates["precision"].mean(-1),
    }
    for index, name in enumerate(class_names):
        for rate in ("sensitivity", "precision", "f1"):
            scalars[f"{rate}/{name}"] = rates[rate][..., index]
    return scalars


@dataclass(frozen=True)
class ClassificationReport:
    """§4.3 classification metrics of one evaluated set.

    Attributes:
        class_names: names of classes 0..C-1.
        confusion: ``int64[C, C]`` counts, rows = true class, columns = predicted class.
        support: ``int64[C]`` number of samples of each true class.
        sensitivity: ``float[C]``, Eq. 11: TP / (TP + FN), the row-normalised diagonal.
            (The paper prints TP / (TP + TN); that is a typo, the code divides by the
            row sum.)
        precision: ``float[C]``, Eq. 12: TP / (TP + FP), the column-normalised diagonal.
        f1: ``float[C]``, 2·S·P / (S + P) per class.
        f1_weights: ``float[C]`` weights w(c) used in Eq. 13.
        scalars: every scalar metric by name (the names :func:`bootstrap_ci` accepts):

            * ``"f1"``: Eq. 13, Σ_c w(c) · 2·S(c)·P(c) / (S(c) + P(c));
            * ``"sensitivity"``, ``"precision"``: the paper's "overall" values, which its
              code does not define; here the support-weighted means of the per-class
              values. Support-weighted sensitivity equals ``"accuracy"`` (Σ TP / N);
            * ``"sensitivity_macro"``, ``"precision_macro"``: unweighted class means;
            * ``"accuracy"``: trace / total;
            * ``"sensitivity/<class>"``, ``"precision/<class>"``, ``"f1/<class>"``.
    """

    class_names: tuple[str, ...]
    confusion: np.ndarray
    support: np.ndarray
    sensitivity: np.ndarray
    precision: np.ndarray
    f1: np.ndarray
    f1_weights: np.ndarray
    scalars: dict[str, float]


@dataclass(frozen=True)
class ConfidenceInterval:
    """A bootstrap percentile interval [low, high] around the point estimate."""

    estimate: float
    low: float
    high: float
    confidence: float


class ConfusionMatrixMetric:
    """§4.3, Eq. 11-13: confusion-matrix metrics of a C-class image classifier.

    ``update(y_true, y_pred)`` takes true labels ``int[N]`` (or one int) and either
    predicted labels ``int[N]`` or class scores ``float[N, C]`` (argmax is taken).

    Args:
        num_classes: C >= 2; 3 for COVIDx-CT, 2 for iCTCF (Table 4).
        class_names: C names; defaults to :data:`~lstmattn.labels.IMAGE_CLASS_NAMES` for 3 classes and
            ``"class 0"``, ``"class 1"``, ... otherwise.
        f1_weights: weights of Eq. 13. ``"support"`` (default): the class shares of the
            evaluated set, which makes Eq. 13 scikit-learn's ``average="weighted"`` F1;
            ``"paper"``: the fixed 0.45/0.35/0.20 of the paper and its code (3 classes
            only); or C non-negative numbers, rescaled to sum to 1.

    Example:
        >>> metric = ConfusionMatrixMetric()
        >>> metric.update([0, 1, 2, 2], [0, 1, 2, 1])
        >>> metric.aggregate().scalars["accuracy"]
        0.75
    """

    def __init__(
        self,
        num_classes: int = 3,
        class_names: Sequence[str] | None = None,
        f1_weights: F1Weights = "support",
    ) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        if class_names is None and num_classes == len(IMAGE_CLASS_NAMES):
            class_names = IMAGE_CLASS_NAMES
        elif class_names is None:
            class_names = tuple(f"class {c}" for c in range(num_classes))
        if len(class_names) != num_classes or len(set(class_names)) != num_classes:
            raise ValueError(
                f"class_names must be {num_classes} distinct names, got {class_names!r}"
            )
        self.num_classes = num_classes
        self.class_names = tuple(class_names)
        self._fixed_weights = _resolve_f1_weights(f1_weights, num_classes)
        self.reset()

    def reset(self) -> None:
        self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, y_true: Any, y_pred: Any) -> None:
        true = _to_numpy(y_true)
        pred = _to_numpy(y_pred)
        if pred.ndim == true.ndim + 1 and pred.shape[-1] == self.num_classes:
            pred = pred.argmax(axis=-1)
        self.confusion += confusion_matrix(true, pred, self.num_classes)

    def _scalars(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        return _scalar_metrics(counts, self.class_names, self._fixed_weights)

    def aggregate(self) -> ClassificationReport:
        rates = _class_rates(self.confusion)
        weights = rates["share"] if self._fixed_weights is None else self._fixed_weights
        return ClassificationReport(
            class_names=self.class_names,
            confusion=self.confusion.copy(),
            support=rates["support"],
            sensitivity=rates["sensitivity"],
            precision=rates["precision"],
            f1=rates["f1"],
            f1_weights=weights,
            scalars={name: float(value) for name, value in self._scalars(self.confusion).items()},
        )

    def bootstrap_ci(
        self,
        metrics: str | Sequence[str] | Mapping[str, ConfusionStatistic] | None = None,
        *,
        n_resamples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> dict[str, ConfidenceInterval]:
        """Bootstrap percentile intervals of scalar metrics of the accumulated predictions.

        Resampling the N (true, predicted) pairs with replacement is the same as drawing
        the confusion matrix from a multinomial over its C² cells with probabilities
        count / N, so each resample costs O(C²) whatever N is. Resamples are not
        stratified: class shares vary between resamples, and so do the ``"support"``
        F1 weights.

        Args:
            metrics: names from ``ClassificationReport.scalars`` (default: all of them),
                or a mapping of names to functions that take a stack of confusion
                matrices ``int[..., C, C]`` and return one value per matrix ``float[...]``.
            n_resamples: number of bootstrap resamples.
            confidence: coverage of the interval, in (0, 1).
            seed: seed of the numpy generator; equal seeds give equal intervals.
        """
        _check_resampling(n_resamples, confidence)
        total = int(self.confusion.sum())
        if total == 0:
            raise ValueError("no predictions accumulated; call update() before bootstrap_ci()")
        rng = np.random.default_rng(seed)
        resampled = rng.multinomial(total, self.confusion.ravel() / total, size=n_resamples)
        resampled = resampled.reshape(n_resamples, self.num_classes, self.num_classes)

        if isinstance(metrics, Mapping):
            estimates = {name: fn(self.confusion) for name, fn in metrics.items()}
            samples = {name: fn(resampled) for name, fn in metrics.items()}
        else:
            estimates = self._scalars(self.confusion)
            samples = self._scalars(resampled)
            if metrics is None:
                names = list(estimates)
            else:
                names = [metrics] if isinstance(metrics, str) else list(metrics)
            unknown = sorted(set(names) - set(estimates))
            if unknown:
                raise ValueError(
                    f"metrics holds unknown names {unknown}; known: {sorted(estimates)}"
                )
            estimates = {name: estimates[name] for name in names}

        tail = (1.0 - confidence) / 2.0
        intervals = {}
        for name, estimate in estimates.items():
            low, high = np.quantile(samples[name], [tail, 1.0 - tail])
            intervals[name] = ConfidenceInterval(
                float(estimate), float(low), float(high), confidence
            )
        return intervals


def bootstrap_ci(
    y_true: Any,
    y_pred: Any,
    metrics: str | Sequence[str] | Mapping[str, ConfusionStatistic] | None = None,
    *,
    num_classes: int = 3,
    class_names: Sequence[str] | None = None,
    f1_weights: F1Weights = "support",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, ConfidenceInterval]:
    """Bootstrap percentile intervals (95 % by default) of the §4.3 metrics of predictions.

    Shorthand for a :class:`ConfusionMatrixMetric` updated once with ``y_true, y_pred``
    followed by :meth:`ConfusionMatrixMetric.bootstrap_ci`; see both for the arguments.
    """
    metric = ConfusionMatrixMetric(num_classes, class_names, f1_weights)
    metric.update(y_true, y_pred)
    return metric.bootstrap_ci(metrics, n_resamples=n_resamples, confidence=confidence, seed=seed)


def _auc_of_ranks(positive: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """ROC AUC per row from mid-ranks (Mann-Whitney U): rows of ``positive`` (bool) and
    ``ranks`` (float) of equal shape; NaN for a row without both classes."""
    n_positive = positive.sum(-1)
    n_negative = positive.shape[-1] - n_positive
    u = (ranks * positive).sum(-1) - n_positive * (n_positive + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_positive > 0) & (n_negative > 0), u / (n_positive * n_negative), np.nan)


def _mid_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of each row of ``scores``, ties sharing their mean rank."""
    order = np.argsort(scores, axis=-1, kind="stable")
    sorted_scores = np.take_along_axis(scores, order, -1)
    ranks = np.empty(scores.shape, dtype=np.float64)
    for row in np.ndindex(scores.shape[:-1]):
        values = sorted_scores[row]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        ends = np.r_[starts[1:], len(values)]
        mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
        ranks[row][order[row]] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(y_true: Any, scores: Any) -> float:
    """Area under the ROC curve of a binary problem: the probability that a random
    positive (``y_true == 1``) scores higher than a random negative, ties counting one
    half (the Mann-Whitney U statistic). NaN when either class is absent."""
    true, score = _to_numpy(y_true).astype(bool), _to_numpy(scores).astype(np.float64)
    if true.shape != score.shape or true.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-D of one length, got {true.shape} and {score.shape}")
    return float(_auc_of_ranks(true, _mid_ranks(score)))


def roc_auc_ci(
    y_true: Any, scores: Any, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> ConfidenceInterval:
    """:func:`roc_auc` with a bootstrap percentile interval: the N (label, score) pairs
    are resampled with replacement ``n_resamples`` times (resamples with one class only
    are left out of the quantiles)."""
    _check_resampling(n_resamples, confidence)
    true, score = _to_numpy(y_true).astype(bool), _to_numpy(scores).astype(np.float64)
    estimate = roc_auc(true, score)
    picks = np.random.default_rng(seed).integers(len(true), size=(n_resamples, len(true)))
    return _percentile_interval(estimate, _auc_of_ranks(true[picks], _mid_ranks(score[picks])), confidence)


# --------------------------------------------------------------------------- segmentation


def _flatten(masks: np.ndarray) -> np.ndarray:
    return masks.reshape(masks.shape[0], int(np.prod(masks.shape[1:]))).astype(np.float64)


def mask_iou(pred_masks: Any, gt_masks: Any) -> np.ndarray:
    """§4.2: IoU ``float[N, M]`` of binary masks ``(N, H, W)`` and ``(M, H, W)``.

    With the masks flattened to 0/1 rows P and G, intersection = P·Gᵀ (the paper's
    "dot product") and union = area(P) + area(G) − intersection.
    """
    pred = _flatten(_to_numpy(pred_masks).astype(bool))
    gt = _flatten(_to_numpy(gt_masks).astype(bool))
    intersection = pred @ gt.T
    union = pred.sum(axis=1)[:, None] + gt.sum(axis=1)[None, :] - intersection
    return _safe_divide(intersection, union)


def match_predictions(
    iou: np.ndarray,
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    iou_threshold: float,
    matching: Literal["greedy", "reference"] = "greedy",
) -> np.ndarray:
    """True-positive flags ``bool[N]`` of predictions sorted by descending score.

    A prediction and a ground-truth instance can match only if their labels are equal
    and their IoU is strictly greater than ``iou_threshold`` (as in the authors' code;
    COCO uses ≥).

    * ``"greedy"`` (Pascal VOC, COCO): predictions in score order each take the unmatched
      ground truth with the highest IoU; every ground truth matches at most once.
    * ``"reference"`` (the authors' code): each ground truth takes the prediction with
      the highest IoU, whether or not that prediction matched another ground truth
      already. One prediction can then absorb several ground truths and still count as
      a single true positive, while a second prediction overlapping one of them counts
      as a false positive.
    """
    if matching not in ("greedy", "reference"):
        raise ValueError(f"matching must be 'greedy' or 'reference', got {matching!r}")
    candidates = (iou > iou_threshold) & (pred_labels[:, None] == gt_labels[None, :])
    is_true_positive = np.zeros(len(pred_labels), dtype=bool)
    if not candidates.any():
        return is_true_positive
    if matching == "reference":
        best_prediction = np.where(candidates, iou, -1.0).argmax(axis=0)
        is_true_positive[best_prediction[candidates.any(axis=0)]] = True
        return is_true_positive
    gt_free = np.ones(len(gt_labels), dtype=bool)
    for index in range(len(pred_labels)):
        available = candidates[index] & gt_free
        if available.any():
            gt_free[np.where(available, iou[index], -1.0).argmax()] = False
            is_true_positive[index] = True
    return is_true_positive


def average_precision(is_true_positive: np.ndarray, num_ground_truth: int) -> float:
    """§4.2: Pascal VOC all-point AP of a ranked list of detections.

    Precision = cumulative TP / rank and recall = cumulative TP / ``num_ground_truth``;
    recall is padded with 0 and 1, precision with 0 at both ends (the paper writes 1 at
    the start, which cannot change the result), precision is made non-increasing from
    the right, and AP = Σ Δrecall · precision.
    """
    cumulative_tp = np.cumsum(is_true_positive, dtype=float)
    precision = cumulative_tp / np.arange(1, len(cumulative_tp) + 1)
    recall = cumulative_tp / num_ground_truth
    precision = np.concatenate(([0.0], precision, [0.0]))
    recall = np.concatenate(([0.0], recall, [1.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(recall) * precision[1:]))


def _image_arrays(
    prediction: Mapping[str, Any], target: Mapping[str, Any], mask_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One image as binary predicted masks ``bool[N, H, W]``, scores ``float[N]``, labels
    ``int[N]``, binary ground-truth masks ``bool[M, H, W]`` and labels ``int[M]``."""
    pred_masks = _to_numpy(prediction["masks"])
    if pred_masks.ndim == 4 and pred_masks.shape[1] == 1:
        pred_masks = pred_masks[:, 0]
    if pred_masks.ndim != 3:
        raise ValueError(
            f"prediction masks must be (N, H, W) or (N, 1, H, W), got shape {pred_masks.shape}"
        )
    scores = _to_numpy(prediction["scores"]).astype(float).reshape(-1)
    labels = _to_numpy(prediction["labels"]).astype(np.int64).reshape(-1)
    if not len(pred_masks) == len(scores) == len(labels):
        raise ValueError(
            f"prediction has {len(pred_masks)} masks, {len(scores)} scores and {len(labels)} labels"
        )
    gt_masks = _to_numpy(target["masks"]).astype(bool)
    gt_labels = _to_numpy(target["labels"]).astype(np.int64).reshape(-1)
    if gt_masks.ndim != 3 or len(gt_masks) != len(gt_labels):
        raise ValueError(
            f"target masks {gt_masks.shape} must be (M, H, W) with M = {len(gt_labels)} labels"
        )
    if pred_masks.shape[1:] != gt_masks.shape[1:]:
        raise ValueError(
            f"prediction masks are {pred_masks.shape[1:]} but target masks {gt_masks.shape[1:]} "
            "in height and width"
        )
    return pred_masks > mask_threshold, scores, labels, gt_masks, gt_labels


def _images(
    predictions: Sequence[Mapping[str, Any]],
    targets: Sequence[Mapping[str, Any]],
    mask_threshold: float,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Every image of a batch via :func:`_image_arrays`, all checked before any is used."""
    if len(predictions) != len(targets):
        raise ValueError(f"got {len(predictions)} predictions for {len(targets)} targets")
    return [_image_arrays(p, t, mask_threshold) for p, t in zip(predictions, targets)]


@dataclass(frozen=True)
class MaskAPResult:
    """Mask AP at each IoU threshold.

    Attributes:
        iou_thresholds: the thresholds, in the order given.
        ap_per_threshold: ``float[T]`` AP at each threshold.
        class_ap: label → ``float[T]`` for ``aggregation="dataset"``; None for
            ``"per_image"``, whose APs mix the classes of an image.
        num_images: number of images evaluated.
    """

    iou_thresholds: tuple[float, ...]
    ap_per_threshold: np.ndarray
    class_ap: dict[int, np.ndarray] | None
    num_images: int

    @property
    def ap(self) -> float:
        """Mean AP over the thresholds: AP@[0.5:0.95] with the default thresholds."""
        return float(np.mean(self.ap_per_threshold))

    def at(self, iou_threshold: float) -> float:
        """AP at one of ``iou_thresholds``."""
        matches = np.flatnonzero(np.isclose(self.iou_thresholds, iou_threshold))
        if matches.size == 0:
            raise KeyError(f"IoU threshold {iou_threshold} not among {self.iou_thresholds}")
        return float(self.ap_per_threshold[matches[0]])

    @property
    def ap50(self) -> float:
        return self.at(0.5)

    @property
    def ap75(self) -> float:
        return self.at(0.75)


@dataclass(frozen=True)
class ImageMatches:
    """One image's predictions, ranked and matched to its ground truth: all that its mask
    AP needs of it (:class:`MaskAPMetric` keeps one per image).

    Attributes:
        scores: ``float[N]`` prediction scores, in descending order.
        labels: ``int[N]`` predicted labels.
        is_true_positive: ``bool[T, N]`` :func:`match_predictions` flags at each IoU threshold.
        gt_labels: ``int[M]`` ground-truth labels (their order does not matter).
    """

    scores: np.ndarray
    labels: np.ndarray
    is_true_positive: np.ndarray
    gt_labels: np.ndarray

    def __post_init__(self) -> None:
        num_predictions = len(self.scores)
        if self.labels.shape != (num_predictions,) or self.is_true_positive.ndim != 2 \
                or self.is_true_positive.shape[1] != num_predictions:
            raise ValueError(
                f"ImageMatches needs {num_predictions} labels and flags of shape (T, {num_predictions}), "
                f"got {self.labels.shape} and {self.is_true_positive.shape}"
            )
        if np.any(np.diff(self.scores) > 0):
            raise ValueError("ImageMatches scores must be in descending order")

    def restricted(self, classes: Iterable[int]) -> ImageMatches:
        """The predictions and ground truth of the labels ``classes`` only. Both matchings of
        :func:`match_predictions` pair equal labels only, so every kept flag is the one
        matching the kept predictions alone would give."""
        classes = tuple(classes)
        kept = np.isin(self.labels, classes)
        return ImageMatches(self.scores[kept], self.labels[kept], self.is_true_positive[:, kept],
                            self.gt_labels[np.isin(self.gt_labels, classes)])


def _image_resamples(num_images: int, n_resamples: int, confidence: float, seed: int) -> np.ndarray:
    """``int[n_resamples, num_images]``: image indices drawn with replacement from a numpy
    generator seeded with ``seed``, each row sorted (a resample is a multiset of images;
    in image order, ties between pooled scores break as in the full set)."""
    _check_resampling(n_resamples, confidence)
    if num_images == 0:
        raise ValueError("no images accumulated; call update() before bootstrap_ci()")
    picks = np.random.default_rng(seed).integers(num_images, size=(n_resamples, num_images))
    return np.sort(picks, axis=1)


def _percentile_interval(estimate: float, samples: np.ndarray, confidence: float) -> ConfidenceInterval:
    """The bootstrap percentile interval of ``samples`` around ``estimate``. NaN samples (a
    statistic undefined on that resample) are left out, as in :func:`roc_auc_ci`; the
    bounds are NaN when every sample is."""
    defined = samples[~np.isnan(samples)]
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(defined, [tail, 1.0 - tail]) if defined.size else (np.nan, np.nan)
    return ConfidenceInterval(float(estimate), float(low), float(high), confidence)


class MaskAPMetric:
    """§4.2: mask average precision of instance segmentation (Table 1).

    ``update(predictions, targets)`` takes one dict per image. A prediction holds
    ``masks`` (``float[N, H, W]`` or torchvision's ``float[N, 1, H, W]`` probabilities),
    ``scores`` (``float[N]``) and ``labels`` (``int[N]``); a target holds binary
    ``masks`` (``[M, H, W]``) and ``labels`` (``int[M]``). Predicted masks are binarised
    at probability > ``mask_threshold``, sorted by descending score and matched to the
    ground truth with :func:`match_predictions`; APs use :func:`average_precision`.
    Each image is kept as its :class:`ImageMatches` (:attr:`matches`), which
    :meth:`add_matches` accumulates again (from a per-slice result file) and
    :meth:`bootstrap_ci` resamples.

    Args:
        iou_thresholds: IoU thresholds; the mean AP over the default ones is AP@[0.5:0.95].
        mask_threshold: probability above which a predicted pixel is foreground.
        aggregation: ``"per_image"`` (the authors' code): one AP per image over all its
            predictions and ground truths, averaged over the images; an image with
            ground truth but no predictions, or predictions but no ground truth, scores
            0 and an image with neither scores 1. ``"dataset"``: the predictions of all
            images are pooled and ranked per class (like COCO, but with all-point
            interpolation and no detection limit); the AP is the mean over the classes
            present in the ground truth, a class with ground truth but no predictions
            scoring 0. NaN if no image has ground truth.
        matching: ``"greedy"`` or ``"reference"``, see :func:`match_predictions`.
        classes: labels that count; predictions and ground truth of other labels are
            dropped first (e.g. ``(2, 3)`` for lesions without the lung class 1).
            None keeps every label.
    """

    def __init__(
        self,
        iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
        mask_threshold: float = 0.5,
        aggregation: Literal["per_image", "dataset"] = "per_image",
        matching: Literal["greedy", "reference"] = "greedy",
        classes: Iterable[int] | None = None,
    ) -> None:
        thresholds = tuple(float(t) for t in iou_thresholds)
        if not thresholds or not all(0.0 <= t < 1.0 for t in thresholds):
            raise ValueError(
                f"iou_thresholds must be a non-empty sequence in [0, 1), got {iou_thresholds!r}"
            )
        if not 0.0 <= mask_threshold < 1.0:
            raise ValueError(f"mask_threshold must lie in [0, 1), got {mask_threshold!r}")
        if aggregation not in ("per_image", "dataset"):
            raise ValueError(f"aggregation must be 'per_image' or 'dataset', got {aggregation!r}")
        if matching not in ("greedy", "reference"):
            raise ValueError(f"matching must be 'greedy' or 'reference', got {matching!r}")
        if classes is not None:
            classes = tuple(int(c) for c in classes)
            if not classes:
                raise ValueError("classes must name at least one label, or be None for all labels")
        self.iou_thresholds = thresholds
        self.mask_threshold = mask_threshold
        self.aggregation = aggregation
        self.matching = matching
        self.classes = classes
        self.reset()

    def reset(self) -> None:
        self._images: list[ImageMatches] = []

    @property
    def matches(self) -> tuple[ImageMatches, ...]:
        """Every accumulated image's ranked and matched predictions, in update order."""
        return tuple(self._images)

    def add_matches(self, image: ImageMatches) -> None:
        """Accumulate one image whose predictions are already ranked and matched (say, read
        back from a per-slice result file) as :meth:`update` would have: ``image`` must
        hold the flags of this metric's ``matching`` at its ``iou_thresholds``; predictions
        and ground truth of labels outside ``classes`` are dropped here
        (:meth:`ImageMatches.restricted`)."""
        if image.is_true_positive.shape[0] != len(self.iou_thresholds):
            raise ValueError(
                f"image matches hold flags at {image.is_true_positive.shape[0]} IoU thresholds, "
                f"the metric has {len(self.iou_thresholds)}"
            )
        self._images.append(image if self.classes is None else image.restricted(self.classes))

    def update(
        self, predictions: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]]
    ) -> None:
        for pred_masks, scores, labels, gt_masks, gt_labels in _images(
            predictions, targets, self.mask_threshold
        ):
            if self.classes is not None:
                kept = np.isin(labels, self.classes)
                pred_masks, scores, labels = pred_masks[kept], scores[kept], labels[kept]
                kept_gt = np.isin(gt_labels, self.classes)
                gt_masks, gt_labels = gt_masks[kept_gt], gt_labels[kept_gt]
            order = np.argsort(-scores, kind="stable")
            pred_masks, scores, labels = pred_masks[order], scores[order], labels[order]
            iou = mask_iou(pred_masks, gt_masks)
            is_true_positive = np.stack(
                [
                    match_predictions(iou, labels, gt_labels, threshold, self.matching)
                    for threshold in self.iou_thresholds
                ]
            )
            self._images.append(ImageMatches(scores, labels, is_true_positive, gt_labels))

    def aggregate(self) -> MaskAPResult:
        if not self._images:
            raise ValueError("no images accumulated; call update() before aggregate()")
        if self.aggregation == "per_image":
            ap_per_threshold = np.mean([self._image_ap(image) for image in self._images], axis=0)
            class_ap = None
        else:
            ap_per_threshold, class_ap = self._dataset_ap([self._by_label(image) for image in self._images])
        return MaskAPResult(self.iou_thresholds, ap_per_threshold, class_ap, len(self._images))

    def bootstrap_ci(
        self, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
    ) -> dict[str, ConfidenceInterval]:
        """Bootstrap percentile intervals of the AP at each IoU threshold and of their mean,
        resampling the images.

        A resample draws as many images as were accumulated, with replacement, and its AP
        is the one :meth:`aggregate` computes from those images, an image drawn k times
        counting k times: the mean of their per-image APs (``"per_image"``) or the AP of
        their pooled predictions (``"dataset"``, the same code as :meth:`aggregate`).
        Resamples whose AP is undefined (``"dataset"``: no ground truth drawn) are left out
        of the quantiles.

        Args:
            n_resamples: number of bootstrap resamples.
            confidence: coverage of the interval, in (0, 1).
            seed: seed of the numpy generator; equal seeds give equal intervals.

        Returns:
            ``"AP@<t>"`` for each IoU threshold t (``"AP@0.5"``, ``"AP@0.75"``, ...) and
            ``"AP@[<first>:<last>]"`` for their mean (``"AP@[0.5:0.95]"`` with the default
            thresholds), each around the :meth:`aggregate` value.
        """
        picks = _image_resamples(len(self._images), n_resamples, confidence, seed)
        result = self.aggregate()
        if self.aggregation == "per_image":
            samples = np.array([self._image_ap(image) for image in self._images])[picks].mean(axis=1)
        else:
            parts = [self._by_label(image) for image in self._images]
            samples = np.array([self._dataset_ap([parts[i] for i in row])[0] for row in picks])
        intervals = {
            f"AP@{threshold:g}": _percentile_interval(estimate, samples[:, index], confidence)
            for index, (threshold, estimate) in enumerate(zip(self.iou_thresholds, result.ap_per_threshold))
        }
        mean_name = f"AP@[{self.iou_thresholds[0]:g}:{self.iou_thresholds[-1]:g}]"
        intervals[mean_name] = _percentile_interval(result.ap, samples.mean(axis=1), confidence)
        return intervals

    def _image_ap(self, image: ImageMatches) -> np.ndarray:
        num_gt, num_predictions = len(image.gt_labels), len(image.labels)
        if num_gt == 0 or num_predictions == 0:
            return np.full(len(self.iou_thresholds), float(num_gt == num_predictions))
        return np.array([average_precision(flags, num_gt) for flags in image.is_true_positive])

    def _by_label(self, image: ImageMatches) -> dict[int, _LabelPart]:
        """Label → the image's predictions of that label (scores ``float[n]`` in descending
        order, flags ``bool[T, n]``) and its number of ground truths of that label."""
        return {
            int(label): (image.scores[image.labels == label], image.is_true_positive[:, image.labels == label],
                         int(np.sum(image.gt_labels == label)))
            for label in np.union1d(image.labels, image.gt_labels)
        }

    def _dataset_ap(self, parts: Sequence[Mapping[int, _LabelPart]]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """AP per threshold of the pooled predictions of some images, given as
        :meth:`_by_label` parts (the mean over the classes of their ground truth, NaN
        without any), and label → AP per threshold. Per class, the images' predictions are
        concatenated in image order and ranked by a stable sort on the score."""
        no_predictions = (np.zeros(0), np.zeros((len(self.iou_thresholds), 0), dtype=bool), 0)
        class_ap = {}
        for label in sorted({label for part in parts for label, (_, _, num_gt) in part.items() if num_gt}):
            pieces = [part.get(label, no_predictions) for part in parts]
            scores = np.concatenate([piece[0] for piece in pieces])
            ranked = np.concatenate([piece[1] for piece in pieces], axis=1)[:, np.argsort(-scores, kind="stable")]
            num_gt = sum(piece[2] for piece in pieces)
            class_ap[label] = np.array([average_precision(flags, num_gt) for flags in ranked])
        if class_ap:
            return np.mean(list(class_ap.values()), axis=0), class_ap
        return np.full(len(self.iou_thresholds), np.nan), class_ap


@dataclass(frozen=True)
class DiceResult:
    """Semantic Dice per lesion class and for ``ANY_LESION``.

    Attributes:
        dataset: 2·Σ|P∩G| / Σ(|P| + |G|) over all images; NaN if every mask is empty.
        mean_per_image: mean of the per-image Dice 2·|P∩G| / (|P| + |G|) over the images
            where P or G is non-empty; images where both are empty are skipped (there is
            nothing to segment and nothing was segmented). NaN if all are skipped.
        images_counted: number of images in each ``mean_per_image`` value.
    """

    dataset: dict[str, float]
    mean_per_image: dict[str, float]
    images_counted: dict[str, int]


class DiceMetric:
    """Semantic Dice of lesion classes, computed from predicted instance masks.

    For each class, the union of the predicted instances of that class (score ≥
    ``score_threshold``, pixels with probability > ``mask_threshold``) is compared with
    the union of its ground-truth instances; ``ANY_LESION`` compares the unions over all
    classes in ``class_labels``. Binary Dice equals the F1 score of the pixels.
    ``update`` takes the same per-image dicts as :class:`MaskAPMetric`; each image is
    kept as its pixel counts (:attr:`image_counts`), which :meth:`add_counts` accumulates
    again (from a per-slice result file) and :meth:`bootstrap_ci` resamples.

    Args:
        class_labels: class name → instance label; defaults to :data:`~lstmattn.labels.LESION_NAMES`.
        score_threshold: minimum score of a predicted instance, in [0, 1].
        mask_threshold: probability above which a predicted pixel is foreground.
    """

    def __init__(
        self,
        class_labels: Mapping[str, int] = LESION_NAMES,
        score_threshold: float = 0.5,
        mask_threshold: float = 0.5,
    ) -> None:
        if not class_labels or ANY_LESION in class_labels:
            raise ValueError(
                f"class_labels must map class names other than {ANY_LESION!r} to labels"
            )
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must lie in [0, 1], got {score_threshold!r}")
        if not 0.0 <= mask_threshold < 1.0:
            raise ValueError(f"mask_threshold must lie in [0, 1), got {mask_threshold!r}")
        self.class_labels = {name: int(label) for name, label in class_labels.items()}
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold
        self.reset()

    def reset(self) -> None:
        names = [*self.class_labels, ANY_LESION]
        self._intersection = dict.fromkeys(names, 0)
        self._size = dict.fromkeys(names, 0)
        self._image_dice: dict[str, list[float]] = {name: [] for name in names}
        self._image_counts: dict[str, list[tuple[int, int]]] = {name: [] for name in names}

    @property
    def image_counts(self) -> dict[str, np.ndarray]:
        """Class name (and ``ANY_LESION``) → ``int64[I, 2]``: each accumulated image's
        |P∩G| and |P| + |G| in pixels, in update order."""
        return {
            name: np.array(counts, dtype=np.int64).reshape(len(counts), 2)
            for name, counts in self._image_counts.items()
        }

    def update(
        self, predictions: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]]
    ) -> None:
        label_groups = {name: [label] for name, label in self.class_labels.items()}
        label_groups[ANY_LESION] = list(self.class_labels.values())
        for pred_masks, scores, labels, gt_masks, gt_labels in _images(
            predictions, targets, self.mask_threshold
        ):
            confident = scores >= self.score_threshold
            pred_masks, labels = pred_masks[confident], labels[confident]
            counts = {}
            for name, group in label_groups.items():
                predicted = pred_masks[np.isin(labels, group)].any(axis=0)
                truth = gt_masks[np.isin(gt_labels, group)].any(axis=0)
                intersection = int(np.count_nonzero(predicted & truth))
                counts[name] = (intersection, int(np.count_nonzero(predicted)) + int(np.count_nonzero(truth)))
            self.add_counts(counts)

    def add_counts(self, counts: Mapping[str, tuple[int, int]]) -> None:
        """Accumulate one image given as :meth:`update` measures it (say, read back from a
        per-slice result file): class name (and ``ANY_LESION``) → (|P∩G|, |P| + |G|)."""
        if set(counts) != set(self._image_counts):
            raise ValueError(f"counts must name {sorted(self._image_counts)}, got {sorted(counts)}")
        for name, (intersection, size) in counts.items():
            intersection, size = int(intersection), int(size)
            if not 0 <= 2 * intersection <= size:
                raise ValueError(f"{name}: |P∩G| = {intersection} does not fit |P| + |G| = {size}")
            self._intersection[name] += intersection
            self._size[name] += size
            if size:
                self._image_dice[name].append(2.0 * intersection / size)
            self._image_counts[name].append((intersection, size))

    def aggregate(self) -> DiceResult:
        return DiceResult(
            dataset={
                name: 2.0 * self._intersection[name] / size if size else float("nan")
                for name, size in self._size.items()
            },
            mean_per_image={
                name: float(np.mean(values)) if values else float("nan")
                for name, values in self._image_dice.items()
            },
            images_counted={name: len(values) for name, values in self._image_dice.items()},
        )

    def bootstrap_ci(
        self, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
    ) -> dict[str, dict[str, ConfidenceInterval]]:
        """Bootstrap percentile intervals of both Dice values of every class, resampling the
        images.

        A resample draws as many images as were accumulated, with replacement (an image
        drawn k times counts k times), and computes ``dataset`` and ``mean_per_image`` as
        :meth:`aggregate` defines them; resamples where a value is undefined (every drawn
        mask empty) are left out of its quantiles. Arguments as
        :meth:`MaskAPMetric.bootstrap_ci`.

        Returns:
            ``"dataset"`` and ``"mean_per_image"`` → class name (and ``ANY_LESION``) → the
            interval around the :meth:`aggregate` value.
        """
        counts = self.image_counts
        picks = _image_resamples(len(counts[ANY_LESION]), n_resamples, confidence, seed)
        result = self.aggregate()
        intervals: dict[str, dict[str, ConfidenceInterval]] = {"dataset": {}, "mean_per_image": {}}
        for name, image_counts in counts.items():
            intersection, size = image_counts[picks, 0], image_counts[picks, 1]  # int[R, I]
            counted = size > 0
            image_dice = _safe_divide(2 * intersection, size)
            with np.errstate(invalid="ignore", divide="ignore"):
                dataset = 2.0 * intersection.sum(axis=1) / size.sum(axis=1)
                mean_per_image = image_dice.sum(axis=1) / counted.sum(axis=1)
            intervals["dataset"][name] = _percentile_interval(result.dataset[name], dataset, confidence)
            intervals["mean_per_image"][name] = _percentile_interval(
                result.mean_per_image[name], mean_per_image, confidence
            )
        return intervals
