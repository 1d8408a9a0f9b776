"""Tables and figures of the book's chapters 1, 2 and 6 (the chapters only call these).

* :func:`manifest_table`, :func:`data_counts`: chapter 1's data tables;
* :func:`trace_shapes`, :func:`parameter_table`, :func:`plot_roi_sequence`: chapter 2's
  walk through the architecture on one slice;
* :func:`attention_example`, :func:`plot_attention_slice`, :func:`gallery_indices`,
  :func:`gallery_table`: chapter 6's α gallery.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so they render
the same in papermill, in tests and in scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor, nn

__all__ = [
    "manifest_table",
    "data_counts",
    "plot_segmentation_examples",
    "ShapeTrace",
    "trace_shapes",
    "parameter_table",
    "plot_roi_sequence",
    "attention_example",
    "plot_attention_slice",
    "gallery_indices",
    "gallery_table",
]

POSITIVE_COLOUR = "#d62728"
NEGATIVE_COLOUR = "#1f77b4"


# ------------------------------------------------------------------ chapter 1
def manifest_table(names: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per split file of each data-set manifest in ``data_manifests/``: the
    expected slice count, the count per class and whether a SHA-256 is recorded."""
    from lstmattn.data.manifests import available_manifests, load_manifest

    rows = []
    for name in names or available_manifests():
        manifest = load_manifest(name)
        for key, split in manifest.splits.items():
            per_class = split.per_class or {}
            classes = "; ".join(f"{manifest.classes.get(c, c)} {n:,}" for c, n in sorted(per_class.items()))
            rows.append(
                {
                    "data set": manifest.name,
                    "split": key,
                    "file": split.file,
                    "slices": split.lines,
                    "per class": classes or "–",
                    "hash recorded": "yes" if split.sha256 else "no",
                    "required": "yes" if split.required else "optional",
                }
            )
    return pd.DataFrame(rows)


def _class_counts(dataset: Any, class_names: Sequence[str]) -> dict[str, int]:
    records = getattr(dataset, "records", None)
    if records is None or not records or not hasattr(records[0], "label"):
        return {}
    labels = [int(r.label) for r in records]
    return {name: labels.count(i) for i, name in enumerate(class_names)}


def data_counts(bundle: Any, class_names: Sequence[str] = ("Normal", "CP", "COVID-19")) -> pd.DataFrame:
    """Slices per split (and per class for classification) of a :class:`DataBundle`."""
    rows = []
    splits = {
        "classification train": bundle.classification_train,
        "classification val": bundle.classification_val,
        "classification test": bundle.classification_test,
        **{f"classification {k}": v for k, v in bundle.extra_classification.items()},
        "segmentation train": bundle.segmentation_train,
        "segmentation test": bundle.segmentation_test,
    }
    for name, dataset in splits.items():
        row: dict[str, Any] = {"split": name, "slices": len(dataset)}
        row.update(_class_counts(dataset, class_names))
        rows.append(row)
    return pd.DataFrame(rows).fillna("–")


_LABEL_COLOURS = {1: (0.0, 0.75, 1.0, 0.25), 2: (1.0, 0.85, 0.0, 0.45), 3: (1.0, 0.1, 0.1, 0.55)}


def plot_segmentation_examples(dataset: Any, n: int = 6, *, columns: int = 3, cell: float = 2.5, seed: int = 0) -> Figure:
    """``n`` slices of a segmentation dataset (real or phantom) with their instance masks:
    lungs blue, GGO yellow, consolidation red (label values 1, 2, 3)."""
    rng = np.random.default_rng(seed)
    indices = sorted(rng.choice(len(dataset), size=min(n, len(dataset)), replace=False).tolist())
    rows = int(np.ceil(len(indices) / columns))
    fig = Figure(figsize=(cell * columns, cell * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, index in zip(axes.flat, indices):
        image, target = dataset[index]
        grey = _grey(image)
        overlay = np.zeros((*grey.shape, 4), dtype=np.float32)
        for label, mask in zip(target["labels"].tolist(), target["masks"].numpy()):
            overlay[mask > 0] = _LABEL_COLOURS.get(int(label), (1, 1, 1, 0.3))
        ax.imshow(grey, cmap="gray")
        ax.imshow(overlay)
        ax.set_title(target.get("file", str(index)), fontsize=7)
    fig.suptitle("segmentation slices: lungs (blue), GGO (yellow), consolidation (red)", fontsize=9)
    return fig


# ------------------------------------------------------------------ chapter 2
@dataclass
class ShapeTrace:
    """Every intermediate tensor of one forward pass through the classification path."""

    table: pd.DataFrame
    image: Tensor  # the model input, FloatTensor[3, H, W] in [0, 1]
    proposals: Tensor  # FloatTensor[P, 4], model-input pixels
    rois: Any  # lstmattn.model.roi_classification.RoISequence
    alpha_positive: Tensor  # FloatTensor[β]
    alpha_negative: Tensor  # FloatTensor[β]
    delta: Tensor  # FloatTensor[K]


def _shape(tensor: Tensor) -> str:
    return " × ".join(str(s) for s in tensor.shape)


@torch.no_grad()
def trace_shapes(model: nn.Module, image: Tensor) -> ShapeTrace:
    """Run ``image`` through the one-shot model stage by stage (§3.3-3.8) and record the
    shape at each stage. The stages call the model's own modules in the order of
    :meth:`OneShotLSTMAttention.classify`, so the final Δ equals the model's output."""
    from lstmattn.model.attention import attend

    model.eval()
    device = next(model.parameters()).device
    image = image.to(device)
    rows: list[dict[str, str]] = []

    def add(stage: str, section: str, tensor: Tensor, what: str) -> None:
        rows.append({"stage": stage, "paper": section, "shape": _shape(tensor), "what": what})

    add("input slice", "§3.1", image, "3 identical grey channels in [0, 1]")
    image_list, _ = model.transform([image])
    add("standardised batch", "§3.2", image_list.tensors, "resized to the profile's image size, zero mean / unit std")
    features = model.backbone(image_list.tensors)
    for name, feature in features.items():
        add(f"FPN map '{name}'", "§3.3", feature, "backbone + FPN feature map (C channels)")
    proposals = model.rpn.propose(image_list, features)
    add("RPN proposals", "§3.4", proposals[0], "boxes (x1, y1, x2, y2) after NMS")
    rois = model.roi_classification(features, proposals, image_list.image_sizes)
    add("RoI boxes", "§3.6", rois.boxes[0], "β boxes after class-wise NMS, padded to β")
    add("RoI sequence X", "§3.6", rois.features[0], "β × C × 28 × 28 mask features")
    attention = model.attention
    flat = rois.features.flatten(0, 1)
    sieved = attention.sieve(flat)
    add("after the mask sieve", "§3.7.1", sieved, "same shape: Conv → BN → ConvT → ReLU, N times")
    vectors = attention.vectoriser(sieved)
    add("vectorised sequence", "§3.7.1", vectors, "β × C: 2×2/2 → 2×2/2 → 7×7 convolutions")
    sequence = vectors.view(1, rois.features.shape[1], -1)
    outputs = {}
    for branch, label in ((attention.positive, "POS"), (attention.negative, "NEG")):
        hidden, (last, _) = branch.lstm(sequence)
        z = branch.linear(last[-1])
        o_prime, alpha = attend(hidden, z)
        outputs[label] = (o_prime, alpha)
        add(f"LSTM states H ({label})", "Eq. 1, 3", hidden[0], "one hidden state per RoI")
        add(f"z ({label})", "Eq. 2", z[0], "Linear(h_β)")
        add(f"α ({label})", "Eq. 4-5", alpha[0], "softmax over the β positions")
        add(f"o' ({label})", "Eq. 6-7", o_prime[0], "z + Σ α_k h_k")
    positive = model.positive_head(outputs["POS"][0])
    negative = model.negative_head(outputs["NEG"][0])
    add("h(x_POS), h(x_NEG)", "§3.8", positive[0], "class logits of each image classification module")
    delta = (positive - negative)[0]
    add("Δ = h(x_POS) − h(x_NEG)", "Eq. 9", delta, "σ(Δ) is the per-class score")
    return ShapeTrace(
        table=pd.DataFrame(rows),
        image=image.cpu(),
        proposals=proposals[0].cpu(),
        rois=rois,
        alpha_positive=outputs["POS"][1][0].cpu(),
        alpha_negative=outputs["NEG"][1][0].cpu(),
        delta=delta.cpu(),
    )


def _count(module: nn.Module | Iterable[nn.Module]) -> tuple[int, int]:
    modules = [module] if isinstance(module, nn.Module) else list(module)
    parameters = {id(p): p for m in modules for p in m.parameters()}.values()
    return sum(p.numel() for p in parameters), sum(p.numel() for p in parameters if p.requires_grad)


def parameter_table(model: nn.Module) -> pd.DataFrame:
    """Parameters per component of the one-shot model (Figure 1), with a total row.
    ``trainable`` excludes frozen tensors (the RoI classification branch is a copy)."""
    heads = model.roi_heads
    components: list[tuple[str, str, Any]] = [
        ("backbone (ResNet/ResNeXt body)", "§3.3", model.backbone.body),
        ("feature pyramid network", "§3.3", model.backbone.fpn),
        ("region proposal network", "§3.4", model.rpn),
        ("box head + predictor (segmentation)", "§3.5", [heads.box_head, heads.box_predictor]),
        ("mask head + predictor (segmentation)", "§3.5", [heads.mask_head, heads.mask_predictor]),
        ("RoI classification branch (frozen copy)", "§3.6", model.roi_classification),
        ("mask sieve", "§3.7.1", model.attention.sieve),
        ("RoI vectoriser", "§3.7.1", model.attention.vectoriser),
        ("LSTM + attention, positive", "§3.7.2", model.attention.positive),
        ("LSTM + attention, negative", "§3.7.2", model.attention.negative),
        ("image classification module, positive", "§3.8", model.positive_head),
        ("image classification module, negative", "§3.8", model.negative_head),
    ]
    rows = []
    for name, section, module in components:
        total, trainable = _count(module)
        rows.append({"component": name, "paper": section, "parameters": total, "trainable": trainable})
    total, trainable = _count(model)
    covered = sum(r["parameters"] for r in rows)
    if covered != total:
        rows.append({"component": "other", "paper": "", "parameters": total - covered, "trainable": 0})
    rows.append({"component": "whole model", "paper": "Fig. 1", "parameters": total, "trainable": trainable})
    return pd.DataFrame(rows)


def _grey(image: Tensor | np.ndarray) -> np.ndarray:
    array = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    return array[0] if array.ndim == 3 else array


def plot_roi_sequence(trace: ShapeTrace, *, columns: int = 8, cell: float = 1.3) -> Figure:
    """The β RoIs of :func:`trace_shapes` in sequence order: their boxes on the slice,
    then each RoI's 28×28 mask features (mean over C) titled with α_POS / α_NEG."""
    beta = trace.rois.features.shape[1]
    rows = int(np.ceil(beta / columns))
    fig = Figure(figsize=(cell * columns, cell * (rows + 3.2)), layout="constrained")
    grid = fig.add_gridspec(rows + 3, columns)
    ax = fig.add_subplot(grid[:3, : columns // 2])
    ax.imshow(_grey(trace.image), cmap="gray")
    for k, box in enumerate(trace.rois.boxes[0].cpu().numpy()):
        x1, y1, x2, y2 = box
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=0.8, color="yellow"))
        ax.text(x1, y1, str(k + 1), color="yellow", fontsize=6, va="bottom")
    ax.set_title(f"β = {beta} RoI boxes (numbered in sequence order)", fontsize=8)
    ax.set_axis_off()
    bar = fig.add_subplot(grid[:3, columns // 2:])
    positions = np.arange(1, beta + 1)
    bar.bar(positions - 0.2, trace.alpha_positive.numpy(), width=0.4, color=POSITIVE_COLOUR, label="α POS")
    bar.bar(positions + 0.2, trace.alpha_negative.numpy(), width=0.4, color=NEGATIVE_COLOUR, label="α NEG")
    bar.set_xlabel("position in the RoI sequence", fontsize=8)
    bar.set_ylabel("α", fontsize=8)
    bar.legend(fontsize=7)
    bar.tick_params(labelsize=7)
    maps = trace.rois.features[0].mean(dim=1).cpu().numpy()
    for k in range(beta):
        cell_ax = fig.add_subplot(grid[3 + k // columns, k % columns])
        cell_ax.imshow(maps[k], cmap="viridis")
        cell_ax.set_title(f"{k + 1}: {trace.alpha_positive[k]:.2f}/{trace.alpha_negative[k]:.2f}", fontsize=6)
        cell_ax.set_axis_off()
    return fig


# ------------------------------------------------------------------ chapter 6
@torch.no_grad()
def attention_example(model: nn.Module, dataset: Any, index: int, *, class_names: Sequence[str] = ("Normal", "CP", "COVID-19")) -> dict[str, Any]:
    """The model's prediction and attention for slice ``index`` of ``dataset``."""
    image, target = dataset[index]
    device = next(model.parameters()).device
    model.eval()
    output = model([image.to(device)])[0]
    attention = {k: (v.cpu() if isinstance(v, Tensor) else v) for k, v in output["attention"].items()}
    return {
        "index": index,
        "file": target.get("file", str(index)),
        "image": image,
        "label": int(target["image_label"]),
        "label_name": class_names[int(target["image_label"])],
        "predicted": int(output["predicted_class"]),
        "predicted_name": class_names[int(output["predicted_class"])],
        "probs": output["class_probs"].cpu(),
        "attention": attention,
    }


def _draw_weighted_boxes(ax: Any, boxes: np.ndarray, alpha: np.ndarray, colour: str) -> None:
    peak = float(alpha.max()) if alpha.size else 1.0
    for box, weight in sorted(zip(boxes, alpha), key=lambda item: item[1]):
        x1, y1, x2, y2 = box
        strength = float(weight) / peak if peak > 0 else 0.0
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=True, facecolor=colour,
                               alpha=0.35 * strength, edgecolor=colour, lw=0.4 + 2.0 * strength))


def plot_attention_slice(examples: Sequence[Mapping[str, Any]], *, row_height: float = 2.4, phantom: bool = True) -> Figure:
    """One row per example: the slice with its β RoI boxes shaded by α_POS, the same by
    α_NEG, and α along the sequence for both branches (bars)."""
    fig = Figure(figsize=(3 * row_height + 1.5, row_height * len(examples) + 0.6), layout="constrained")
    axes = fig.subplots(len(examples), 3, squeeze=False, width_ratios=[1, 1, 1.5])
    for row, example in zip(axes, examples):
        attention = example["attention"]
        boxes = np.asarray(attention["roi_boxes"], dtype=float)
        alpha_pos = np.asarray(attention["alpha_pos"], dtype=float)
        alpha_neg = np.asarray(attention["alpha_neg"], dtype=float)
        for ax, alpha, colour, name in ((row[0], alpha_pos, POSITIVE_COLOUR, "α POS"), (row[1], alpha_neg, NEGATIVE_COLOUR, "α NEG")):
            ax.imshow(_grey(example["image"]), cmap="gray")
            _draw_weighted_boxes(ax, boxes, alpha, colour)
            ax.set_axis_off()
            ax.set_title(f"{name}", fontsize=8)
        row[0].text(0.0, -0.06, f"{example['file']}\ntrue {example['label_name']} · predicted {example['predicted_name']}",
                    transform=row[0].transAxes, fontsize=6.5, va="top")
        positions = np.arange(1, len(alpha_pos) + 1)
        row[2].bar(positions - 0.2, alpha_pos, width=0.4, color=POSITIVE_COLOUR, label="α POS")
        row[2].bar(positions + 0.2, alpha_neg, width=0.4, color=NEGATIVE_COLOUR, label="α NEG")
        row[2].axhline(1 / len(alpha_pos), color="grey", lw=0.6, ls="--", label="uniform 1/β")
        row[2].set_xlabel(f"RoI sequence position ({attention.get('order', '?')} order)", fontsize=7)
        row[2].tick_params(labelsize=6)
        row[2].set_ylim(0, 1.3 * max(alpha_pos.max(), alpha_neg.max(), 1 / len(alpha_pos)))
        row[2].legend(fontsize=6, loc="upper center", ncols=3, frameon=False)
    if phantom:
        fig.suptitle("Synthetic CT phantoms (not patient data): α of a model trained on phantoms", fontsize=9)
    return fig


def gallery_indices(dataset: Any, per_class: int = 3, *, num_classes: int = 3, seed: int = 0) -> list[int]:
    """``per_class`` slice indices of each class of a classification dataset, drawn with
    ``seed`` (deterministic), class by class. Labels come from ``dataset.records[i].label``
    when the data set has records, else from each item's ``image_label``."""
    records = getattr(dataset, "records", None)
    if records is not None and all(hasattr(r, "label") for r in records):
        labels = np.array([int(r.label) for r in records])
    else:
        labels = np.array([int(dataset[i][1]["image_label"]) for i in range(len(dataset))])
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for label in range(num_classes):
        candidates = np.flatnonzero(labels == label)
        if candidates.size:
            chosen += sorted(rng.choice(candidates, size=min(per_class, candidates.size), replace=False).tolist())
    return chosen


def gallery_table(examples: Sequence[Mapping[str, Any]], predictions_csv: str | Path,
                  class_names: Sequence[str] = ("Normal", "CP", "COVID-19")) -> pd.DataFrame:
    """The gallery's slices as the run's result file ``<split>_predictions.csv`` records
    them (true class, predicted class, σ(Δ) per class), plus the α peak of each branch."""
    predictions = pd.read_csv(predictions_csv).set_index("file")
    rows = []
    for example in examples:
        record = predictions.loc[example["file"]]
        row = {
            "file": example["file"],
            "true class": class_names[int(record["label"])],
            "predicted": class_names[int(record["predicted"])],
        }
        row.update({f"σ(Δ) {name}": float(record[f"prob_{name}"]) for name in class_names})
        row["max α POS"] = float(np.max(np.asarray(example["attention"]["alpha_pos"])))
        row["max α NEG"] = float(np.max(np.asarray(example["attention"]["alpha_neg"])))
        rows.append(row)
    return pd.DataFrame(rows)
