"""Chapter 2's walk-through: one slice through the one-shot model, stage by stage.

Every shape comes from the :class:`~lstmattn.viz.hooks.ForwardTrace` of one forward
pass, and the final row (Δ, Eq. 9) is checked against the model's own output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from lstmattn.viz.attention import AttentionExplanation, explain_with_trace, explainable_model
from lstmattn.viz.hooks import BRANCHES, ForwardTrace

__all__ = ["WalkThrough", "shape_table", "walk_through"]


@dataclass(frozen=True)
class WalkThrough:
    """Chapter 2: one slice through the one-shot model, stage by stage (§3.1-3.8).

    ``table`` has one row per stage (``stage``, ``paper``, ``shape``, ``what``), every
    shape read from the :class:`ForwardTrace` of the pass that ``explanation`` shows.
    """

    table: pd.DataFrame
    trace: ForwardTrace = field(repr=False)
    explanation: AttentionExplanation = field(repr=False)

    @property
    def final_logits(self) -> Tensor:
        """Δ (Eq. 9) as the forward hook on ``class_delta`` captured it, ``FloatTensor[K]`` on CPU."""
        return self.trace.delta[0].detach().cpu()

    def logit_gap(self, model: nn.Module) -> float:
        """max |Δ of the walk-through − ``model([image])[0]["class_logits"]``| over the
        classes, the second from a fresh, hook-free forward pass (0 when they agree)."""
        model.eval()
        with torch.no_grad():
            logits = model([self.trace.image])[0]["class_logits"]
        return float((logits.detach().cpu() - self.final_logits).abs().max())


def _shape(tensor: Tensor) -> str:
    return " × ".join(str(s) for s in tensor.shape)


def shape_table(trace: ForwardTrace) -> pd.DataFrame:
    """One row per stage of the forward pass in ``trace``: the stage, the paper's
    section or equation, the tensor shape and what it holds."""
    rows: list[dict[str, str]] = []

    def add(stage: str, section: str, tensor: Tensor, what: str) -> None:
        rows.append({"stage": stage, "paper": section, "shape": _shape(tensor), "what": what})

    add("input slice", "§3.1", trace.image, "3 identical grey channels in [0, 1]")
    add("standardised batch", "§3.2", trace.standardised, "resized to the profile's image size, zero mean / unit std")
    for name, feature in trace.features.items():
        add(f"FPN map '{name}'", "§3.3", feature, "backbone + FPN feature map (C channels)")
    add("RPN proposals", "§3.4", trace.proposals, "boxes (x1, y1, x2, y2) after NMS")
    add("RoI boxes", "§3.6", trace.rois.boxes[0], "β boxes after class-wise NMS, padded to β")
    add("RoI sequence X", "§3.6", trace.rois.features[0], "β × C × 28 × 28 mask features")
    add("after the mask sieve", "§3.7.1", trace.sieved, "same shape: Conv → BN → ConvT → ReLU, N times")
    add("vectorised sequence", "§3.7.1", trace.vectors, "β × C: 2×2/2 → 2×2/2 → 7×7 convolutions")
    for branch in BRANCHES:
        tag = branch[:3].upper()
        add(f"LSTM states H ({tag})", "Eq. 1, 3", trace.hidden_states(branch)[0], "one hidden state per RoI")
        add(f"z ({tag})", "Eq. 2", trace.query(branch)[0], "Linear(h_β)")
        add(f"α ({tag})", "Eq. 4-5", trace.alpha(branch)[0], "softmax over the β positions")
        add(f"o' ({tag})", "Eq. 6-7", trace.attended(branch)[0], "z + Σ α_k h_k")
    add("h(x_POS), h(x_NEG)", "§3.8", trace.head_logits("positive")[0], "class logits of each image classification module")
    add("Δ = h(x_POS) − h(x_NEG)", "Eq. 9", trace.delta[0], "σ(Δ) is the per-class score")
    return pd.DataFrame(rows)


def walk_through(model: Any, image_or_item: Any, *, class_names: Sequence[str] | None = None, checkpoint: str | None = None) -> WalkThrough:
    """Chapter 2's walk-through of one slice (any form :func:`explain_slice` takes):
    the shape of every stage and the explanation of the same forward pass."""
    explanation, trace = explain_with_trace(explainable_model(model, checkpoint), image_or_item, class_names=class_names)
    return WalkThrough(table=shape_table(trace), trace=trace, explanation=explanation)
