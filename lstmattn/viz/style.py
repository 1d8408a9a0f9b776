"""Every colour of the package's figures, overlays and viewers, defined once.

* Segmentation labels (§3.1; names in :mod:`lstmattn.labels`): lungs blue, GGO yellow,
  consolidation red, each with the opacity it is blended with over a grey slice.
* The two attention branches (§3.7.2, Eq. 5): x_POS cyan, x_NEG magenta. Cyan and magenta
  stay distinct from the yellow/red lesions and from grey, so α-weighted RoI boxes read
  on top of a lesion overlay; the same pair is used by the matplotlib figures, the
  overlay PNGs of ``lstmattn predict``, the live explorer and the static viewer.

Colours are RGB tuples of ``0-255`` integers; :func:`rgba8` (PIL), :func:`rgba`
(matplotlib, ``0-1`` floats) and :func:`hex_colour` (HTML, matplotlib) convert them.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from matplotlib.colors import ListedColormap

from lstmattn.labels import LESION_NAMES, LUNG_LABEL, SEGMENTATION_NAMES

__all__ = [
    "RGB",
    "LABEL_COLOURS",
    "LABEL_OPACITY",
    "BRANCH_COLOURS",
    "ROI_COLOUR",
    "FEATURE_COLORMAP",
    "DIAGRAM_COLOURS",
    "rgba",
    "rgba8",
    "hex_colour",
    "branch_hex",
    "label_rgba",
    "label_rgba8",
    "label_colormap",
    "legend_text",
]

RGB = tuple[int, int, int]

LABEL_COLOURS: Mapping[int, RGB] = MappingProxyType(
    {
        LUNG_LABEL: (0, 191, 255),  # lungs: deep sky blue
        LESION_NAMES["GGO"]: (255, 215, 0),  # GGO: gold
        LESION_NAMES["consolidation"]: (230, 30, 30),  # consolidation: red
    }
)
"""Segmentation label → RGB colour."""

LABEL_OPACITY: Mapping[int, float] = MappingProxyType(
    {LUNG_LABEL: 0.25, LESION_NAMES["GGO"]: 0.45, LESION_NAMES["consolidation"]: 0.6}
)
"""Segmentation label → opacity of its fill over a grey slice."""

BRANCH_COLOURS: Mapping[str, RGB] = MappingProxyType({"positive": (0, 200, 255), "negative": (255, 60, 220)})
"""Attention branch (``"positive"`` x_POS, ``"negative"`` x_NEG) → RGB colour."""

ROI_COLOUR: RGB = (255, 255, 0)
"""RoI boxes drawn without attention weights (chapter 2's RoI sequence), yellow."""

FEATURE_COLORMAP = "magma"
"""matplotlib colour map of RoI mask-feature images (§3.6)."""

DIAGRAM_COLOURS: Mapping[str, str] = MappingProxyType({
    "shared fill": "#f2f2f2", "shared edge": "#555555",
    "segmentation fill": "#efe6f7", "segmentation edge": "#7b3fa8",
    "classification fill": "#e6f4e6", "classification edge": "#2e7d32",
    "loss fill": "#ffffff", "loss edge": "#222222",
    "ink": "#333333", "code": "#444444", "frame": "#888888", "weight copy": "#d62728",
})
"""Colours of the redrawn Figure 1 (:mod:`lstmattn.viz.architecture`), ``#rrggbb``: as in
the paper's figure the segmentation branch purple and the classification branch green;
arrows and module names in greys, the weight-copy arrow red."""


def rgba(colour: RGB, opacity: float = 1.0) -> tuple[float, float, float, float]:
    """``colour`` with ``opacity`` as matplotlib's ``0-1`` RGBA floats."""
    return (colour[0] / 255, colour[1] / 255, colour[2] / 255, float(opacity))


def rgba8(colour: RGB, opacity: float = 1.0) -> tuple[int, int, int, int]:
    """``colour`` with ``opacity`` as PIL's ``0-255`` RGBA integers."""
    return (*colour, round(255 * opacity))


def hex_colour(colour: RGB) -> str:
    """``#rrggbb`` of an RGB colour."""
    return "#{:02x}{:02x}{:02x}".format(*colour)


def branch_hex(branch: str) -> str:
    """``#rrggbb`` of an attention branch (``"positive"`` or ``"negative"``)."""
    return hex_colour(BRANCH_COLOURS[branch])


def label_rgba(label: int) -> tuple[float, float, float, float]:
    """matplotlib RGBA fill of a segmentation label (transparent for background/unknown)."""
    return rgba(LABEL_COLOURS[label], LABEL_OPACITY[label]) if label in LABEL_COLOURS else (0.0, 0.0, 0.0, 0.0)


def label_rgba8(label: int) -> tuple[int, int, int, int]:
    """PIL RGBA fill of a segmentation label (transparent for background/unknown)."""
    return rgba8(LABEL_COLOURS[label], LABEL_OPACITY[label]) if label in LABEL_COLOURS else (0, 0, 0, 0)


def label_colormap(*, lungs: bool = False) -> ListedColormap:
    """A colour map for label maps (``imshow(label_map, cmap=..., vmin=0, vmax=3,
    interpolation="nearest")``): background transparent, GGO and consolidation in their
    colours, lungs too when ``lungs`` (else transparent)."""
    top = max(SEGMENTATION_NAMES)
    colours = [label_rgba(label) if lungs or label != LUNG_LABEL else (0.0, 0.0, 0.0, 0.0) for label in range(top + 1)]
    return ListedColormap(colours, name="lstmattn-lungs-lesions" if lungs else "lstmattn-lesions")


def legend_text(*, lungs: bool = False) -> str:
    """``"GGO yellow, consolidation red"`` (with ``"lungs blue, "`` first when ``lungs``),
    the words figure captions and viewers use for :data:`LABEL_COLOURS`."""
    words = {LUNG_LABEL: "blue", LESION_NAMES["GGO"]: "yellow", LESION_NAMES["consolidation"]: "red"}
    return ", ".join(f"{SEGMENTATION_NAMES[label]} {words[label]}" for label in sorted(words) if lungs or label != LUNG_LABEL)
