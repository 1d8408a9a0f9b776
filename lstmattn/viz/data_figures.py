"""Chapter 1's tables and figures: the data sets (§4.1) and their segmentation labels (§3.1).

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so they render the
same in papermill, in tests and in scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image

from lstmattn.data.images import load_slice
from lstmattn.data.manifests import available_manifests, load_manifest
from lstmattn.data.phantom import DEFAULT_PHANTOM_CONFIG, PhantomConfig, generate_slice
from lstmattn.labels import IMAGE_CLASS_NAMES, LESION_NAMES, LUNG_LABEL
from lstmattn.viz.style import LABEL_COLOURS, hex_colour, label_colormap, label_rgba, legend_text

__all__ = ["manifest_table", "data_counts", "plot_segmentation_examples", "plot_phantom_gallery", "plot_phantom_beside_real"]


def manifest_table(names: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per split file of each data-set manifest in ``data_manifests/``: the
    expected slice count, the count per class and whether a SHA-256 is recorded."""
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


def data_counts(bundle: Any, class_names: Sequence[str] = IMAGE_CLASS_NAMES) -> pd.DataFrame:
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


def _grey(image: Any) -> np.ndarray:
    """The first channel of a ``[3, H, W]`` tensor or array (or an ``[H, W]`` one) as numpy."""
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    return array[0] if array.ndim == 3 else array


def plot_segmentation_examples(dataset: Any, n: int = 6, *, columns: int = 3, cell: float = 2.5, seed: int = 0) -> Figure:
    """``n`` slices of a segmentation dataset (real or phantom) with their instance masks
    (§3.1: label values 1 lungs, 2 GGO, 3 consolidation)."""
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
            overlay[mask > 0] = label_rgba(int(label))
        ax.imshow(grey, cmap="gray")
        ax.imshow(overlay)
        ax.set_title(target.get("file", str(index)), fontsize=7)
    fig.suptitle(f"segmentation slices: {legend_text(lungs=True)}", fontsize=9)
    return fig


def plot_phantom_gallery(
    n_per_class: int = 3,
    *,
    config: PhantomConfig = DEFAULT_PHANTOM_CONFIG,
    seed: int = 0,
    ax_size: float = 2.5,
) -> Figure:
    """Grid of synthetic phantoms (one row per image class, each from a different
    patient) with the lung outline and the GGO / consolidation masks overlaid."""
    lung = hex_colour(LABEL_COLOURS[LUNG_LABEL])
    lesions = label_colormap()
    fig = Figure(figsize=(ax_size * n_per_class, ax_size * len(IMAGE_CLASS_NAMES) + 0.8), layout="constrained")
    axes = fig.subplots(len(IMAGE_CLASS_NAMES), n_per_class, squeeze=False)
    for class_id, row in enumerate(axes):
        for j, ax in enumerate(row):
            s = generate_slice(class_id, j * config.slices_per_patient, config=config, seed=seed, split="test")
            ax.imshow(s.image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.imshow(s.label_map, cmap=lesions, vmin=0, vmax=lesions.N - 1, interpolation="nearest")
            ax.contour(s.label_map > 0, levels=[0.5], colors=lung, linewidths=0.6)
            ax.set_title(f"{IMAGE_CLASS_NAMES[class_id]} ({s.patient_id})", fontsize=9)
            ax.set_axis_off()
    handles = [
        Patch(facecolor="none", edgecolor=lung, label="lung field"),
        Patch(color=label_rgba(LESION_NAMES["GGO"]), label="ground-glass opacity"),
        Patch(color=label_rgba(LESION_NAMES["consolidation"]), label="consolidation"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    fig.suptitle("Synthetic CT phantoms (not patient data)")
    return fig


def plot_phantom_beside_real(
    real_slice: str | Path,
    *,
    config: PhantomConfig = DEFAULT_PHANTOM_CONFIG,
    seed: int = 0,
    class_id: int = 2,
) -> Figure:
    """A phantom slice beside a real CT slice (a COVIDx-CT PNG, 8-bit in the same window),
    at the phantom's size, and the grey-level histograms of both: how close the
    phantoms' window look (air, lung parenchyma, soft tissue, bone) comes to real data."""
    phantom = generate_slice(class_id, 0, config=config, seed=seed, split="test").image
    real = np.asarray(Image.fromarray(load_slice(real_slice)).resize(phantom.shape[::-1], Image.BILINEAR))
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    axes = fig.subplots(1, 3, width_ratios=(1, 1, 1.3))
    for ax, image, title in ((axes[0], phantom, f"phantom ({IMAGE_CLASS_NAMES[class_id]})"),
                             (axes[1], real, f"real: {Path(real_slice).name}")):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    bins = np.arange(257)
    for image, label in ((phantom, "phantom"), (real, "real")):
        axes[2].hist(image.ravel(), bins=bins, density=True, histtype="step", label=label)
    axes[2].set(xlabel="grey level (COVIDx window)", ylabel="share of pixels", yscale="log")
    axes[2].legend(fontsize=8, frameon=False)
    return fig
