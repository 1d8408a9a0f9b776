"""Chapter 6's α gallery: slices with their RoI boxes shaded by α of each branch (Eq. 5),
α along the sequence, and a table of the same slices as the run's result file records
them (σ(Δ) per class, Eq. 9). Both take :class:`~lstmattn.viz.attention.AttentionExplanation`
objects (:func:`~lstmattn.viz.attention.explain_slice` of
:func:`~lstmattn.viz.attention.gallery_items`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from lstmattn.viz.attention import BRANCHES, AttentionExplanation
from lstmattn.viz.style import branch_hex

__all__ = ["plot_attention_slice", "gallery_table"]


def _draw_weighted_boxes(ax: Any, boxes: np.ndarray, alpha: np.ndarray, colour: str) -> None:
    peak = float(alpha.max()) if alpha.size else 1.0
    for (x1, y1, x2, y2), weight in sorted(zip(boxes, alpha), key=lambda item: item[1]):
        strength = float(weight) / peak if peak > 0 else 0.0
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=True, facecolor=colour,
                               alpha=0.35 * strength, edgecolor=colour, lw=0.4 + 2.0 * strength))


def plot_attention_slice(explanations: Sequence[AttentionExplanation], *, row_height: float = 2.4, phantom: bool = True) -> Figure:
    """One row per slice: the slice with its β RoI boxes shaded by α_POS, the same by
    α_NEG, and α along the sequence for both branches (bars, with the uniform 1/β)."""
    fig = Figure(figsize=(3 * row_height + 1.5, row_height * len(explanations) + 0.6), layout="constrained")
    axes = fig.subplots(len(explanations), 3, squeeze=False, width_ratios=[1, 1, 1.5])
    for row, explanation in zip(axes, explanations):
        for ax, branch in zip(row[:2], BRANCHES):
            ax.imshow(explanation.image, cmap="gray")
            _draw_weighted_boxes(ax, explanation.roi_boxes, explanation.alpha(branch), branch_hex(branch))
            ax.set_axis_off()
            ax.set_title(f"α {branch[:3].upper()}", fontsize=8)
        row[0].text(0.0, -0.06, f"{explanation.source}\ntrue {explanation.label_name} · predicted {explanation.predicted_name}",
                    transform=row[0].transAxes, fontsize=6.5, va="top")
        positions = np.arange(1, explanation.beta + 1)
        for offset, branch in zip((-0.2, 0.2), BRANCHES):
            row[2].bar(positions + offset, explanation.alpha(branch), width=0.4, color=branch_hex(branch), label=f"α {branch[:3].upper()}")
        uniform = 1 / explanation.beta
        row[2].axhline(uniform, color="grey", lw=0.6, ls="--", label="uniform 1/β")
        row[2].set_xlabel(f"RoI sequence position ({explanation.order} order)", fontsize=7)
        row[2].tick_params(labelsize=6)
        row[2].set_ylim(0, 1.3 * max(explanation.alpha_pos.max(), explanation.alpha_neg.max(), uniform))
        row[2].legend(fontsize=6, loc="upper center", ncols=3, frameon=False)
    if phantom:
        fig.suptitle("Synthetic CT phantoms (not patient data): α of a model trained on phantoms", fontsize=9)
    return fig


def gallery_table(explanations: Sequence[AttentionExplanation], predictions: pd.DataFrame | str | Path) -> pd.DataFrame:
    """The gallery's slices as the run's per-slice predictions (``<split>_predictions.csv``,
    or its DataFrame) record them — true class, predicted class, σ(Δ) per class — plus
    the α peak of each branch from the explanation."""
    frame = predictions if isinstance(predictions, pd.DataFrame) else pd.read_csv(predictions)
    frame = frame.set_index("file")
    rows = []
    for explanation in explanations:
        record = frame.loc[explanation.source]
        names = explanation.class_names
        row: dict[str, Any] = {
            "file": explanation.source,
            "true class": names[int(record["label"])],
            "predicted": names[int(record["predicted"])],
        }
        row.update({f"σ(Δ) {name}": float(record[f"prob_{name}"]) for name in names})
        row["max α POS"] = float(explanation.alpha_pos.max())
        row["max α NEG"] = float(explanation.alpha_neg.max())
        rows.append(row)
    return pd.DataFrame(rows)
