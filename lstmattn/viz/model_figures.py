"""Chapter 2's table and figure of the one-shot model (Figure 1): parameters per
component, and the RoI sequence of one slice (§3.6) with its attention weights (Eq. 5).

The walk-through's stage table is :func:`lstmattn.viz.walkthrough.walk_through`; these
helpers take its model and its explanation.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from lstmattn.viz.attention import BRANCHES, AttentionExplanation
from lstmattn.viz.style import FEATURE_COLORMAP, ROI_COLOUR, branch_hex, hex_colour

__all__ = ["parameter_table", "plot_roi_sequence"]


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


def plot_roi_sequence(explanation: AttentionExplanation, *, columns: int = 8, cell: float = 1.3) -> Figure:
    """§3.6-3.7: the β RoIs of one slice in sequence order: their boxes on the slice, α of
    both branches along the sequence (Eq. 5), then each RoI's 28×28 mask features (mean
    over C) titled with α_POS / α_NEG."""
    beta = explanation.beta
    rows = int(np.ceil(beta / columns))
    fig = Figure(figsize=(cell * columns, cell * (rows + 3.2)), layout="constrained")
    grid = fig.add_gridspec(rows + 3, columns)
    ax = fig.add_subplot(grid[:3, : columns // 2])
    ax.imshow(explanation.image, cmap="gray")
    roi_colour = hex_colour(ROI_COLOUR)
    for k, (x1, y1, x2, y2) in enumerate(explanation.roi_boxes):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=0.8, color=roi_colour))
        ax.text(x1, y1, str(k + 1), color=roi_colour, fontsize=6, va="bottom")
    ax.set_title(f"β = {beta} RoI boxes (numbered in sequence order)", fontsize=8)
    ax.set_axis_off()
    bar = fig.add_subplot(grid[:3, columns // 2 :])
    positions = np.arange(1, beta + 1)
    for offset, branch in zip((-0.2, 0.2), BRANCHES):
        tag = branch[:3].upper()
        bar.bar(positions + offset, explanation.alpha(branch), width=0.4, color=branch_hex(branch), label=f"α {tag}")
    bar.set_xlabel("position in the RoI sequence", fontsize=8)
    bar.set_ylabel("α", fontsize=8)
    bar.legend(fontsize=7)
    bar.tick_params(labelsize=7)
    for k in range(beta):
        cell_ax = fig.add_subplot(grid[3 + k // columns, k % columns])
        cell_ax.imshow(explanation.roi_features[k], cmap=FEATURE_COLORMAP)
        cell_ax.set_title(f"{k + 1}: {explanation.alpha_pos[k]:.2f}/{explanation.alpha_neg[k]:.2f}", fontsize=6)
        cell_ax.set_axis_off()
    return fig
