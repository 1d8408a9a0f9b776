"""Tests of lstmattn.metrics against scikit-learn, pycocotools and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from sklearn import metrics as skm

from lstmattn.metrics import (
    ANY_LESION,
    DEFAULT_IOU_THRESHOLDS,
    ConfusionMatrixMetric,
    DiceMetric,
    ImageMatches,
    MaskAPMetric,
    average_precision,
    bootstrap_ci,
    confusion_matrix,
    mask_iou,
    match_predictions,
)

# The authors' published COVIDx-CT test confusion matrix (rows true Control, CP, COVID-19).
PUBLISHED_CONFUSION = np.array([[9322, 123, 5], [174, 7139, 82], [27, 277, 4042]])


def labels_from_confusion(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) pairs whose confusion matrix is ``confusion``."""
    true, pred = np.indices(confusion.shape).reshape(2, -1)
    counts = confusion.ravel()
    return np.repeat(true, counts), np.repeat(pred, counts)


def noisy_predictions(num_classes: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.ones(num_classes) * 2)
    y_true = rng.choice(num_classes, size=size, p=shares)
    y_pred = np.where(rng.random(size) < 0.3, rng.integers(0, num_classes, size), y_true)
    return y_true, y_pred


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize("num_classes", [2, 3, 5])
def test_confusion_metrics_match_sklearn(num_classes):
    y_true, y_pred = noisy_predictions(num_classes, 997, seed=num_classes)
    metric = ConfusionMatrixMetric(num_classes)
    for batch in np.array_split(np.arange(len(y_true)), 7):
        metric.update(torch.from_numpy(y_true[batch]), y_pred[batch])
    report = metric.aggregate()
    labels = list(range(num_classes))

    def sk(fn, average):
        return fn(y_true, y_pred, labels=labels, average=average, zero_division=0)

    np.testing.assert_array_equal(
        report.confusion, skm.confusion_matrix(y_true, y_pred, labels=labels)
    )
    np.testing.assert_allclose(report.sensitivity, sk(skm.recall_score, None))
    np.testing.assert_allclose(report.precision, sk(skm.precision_score, None))
    np.testing.assert_allclose(report.f1, sk(skm.f1_score, None))
    shares = np.bincount(y_true, minlength=num_classes) / len(y_true)
    np.testing.assert_allclose(report.f1_weights, shares)
    scalars = report.scalars
    accuracy = skm.accuracy_score(y_true, y_pred)
    assert scalars["accuracy"] == pytest.approx(accuracy)
    assert scalars["f1"] == pytest.approx(sk(skm.f1_score, "weighted"))
    assert scalars["sensitivity"] == pytest.approx(sk(skm.recall_score, "weighted"))
    assert scalars["sensitivity"] == pytest.approx(accuracy)
    assert scalars["precision"] == pytest.approx(sk(skm.precision_score, "weighted"))
    assert scalars["sensitivity_macro"] == pytest.approx(sk(skm.recall_score, "macro"))
    assert scalars["precision_macro"] == pytest.approx(sk(skm.precision_score, "macro"))
    for index, name in enumerate(report.class_names):
        assert scalars[f"sensitivity/{name}"] == report.sensitivity[index]
        assert scalars[f"f1/{name}"] == report.f1[index]


@pytest.mark.parametrize(
    "y_true, y_pred",
    [([0, 0, 1, 1], [0, 1, 1, 1]), ([0, 1, 2, 2], [0, 0, 0, 1]), ([2, 2], [2, 2])],
    ids=["class-absent", "classes-never-predicted", "single-class"],
)
def test_zero_denominators_give_zero_like_sklearn(y_true, y_pred):
    metric = ConfusionMatrixMetric(3)
    metric.update(y_true, y_pred)
    report = metric.aggregate()
    labels = [0, 1, 2]
    for fn, ours in [
        (skm.recall_score, report.sensitivity),
        (skm.precision_score, report.precision),
        (skm.f1_score, report.f1),
    ]:
        expected = fn(y_true, y_pred, labels=labels, average=None, zero_division=0)
        np.testing.assert_allclose(ours, expected)
    assert report.scalars["f1"] == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    )


def test_hand_computed_case():
    metric = ConfusionMatrixMetric(3, f1_weights="paper")
    metric.update([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2])
    report = metric.aggregate()
    np.testing.assert_array_equal(report.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_allclose(report.sensitivity, [2 / 3, 1 / 2, 1])
    np.testing.assert_allclose(report.precision, [1, 1 / 2, 1 / 2])
    np.testing.assert_allclose(report.f1, [0.8, 0.5, 2 / 3])
    s = report.scalars
    assert s["f1"] == pytest.approx(0.45 * 0.8 + 0.35 * 0.5 + 0.20 * 2 / 3)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["sensitivity"] == pytest.approx(4 / 6)
    assert s["precision"] == pytest.approx(3 / 6 * 1 + 2 / 6 * 0.5 + 1 / 6 * 0.5)
    assert s["sensitivity_macro"] == pytest.approx(13 / 18)
    assert s["precision_macro"] == pytest.approx(2 / 3)

    support_weighted = ConfusionMatrixMetric(3)
    support_weighted.update([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2])
    assert support_weighted.aggregate().scalars["f1"] == pytest.approx(61 / 90)


def test_published_confusion_matrix_gives_published_f1():
    metric = ConfusionMatrixMetric(3, f1_weights="paper")
    metric.update(*labels_from_confusion(PUBLISHED_CONFUSION))
    report = metric.aggregate()
    np.testing.assert_array_equal(report.confusion, PUBLISHED_CONFUSION)
    assert round(100 * report.scalars["f1"], 2) == 96.76
    np.testing.assert_allclose(report.f1_weights, [0.45, 0.35, 0.20])


def test_update_accepts_scalars_and_class_scores():
    metric = ConfusionMatrixMetric(3)
    metric.update(torch.tensor(2), torch.tensor([0.1, -0.3, 0.9]))  # one image, model logits
    metric.update(1, 0)
    metric.update(np.array([0, 1]), torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]]))
    np.testing.assert_array_equal(metric.confusion, [[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    metric.reset()
    assert metric.confusion.sum() == 0


def test_two_classes_and_explicit_weights():
    metric = ConfusionMatrixMetric(2, class_names=("Negative", "COVID-19"), f1_weights=[9, 1])
    metric.update([0, 0, 0, 1, 1], [0, 0, 1, 1, 0])
    report = metric.aggregate()
    np.testing.assert_allclose(report.f1_weights, [0.9, 0.1])
    assert report.scalars["f1"] == pytest.approx(0.9 * report.f1[0] + 0.1 * report.f1[1])
    assert "sensitivity/COVID-19" in report.scalars
    assert ConfusionMatrixMetric(2).class_names == ("class 0", "class 1")


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 3.0}, "num_classes"),
        ({"num_classes": 2, "f1_weights": "paper"}, "f1_weights"),
        ({"f1_weights": "balanced"}, "f1_weights"),
        ({"f1_weights": [0.5, -0.1, 0.6]}, "f1_weights"),
        ({"f1_weights": [1, 1]}, "f1_weights"),
        ({"class_names": ("a", "b")}, "class_names"),
        ({"class_names": ("a", "a", "b")}, "class_names"),
    ],
)
def test_invalid_constructor_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        ConfusionMatrixMetric(**kwargs)


def test_invalid_labels_are_rejected():
    metric = ConfusionMatrixMetric(3)
    with pytest.raises(ValueError, match="y_pred"):
        metric.update([0, 1], [0, 3])
    with pytest.raises(ValueError, match="y_true"):
        metric.update([0.0, 1.0], [0, 1])
    with pytest.raises(ValueError, match="length"):
        confusion_matrix([0, 1], [0], num_classes=2)


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_deterministic_and_contains_estimates():
    y_true, y_pred = labels_from_confusion(PUBLISHED_CONFUSION)
    first = bootstrap_ci(y_true, y_pred, f1_weights="paper", seed=7)
    assert bootstrap_ci(y_true, y_pred, f1_weights="paper", seed=7) == first
    other_seed = bootstrap_ci(y_true, y_pred, f1_weights="paper", seed=8)
    assert other_seed["f1"].low != first["f1"].low
    assert first["f1"].estimate == pytest.approx(0.9676, abs=5e-5)
    assert len(first) == 6 + 3 * 3
    for name, interval in first.items():
        assert interval.low < interval.estimate < interval.high, name
        assert interval.confidence == 0.95


def test_bootstrap_width_matches_binomial_theory_and_narrows_with_more_data():
    y_true, y_pred = labels_from_confusion(PUBLISHED_CONFUSION)
    interval = bootstrap_ci(y_true, y_pred, "accuracy", n_resamples=4000)["accuracy"]
    p, n = interval.estimate, len(y_true)
    expected_width = 2 * 1.959964 * np.sqrt(p * (1 - p) / n)
    assert interval.high - interval.low == pytest.approx(expected_width, rel=0.1)

    small = bootstrap_ci(y_true[::16], y_pred[::16], ["accuracy", "f1"])
    for name, big in bootstrap_ci(y_true, y_pred, ["accuracy", "f1"]).items():
        assert big.high - big.low < 0.5 * (small[name].high - small[name].low), name


def test_bootstrap_of_custom_statistic_and_metric_method():
    y_true, y_pred = noisy_predictions(3, 500, seed=1)
    metric = ConfusionMatrixMetric(3)
    metric.update(y_true, y_pred)

    def covid_sensitivity(counts):
        return counts[..., 2, 2] / counts[..., 2, :].sum(axis=-1)

    custom = metric.bootstrap_ci({"covid": covid_sensitivity}, n_resamples=300, seed=3)["covid"]
    builtin = bootstrap_ci(y_true, y_pred, "sensitivity/COVID-19", n_resamples=300, seed=3)
    assert custom == builtin["sensitivity/COVID-19"]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"metrics": ["f2"]}, "metrics"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"confidence": 1.0}, "confidence"),
    ],
)
def test_bootstrap_rejects_invalid_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        bootstrap_ci([0, 1, 2], [0, 1, 1], **kwargs)


def test_bootstrap_needs_predictions():
    with pytest.raises(ValueError, match="update"):
        ConfusionMatrixMetric().bootstrap_ci()


# --------------------------------------------------------------------------- mask AP


def stripes(intervals, width: int = 60) -> np.ndarray:
    """1×width masks, one per [start, stop) interval: IoUs are ratios of lengths."""
    masks = np.zeros((len(intervals), 1, width), dtype=np.uint8)
    for mask, (start, stop) in zip(masks, intervals):
        mask[0, start:stop] = 1
    return masks


def image(pred_intervals, scores, pred_labels, gt_intervals, gt_labels, width: int = 60):
    prediction = {
        "masks": stripes(pred_intervals, width).astype(np.float32),
        "scores": np.asarray(scores, dtype=float),
        "labels": np.asarray(pred_labels, dtype=np.int64),
    }
    target = {
        "masks": stripes(gt_intervals, width),
        "labels": np.asarray(gt_labels, dtype=np.int64),
    }
    return prediction, target


def random_boxes_image(rng: np.random.Generator, size: int = 48):
    """Random rectangles: jittered copies of the ground truth, some mislabelled, plus noise."""

    def rectangle(y, x, h, w):
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[max(y, 0) : y + h, max(x, 0) : x + w] = 1
        return mask

    gt_masks, gt_labels, pred_masks, pred_labels = [], [], [], []
    for _ in range(rng.integers(1, 5)):
        y, x, h, w = rng.integers(0, size - 12, 2).tolist() + rng.integers(8, 20, 2).tolist()
        label = int(rng.integers(2, 4))
        gt_masks.append(rectangle(y, x, h, w))
        gt_labels.append(label)
        for _ in range(rng.integers(0, 3)):
            dy, dx, dh, dw = rng.integers(-2, 3, 4) * (rng.random() < 0.7)
            jittered = rectangle(y + dy, x + dx, h + dh, w + dw)
            pred_masks.append(jittered * (rng.random(jittered.shape) > rng.uniform(0, 0.1)))
            pred_labels.append(label if rng.random() < 0.85 else 5 - label)
    for _ in range(rng.integers(0, 3)):
        pred_masks.append(rectangle(*rng.integers(0, size - 8, 2), *rng.integers(4, 12, 2)))
        pred_labels.append(int(rng.integers(2, 4)))
    prediction = {
        "masks": np.array(pred_masks, dtype=np.uint8).reshape(-1, size, size),
        "scores": rng.permutation(len(pred_masks)) / len(pred_masks) + rng.uniform(0, 1e-3),
        "labels": np.array(pred_labels, dtype=np.int64),
    }
    return prediction, {"masks": np.array(gt_masks), "labels": np.array(gt_labels)}


def to_rle(mask: np.ndarray) -> dict:
    return coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))


def coco_evaluation(predictions, targets, iou_thresholds=None) -> COCOeval:
    """COCOeval (iouType='segm') of the same predictions via RLE masks, after evaluate()."""
    images, ground_truth, detections = [], [], []
    for image_id, (prediction, target) in enumerate(zip(predictions, targets), start=1):
        height, width = target["masks"].shape[-2:]
        images.append({"id": image_id, "height": height, "width": width})
        for mask, label in zip(target["masks"], target["labels"]):
            rle = to_rle(mask)
            ground_truth.append(
                {
                    "id": len(ground_truth) + 1,
                    "image_id": image_id,
                    "category_id": int(label),
                    "segmentation": rle,
                    "area": float(coco_mask.area(rle)),
                    "bbox": coco_mask.toBbox(rle).tolist(),
                    "iscrowd": 0,
                }
            )
        for mask, score, label in zip(
            prediction["masks"], prediction["scores"], prediction["labels"]
        ):
            detections.append(
                {
                    "image_id": image_id,
                    "category_id": int(label),
                    "segmentation": to_rle(mask),
                    "score": float(score),
                }
            )
    coco_gt = COCO()
    categories = sorted({int(a["category_id"]) for a in ground_truth + detections})
    coco_gt.dataset = {
        "images": images,
        "annotations": ground_truth,
        "categories": [{"id": c} for c in categories],
    }
    coco_gt.createIndex()
    evaluation = COCOeval(coco_gt, coco_gt.loadRes(detections), iouType="segm")
    if iou_thresholds is not None:
        evaluation.params.iouThrs = np.asarray(iou_thresholds)
    evaluation.evaluate()
    return evaluation


def test_mask_iou_matches_pycocotools():
    rng = np.random.default_rng(0)
    pred = rng.random((7, 20, 30)) < 0.3
    gt = rng.random((4, 20, 30)) < 0.5
    gt[0] = pred[3]  # one exact match
    coco = coco_mask.iou([to_rle(m) for m in pred], [to_rle(m) for m in gt], [0] * len(gt))
    ours = mask_iou(pred, gt)
    np.testing.assert_allclose(ours, coco, rtol=0, atol=1e-12)
    assert ours[3, 0] == 1.0
    assert mask_iou(pred[:0], gt).shape == (0, 4)


def test_average_precision_all_point_interpolation():
    assert average_precision(np.array([True, False, True]), 2) == pytest.approx(5 / 6)
    assert average_precision(np.array([False, True]), 1) == pytest.approx(0.5)
    assert average_precision(np.array([True, True]), 4) == pytest.approx(0.5)
    # precision 1/2 at recall 1/3 is lifted to the later 3/5 at recall 1
    assert average_precision(np.array([False, True, False, True, True]), 3) == pytest.approx(3 / 5)
    assert average_precision(np.array([], dtype=bool), 3) == 0.0


@pytest.mark.parametrize("aggregation", ["per_image", "dataset"])
@pytest.mark.parametrize("matching", ["greedy", "reference"])
def test_mask_ap_hand_case(aggregation, matching):
    # Ground truth [0, 10) and [20, 30). Predictions by score: exact copy of the first
    # (IoU 1), a false positive, and [20, 28) with IoU 0.8 against the second.
    prediction, target = image(
        [(0, 10), (40, 50), (20, 28)], [0.9, 0.8, 0.7], [2, 2, 2], [(0, 10), (20, 30)], [2, 2]
    )
    metric = MaskAPMetric(aggregation=aggregation, matching=matching)
    metric.update([prediction], [target])
    result = metric.aggregate()
    # IoU 0.8 is not strictly above 0.8: ranks T F T (AP 5/6) up to 0.75, T F F (AP 1/2) from 0.8 on
    expected = np.array([5 / 6] * 6 + [1 / 2] * 4)
    np.testing.assert_allclose(result.ap_per_threshold, expected)
    assert result.iou_thresholds == DEFAULT_IOU_THRESHOLDS
    assert result.ap50 == pytest.approx(5 / 6)
    assert result.ap75 == pytest.approx(5 / 6)
    assert result.ap == pytest.approx(0.7)
    assert result.num_images == 1
    if aggregation == "dataset":
        np.testing.assert_allclose(result.class_ap[2], expected)
    else:
        assert result.class_ap is None


def test_reference_matching_lets_one_prediction_take_two_ground_truths():
    # Overlapping ground truth [0, 10) and [0, 12); IoUs: P1 [0, 11) 0.909 / 0.917,
    # P2 [3, 13) 0.538 / 0.692.
    prediction, target = image([(0, 11), (3, 13)], [0.9, 0.8], [2, 2], [(0, 10), (0, 12)], [2, 2])
    iou = mask_iou(prediction["masks"][:, 0], target["masks"][:, 0])
    labels = np.array([2, 2])
    for threshold, matching, expected in [
        (0.5, "greedy", [True, True]),
        (0.5, "reference", [True, False]),
        (0.55, "greedy", [True, False]),
    ]:
        flags = match_predictions(iou, labels, labels, threshold, matching)
        np.testing.assert_array_equal(flags, expected)

    for matching, expected in [("greedy", [1.0, 0.5]), ("reference", [0.5, 0.5])]:
        metric = MaskAPMetric(iou_thresholds=(0.5, 0.55), matching=matching)
        metric.update([prediction], [target])
        np.testing.assert_allclose(metric.aggregate().ap_per_threshold, expected)


def test_labels_must_agree_for_a_match():
    prediction, target = image([(0, 10)], [0.9], [3], [(0, 10)], [2])
    iou = mask_iou(prediction["masks"][:, 0], target["masks"][:, 0])
    assert not match_predictions(iou, np.array([3]), np.array([2]), 0.5).any()


def test_per_image_empty_rules_and_dataset_pooling():
    images = [
        image([], [], [], [(0, 10)], [2]),  # ground truth, no prediction: 0
        image([(0, 10)], [0.9], [2], [], []),  # prediction, no ground truth: 0
        image([], [], [], [], []),  # neither: 1
        image([(5, 15)], [0.8], [2], [(5, 15)], [2]),  # perfect: 1
    ]
    predictions, targets = zip(*images)
    per_image = MaskAPMetric()
    per_image.update(predictions, targets)
    np.testing.assert_allclose(per_image.aggregate().ap_per_threshold, 0.5)

    # pooled class 2: the 0.9 false positive ranks above the 0.8 true positive; 2 GT
    dataset = MaskAPMetric(aggregation="dataset")
    dataset.update(predictions, targets)
    result = dataset.aggregate()
    assert result.ap == pytest.approx(0.25)
    assert list(result.class_ap) == [2]

    empty = MaskAPMetric(aggregation="dataset")
    empty.update([images[2][0]], [images[2][1]])
    assert np.isnan(empty.aggregate().ap)


def test_classes_option_drops_other_labels():
    # the lung prediction (label 1) is wrong; the lesions are perfect
    prediction, target = image(
        [(10, 35), (40, 50)], [0.9, 0.8], [1, 3], [(0, 20), (40, 50)], [1, 3]
    )
    everything = MaskAPMetric(iou_thresholds=(0.5,))
    everything.update([prediction], [target])
    assert everything.aggregate().ap == pytest.approx(0.25)  # ranks F T, 2 ground truths
    lesions = MaskAPMetric(iou_thresholds=(0.5,), classes=(2, 3))
    lesions.update([prediction], [target])
    assert lesions.aggregate().ap == 1.0


def test_torchvision_style_probabilities_are_thresholded():
    probabilities = torch.full((1, 1, 8, 8), 0.4)
    probabilities[0, 0, 2:5, 2:5] = 0.6
    gt = torch.zeros((1, 8, 8), dtype=torch.uint8)
    gt[0, 2:5, 2:5] = 1
    prediction = {
        "masks": probabilities,
        "scores": torch.tensor([0.9]),
        "labels": torch.tensor([2]),
    }
    target = {"masks": gt, "labels": torch.tensor([2])}
    for mask_threshold, expected_ap in [(0.5, 1.0), (0.3, 0.0)]:
        metric = MaskAPMetric(mask_threshold=mask_threshold)
        metric.update([prediction], [target])
        assert metric.aggregate().ap == expected_ap


def test_greedy_matching_agrees_with_pycocotools_on_random_masks():
    rng = np.random.default_rng(2021)
    predictions, targets = zip(*(random_boxes_image(rng) for _ in range(16)))
    # COCO matches IoU >= t, the authors' code IoU > t: shift COCO's thresholds by far less
    # than the distance from a threshold (k / 20) to any other IoU of 48×48 masks: 1 / (20 · 48²)
    evaluation = coco_evaluation(predictions, targets, np.array(DEFAULT_IOU_THRESHOLDS) + 1e-9)

    coco_true_positives = {t: set() for t in range(len(DEFAULT_IOU_THRESHOLDS))}
    for record in evaluation.evalImgs:
        if record is not None and record["aRng"] == evaluation.params.areaRng[0]:
            for t, matches in enumerate(record["dtMatches"]):
                coco_true_positives[t].update(np.asarray(record["dtIds"])[matches > 0].tolist())

    ours = {t: set() for t in range(len(DEFAULT_IOU_THRESHOLDS))}
    first_id = 1  # loadRes numbers detections from 1 in the order given
    for prediction, target in zip(predictions, targets):
        order = np.argsort(-prediction["scores"], kind="stable")
        iou = mask_iou(prediction["masks"][order], target["masks"])
        for row in iou:  # COCO breaks IoU ties towards the last ground truth, we the first
            candidates = row[row > 0.5]
            assert len(np.unique(candidates)) == len(candidates)
        for t, threshold in enumerate(DEFAULT_IOU_THRESHOLDS):
            flags = match_predictions(iou, prediction["labels"][order], target["labels"], threshold)
            ours[t].update((first_id + order[flags]).tolist())
        first_id += len(order)
    assert ours == coco_true_positives
    assert len(ours[0]) > len(ours[9]) > 0  # the thresholds did separate matches


def cell_masks(cells) -> np.ndarray:
    """6×6 squares in the given cells of a 4×4 grid of 8-pixel cells (32×32 image)."""
    masks = np.zeros((len(cells), 32, 32), dtype=np.uint8)
    for mask, cell in zip(masks, cells):
        row, col = divmod(int(cell), 4)
        mask[row * 8 : row * 8 + 6, col * 8 : col * 8 + 6] = 1
    return masks


@pytest.mark.parametrize("case", ["perfect", "disjoint", "alternating"])
def test_dataset_ap_agrees_with_pycocotools_where_interpolations_coincide(case):
    """Both interpolations agree when interpolated precision is constant over recall.

    "alternating": each instance has an exact copy and a false positive in an empty
    cell; per class, pooled over images, they rank FP, TP, FP, TP, ..., so precision is
    1/2 at every recall level and AP = 0.5 for VOC all-point and COCO 101-point alike.
    """
    rng = np.random.default_rng(5)
    next_rank = {2: 0, 3: 0}
    predictions, targets = [], []
    for _ in range(6):
        num_instances = int(rng.integers(1, 4))
        cells = rng.choice(16, size=2 * num_instances, replace=False)
        gt_cells, empty_cells = cells[:num_instances], cells[num_instances:]
        labels = rng.integers(2, 4, num_instances)
        ranks = []  # rank of each instance within its class, over all images
        for label in labels:
            ranks.append(next_rank[label])
            next_rank[label] += 1
        tp_scores = 1.0 - (2 * np.array(ranks) + 1) / 100
        fp_scores = 1.0 - (2 * np.array(ranks)) / 100
        pred_cells, pred_labels, scores = {
            "perfect": (gt_cells, labels, tp_scores),
            "disjoint": (empty_cells, labels, tp_scores),
            "alternating": (
                np.r_[gt_cells, empty_cells],
                np.r_[labels, labels],
                np.r_[tp_scores, fp_scores],
            ),
        }[case]
        prediction = {"masks": cell_masks(pred_cells), "scores": scores, "labels": pred_labels}
        predictions.append(prediction)
        targets.append({"masks": cell_masks(gt_cells), "labels": labels})
    expected = {"perfect": 1.0, "disjoint": 0.0, "alternating": 0.5}[case]

    metric = MaskAPMetric(aggregation="dataset")
    metric.update(predictions, targets)
    ours = metric.aggregate()
    evaluation = coco_evaluation(predictions, targets)
    evaluation.accumulate()
    evaluation.summarize()
    coco_stats = evaluation.stats
    assert ours.ap == pytest.approx(expected)
    assert [ours.ap, ours.ap50, ours.ap75] == pytest.approx(coco_stats[:3].tolist(), abs=1e-9)
    assert set(ours.class_ap) == {2, 3}


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"iou_thresholds": ()}, "iou_thresholds"),
        ({"iou_thresholds": (0.5, 1.0)}, "iou_thresholds"),
        ({"mask_threshold": 1.5}, "mask_threshold"),
        ({"aggregation": "coco"}, "aggregation"),
        ({"matching": "hungarian"}, "matching"),
        ({"classes": ()}, "classes"),
    ],
)
def test_mask_ap_rejects_invalid_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        MaskAPMetric(**kwargs)


def test_mask_ap_rejects_malformed_inputs():
    prediction, target = image([(0, 10)], [0.9], [2], [(0, 10)], [2])
    metric = MaskAPMetric()
    with pytest.raises(ValueError, match="targets"):
        metric.update([prediction], [target, target])
    with pytest.raises(ValueError, match="scores"):
        metric.update([{**prediction, "scores": np.array([0.9, 0.8])}], [target])
    with pytest.raises(ValueError, match="height and width"):
        metric.update([prediction] * 2, [target, {**target, "masks": target["masks"][:, :, :30]}])
    with pytest.raises(ValueError, match="update"):
        metric.aggregate()  # the valid first image of the failed batch was not kept
    with pytest.raises(ValueError, match="matching"):
        match_predictions(np.ones((1, 1)), np.array([2]), np.array([2]), 0.5, "hungarian")


# --------------------------------------------------------------------------- Dice


def test_dice_hand_case():
    # 1×20 image. GGO: truth [0, 4), predicted [2, 6) → Dice 2·2/8. Consolidation: truth
    # [10, 12), predicted only with score 0.3 (dropped) → Dice 0. Lungs (label 1) ignored.
    # Any lesion: truth {0-3, 10-11}, predicted {2-5} → 2·2/(6+4).
    prediction, target = image(
        [(2, 6), (10, 12), (0, 20)],
        [0.9, 0.3, 0.99],
        [2, 3, 1],
        [(0, 4), (10, 12), (0, 20)],
        [2, 3, 1],
        width=20,
    )
    metric = DiceMetric()
    metric.update([prediction], [target])
    result = metric.aggregate()
    assert result.dataset == pytest.approx({"GGO": 0.5, "consolidation": 0.0, ANY_LESION: 0.4})
    assert result.mean_per_image == result.dataset
    assert result.images_counted == {"GGO": 1, "consolidation": 1, ANY_LESION: 1}

    keep_all = DiceMetric(score_threshold=0.0)
    keep_all.update([prediction], [target])
    assert keep_all.aggregate().dataset["consolidation"] == 1.0


def test_dice_equals_pixel_f1_of_sklearn():
    rng = np.random.default_rng(4)
    predictions, targets = zip(*(random_boxes_image(rng) for _ in range(6)))
    predictions[0]["scores"][:] = 1.0  # keep every instance of the first image
    metric = DiceMetric(class_labels={"GGO": 2, "consolidation": 3}, score_threshold=0.4)
    metric.update(predictions, targets)
    result = metric.aggregate()

    for name, group in [("GGO", [2]), ("consolidation", [3]), (ANY_LESION, [2, 3])]:
        truths, predicted, per_image = [], [], []
        for prediction, target in zip(predictions, targets):
            kept = np.isin(prediction["labels"], group) & (prediction["scores"] >= 0.4)
            p = prediction["masks"][kept].any(axis=0).ravel()
            t = target["masks"][np.isin(target["labels"], group)].any(axis=0).ravel()
            truths.append(t)
            predicted.append(p)
            if p.any() or t.any():
                per_image.append(skm.f1_score(t, p))
        pooled_f1 = skm.f1_score(np.concatenate(truths), np.concatenate(predicted))
        assert result.dataset[name] == pytest.approx(pooled_f1)
        assert result.mean_per_image[name] == pytest.approx(np.mean(per_image))
        assert result.images_counted[name] == len(per_image)


def test_dice_skips_empty_images_in_the_mean():
    empty = image([], [], [], [], [], width=20)
    perfect = image([(0, 5)], [0.9], [2], [(0, 5)], [2], width=20)
    metric = DiceMetric(class_labels={"GGO": 2})
    metric.update([empty[0], perfect[0]], [empty[1], perfect[1]])
    result = metric.aggregate()
    assert result.mean_per_image["GGO"] == 1.0
    assert result.images_counted["GGO"] == 1
    metric.reset()
    metric.update([empty[0]], [empty[1]])
    assert np.isnan(metric.aggregate().dataset["GGO"])


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"class_labels": {}}, "class_labels"),
        ({"class_labels": {ANY_LESION: 2}}, "class_labels"),
        ({"score_threshold": -0.1}, "score_threshold"),
        ({"mask_threshold": 1.0}, "mask_threshold"),
    ],
)
def test_dice_rejects_invalid_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        DiceMetric(**kwargs)


# --------------------------------------------------------------------------- bootstrap over images (segmentation)


def lungs_and_lesions(count: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Random images whose first instance is a lung (label 1), with tied scores in some."""
    rng = np.random.default_rng(seed)
    predictions, targets = [], []
    for _ in range(count):
        prediction, target = random_boxes_image(rng)
        if len(prediction["labels"]) and len(target["labels"]) and rng.random() < 0.5:
            prediction["labels"][0], target["labels"][0] = 1, 1
        if len(prediction["scores"]) > 1 and rng.random() < 0.3:
            prediction["scores"][1] = prediction["scores"][0]
        predictions.append(prediction)
        targets.append(target)
    return predictions, targets


@pytest.mark.parametrize("aggregation", ["per_image", "dataset"])
def test_ap_bootstrap_of_identical_images_has_zero_width(aggregation):
    prediction, target = image([(0, 10), (40, 50), (20, 28)], [0.9, 0.8, 0.7], [2, 2, 2], [(0, 10), (20, 30)], [2, 2])
    metric = MaskAPMetric(aggregation=aggregation)
    metric.update([prediction] * 5, [target] * 5)
    result = metric.aggregate()
    intervals = metric.bootstrap_ci(n_resamples=50)
    assert list(intervals) == [f"AP@{t:g}" for t in DEFAULT_IOU_THRESHOLDS] + ["AP@[0.5:0.95]"]
    for name, expected in (("AP@0.5", result.ap50), ("AP@0.75", result.ap75), ("AP@[0.5:0.95]", result.ap)):
        assert intervals[name].estimate == expected
        assert intervals[name].low == pytest.approx(expected) and intervals[name].high == pytest.approx(expected)


@pytest.mark.parametrize("aggregation", ["per_image", "dataset"])
def test_ap_bootstrap_contains_the_estimate_and_is_seeded(aggregation):
    predictions, targets = lungs_and_lesions(24, seed=3)
    metric = MaskAPMetric(aggregation=aggregation)
    metric.update(predictions, targets)
    first = metric.bootstrap_ci(n_resamples=200, seed=5)
    assert metric.bootstrap_ci(n_resamples=200, seed=5) == first
    assert metric.bootstrap_ci(n_resamples=200, seed=6) != first
    for interval in first.values():
        assert interval.low <= interval.estimate <= interval.high and interval.low < interval.high
        assert interval.confidence == 0.95


@pytest.mark.parametrize("aggregation", ["per_image", "dataset"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_resampled_ap_is_the_ap_of_the_resampled_images(aggregation, seed):
    """A resample's AP is what the AP code gives for the drawn images: with one resample,
    both bounds are that AP, which a fresh metric updated with those images computes."""
    predictions, targets = lungs_and_lesions(12, seed=seed)
    metric = MaskAPMetric(aggregation=aggregation)
    metric.update(predictions, targets)
    drawn = np.sort(np.random.default_rng(seed).integers(12, size=12))  # the documented draw
    fresh = MaskAPMetric(aggregation=aggregation)
    fresh.update([predictions[i] for i in drawn], [targets[i] for i in drawn])
    single = metric.bootstrap_ci(n_resamples=1, seed=seed)
    expected = fresh.aggregate()
    assert (single["AP@0.5"].low, single["AP@0.75"].high, single["AP@[0.5:0.95]"].low) == (
        expected.ap50, expected.ap75, expected.ap)


@pytest.mark.parametrize("aggregation", ["per_image", "dataset"])
@pytest.mark.parametrize("matching", ["greedy", "reference"])
def test_matches_accumulated_again_give_the_same_ap_and_drop_other_labels(aggregation, matching):
    """Matches kept over all labels (a per-slice file's) rebuild every class scope's AP."""
    predictions, targets = lungs_and_lesions(16, seed=9)
    everything = MaskAPMetric(aggregation=aggregation, matching=matching)
    everything.update(predictions, targets)
    for classes in (None, (2, 3)):
        direct = MaskAPMetric(aggregation=aggregation, matching=matching, classes=classes)
        direct.update(predictions, targets)
        rebuilt = MaskAPMetric(aggregation=aggregation, matching=matching, classes=classes)
        for matches in everything.matches:
            rebuilt.add_matches(matches)
        np.testing.assert_array_equal(rebuilt.aggregate().ap_per_threshold, direct.aggregate().ap_per_threshold)
        assert rebuilt.bootstrap_ci(n_resamples=20) == direct.bootstrap_ci(n_resamples=20)


def test_image_matches_and_add_matches_reject_malformed_input():
    flags = np.zeros((2, 2), dtype=bool)
    with pytest.raises(ValueError, match="descending"):
        ImageMatches(np.array([0.1, 0.9]), np.array([2, 2]), flags, np.array([2]))
    with pytest.raises(ValueError, match="flags of shape"):
        ImageMatches(np.array([0.9, 0.1]), np.array([2, 2]), flags[:, :1], np.array([2]))
    with pytest.raises(ValueError, match="IoU thresholds"):
        MaskAPMetric().add_matches(ImageMatches(np.array([0.9, 0.1]), np.array([2, 2]), flags, np.array([2])))
    with pytest.raises(ValueError, match="update"):
        MaskAPMetric().bootstrap_ci()
    with pytest.raises(ValueError, match="n_resamples"):
        MaskAPMetric().bootstrap_ci(n_resamples=0)


def test_dice_bootstrap_zero_width_seeded_and_the_dice_of_the_resampled_images():
    prediction, target = image([(2, 6), (10, 12)], [0.9, 0.8], [2, 3], [(0, 4), (10, 14)], [2, 3], width=20)
    identical = DiceMetric()
    identical.update([prediction] * 4, [target] * 4)
    for kind, values in identical.bootstrap_ci(n_resamples=30).items():
        for name, interval in values.items():
            expected = getattr(identical.aggregate(), kind)[name]
            assert interval.estimate == expected and (interval.low, interval.high) == pytest.approx((expected, expected))

    predictions, targets = lungs_and_lesions(10, seed=4)
    metric = DiceMetric(score_threshold=0.3)
    metric.update(predictions, targets)
    intervals = metric.bootstrap_ci(n_resamples=200, seed=2)
    assert metric.bootstrap_ci(n_resamples=200, seed=2) == intervals != metric.bootstrap_ci(n_resamples=200, seed=3)
    for values in intervals.values():
        assert all(i.low <= i.estimate <= i.high for i in values.values())
    drawn = np.sort(np.random.default_rng(7).integers(10, size=10))
    fresh = DiceMetric(score_threshold=0.3)
    fresh.update([predictions[i] for i in drawn], [targets[i] for i in drawn])
    single = metric.bootstrap_ci(n_resamples=1, seed=7)
    for kind in ("dataset", "mean_per_image"):
        for name, value in getattr(fresh.aggregate(), kind).items():
            assert single[kind][name].low == pytest.approx(value, abs=1e-12)


def test_dice_counts_accumulated_again_give_the_same_dice():
    predictions, targets = lungs_and_lesions(8, seed=6)
    metric = DiceMetric()
    metric.update(predictions, targets)
    counts = metric.image_counts
    assert counts[ANY_LESION].shape == (8, 2)
    rebuilt = DiceMetric()
    for index in range(8):
        rebuilt.add_counts({name: tuple(values[index]) for name, values in counts.items()})
    assert rebuilt.aggregate() == metric.aggregate()
    with pytest.raises(ValueError, match="counts must name"):
        rebuilt.add_counts({"GGO": (1, 4)})
    with pytest.raises(ValueError, match="does not fit"):
        rebuilt.add_counts({name: (3, 4) for name in counts})
