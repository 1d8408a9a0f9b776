"""Synthetic chest-CT phantoms: the offline default data set of the companion.

The paper's data (COVIDx CT-1, the CNCB segmentation slices) cannot be downloaded in
every environment, so the package generates a deterministic stand-in: axial chest CT
slices in Hounsfield units with normal anatomy (:mod:`~lstmattn.data.phantom_anatomy`),
class-typical pneumonia lesions (:mod:`~lstmattn.data.phantom_lesions`), scanner blur
and noise, windowed to 8 bits exactly as COVIDx-CT does
(:func:`~lstmattn.data.windowing.hu_to_covidx_uint8`). :func:`write_phantom_dataset`
stores them in the real COVIDx and CNCB formats, so the real loaders read them.

These images are synthetic phantoms, not patient data; results on them say nothing
about clinical performance.

Example:
    >>> s = generate_slice(2, 0, config=PhantomConfig(image_size=128))
    >>> s.image.shape, s.image.dtype, s.class_id
    ((128, 128), dtype('uint8'), 2)
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from lstmattn.data.phantom_config import (
    CLASS_NAMES,
    DEFAULT_PHANTOM_CONFIG,
    PHANTOM_GENERATOR_VERSION,
    PhantomConfig,
)
from lstmattn.data.phantom_slice import (
    LABEL_CONSOLIDATION,
    LABEL_GGO,
    PhantomSlice,
    generate_slice,
    label_map_instances,
)
from lstmattn.data.phantom_writer import SEGMENTATION_CLASS_CYCLE, write_phantom_dataset

__all__ = [
    "CLASS_NAMES",
    "PHANTOM_GENERATOR_VERSION",
    "SEGMENTATION_CLASS_CYCLE",
    "PhantomConfig",
    "DEFAULT_PHANTOM_CONFIG",
    "PhantomSlice",
    "generate_slice",
    "label_map_instances",
    "write_phantom_dataset",
    "plot_phantom_gallery",
]

_GGO_RGBA = (1.0, 0.85, 0.0, 0.45)
_CONSOLIDATION_RGBA = (1.0, 0.1, 0.1, 0.55)
_LUNG_COLOUR = "deepskyblue"


def _overlay(label_map: np.ndarray) -> np.ndarray:
    """RGBA layer: GGO and consolidation in two translucent colours."""
    rgba = np.zeros((*label_map.shape, 4), dtype=np.float32)
    rgba[label_map == LABEL_GGO] = _GGO_RGBA
    rgba[label_map == LABEL_CONSOLIDATION] = _CONSOLIDATION_RGBA
    return rgba


def plot_phantom_gallery(
    n_per_class: int = 3,
    *,
    config: PhantomConfig = DEFAULT_PHANTOM_CONFIG,
    seed: int = 0,
    ax_size: float = 2.5,
) -> Figure:
    """Grid of phantoms (one row per class, each from a different patient) with the lung
    outline and the GGO / consolidation masks overlaid. Backend-independent (no pyplot)."""
    fig = Figure(figsize=(ax_size * n_per_class, ax_size * 3 + 0.8), layout="constrained")
    axes = fig.subplots(3, n_per_class, squeeze=False)
    for class_id, row in enumerate(axes):
        for j, ax in enumerate(row):
            s = generate_slice(class_id, j * config.slices_per_patient, config=config, seed=seed, split="test")
            ax.imshow(s.image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.imshow(_overlay(s.label_map), interpolation="nearest")
            ax.contour(s.label_map > 0, levels=[0.5], colors=_LUNG_COLOUR, linewidths=0.6)
            ax.set_title(f"{CLASS_NAMES[class_id]} ({s.patient_id})", fontsize=9)
            ax.set_axis_off()
    handles = [
        Patch(facecolor="none", edgecolor=_LUNG_COLOUR, label="lung field"),
        Patch(color=_GGO_RGBA, label="ground-glass opacity"),
        Patch(color=_CONSOLIDATION_RGBA, label="consolidation"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    fig.suptitle("Synthetic CT phantoms (not patient data)")
    return fig
