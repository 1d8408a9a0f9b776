"""Chapter 3's lesion figure: slices of the segmentation test split, their ground-truth
lesions and the one-shot model's predicted lesions (§3.5: GGO and consolidation masks)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from lstmattn.engine.datasets import build_data
from lstmattn.engine.loading import load_trained_model, resolve_device
from lstmattn.engine.predict import SlicePrediction, predict_slices
from lstmattn.engine.runs import RunDirectory
from lstmattn.labels import LESION_LABELS, class_names_for
from lstmattn.viz.style import label_colormap, legend_text

__all__ = ["SegmentationExample", "lesion_truth_map", "segmentation_examples", "plot_segmentation_predictions"]


class SegmentationExample(NamedTuple):
    """One slice's prediction and its ground truth, ``uint8[H, W]`` with 2 GGO / 3
    consolidation (like ``prediction.lesion_map``)."""

    prediction: SlicePrediction
    truth: np.ndarray


def lesion_truth_map(target: dict[str, Any], size: tuple[int, int]) -> np.ndarray:
    """The lesion label map of a segmentation target's instance masks: ``uint8[H, W]``,
    2 where any GGO mask is on, 3 where any consolidation mask is on (painted last)."""
    truth = np.zeros(size, dtype=np.uint8)
    for label in LESION_LABELS:
        selected = target["masks"][target["labels"] == label]
        if len(selected):
            truth[selected.bool().any(0).numpy()] = label
    return truth


def _run_model_and_data(run: RunDirectory, device: torch.device) -> tuple[nn.Module, Any]:
    config = run.config()
    recorded_root = (run.record().get("data") or {}).get("root")
    if config.data.root is None and config.data.source == "phantom" and recorded_root and Path(recorded_root).is_dir():
        config = replace(config, data=replace(config.data, root=recorded_root))  # reuse the run's phantom cache
    return load_trained_model(run, device=device), build_data(config, progress=False).segmentation_test


def segmentation_examples(
    run_or_model: RunDirectory | str | Path | nn.Module,
    n: int = 3,
    *,
    dataset: Any = None,
    device: str | torch.device | None = None,
    score_threshold: float = 0.5,
) -> list[SegmentationExample]:
    """The first ``n`` slices of a segmentation test split with the model's predictions.

    ``run_or_model``: a run folder (the checkpoint it evaluates and, unless ``dataset`` is
    given, its segmentation test split) or a model (then ``dataset`` is required).
    ``device``: a run's model is loaded there (default CUDA when present); a model stays
    where it is unless ``device`` is given.
    """
    if isinstance(run_or_model, nn.Module):
        if dataset is None:
            raise ValueError("segmentation_examples: a model needs a dataset (a run folder brings its own)")
        device_ = torch.device(device) if device else next(run_or_model.parameters()).device
        model = run_or_model.to(device_)
    else:
        device_ = resolve_device(device)
        run = run_or_model if isinstance(run_or_model, RunDirectory) else RunDirectory(Path(run_or_model))
        model, run_dataset = _run_model_and_data(run, device_)
        dataset = run_dataset if dataset is None else dataset
    arrays, truths = [], []
    for index in range(min(n, len(dataset))):
        image, target = dataset[index]
        arrays.append((image[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy())
        truths.append(lesion_truth_map(target, arrays[-1].shape))
    names = class_names_for(int(model.config.num_image_classes))
    predictions = predict_slices(model, arrays, class_names=names, score_threshold=score_threshold, device=device_)
    return [SegmentationExample(prediction, truth) for prediction, truth in zip(predictions, truths)]


def plot_segmentation_predictions(examples: Sequence[SegmentationExample], *, cell: float = 2.5) -> Figure:
    """One row per example: the slice, its ground-truth lesions and the one-shot
    prediction's lesions (titled with the predicted image class)."""
    lesions = label_colormap()
    fig = Figure(figsize=(3 * cell, cell * len(examples) + 0.4), layout="constrained")
    axes = fig.subplots(len(examples), 3, squeeze=False)
    for row, (prediction, truth) in zip(axes, examples):
        panels = (("slice", None), ("ground truth", truth), (f"one-shot prediction ({prediction.predicted_class})", prediction.lesion_map))
        for ax, (title, lesion_map) in zip(row, panels):
            ax.imshow(prediction.image, cmap="gray")
            if lesion_map is not None:
                ax.imshow(lesion_map, cmap=lesions, vmin=0, vmax=lesions.N - 1, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
    fig.suptitle(f"lesions: {legend_text()}", fontsize=9)
    return fig
