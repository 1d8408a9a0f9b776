"""Pictures of one :class:`~lstmattn.viz.attention.AttentionExplanation`, shared by the
live explorer and the static viewer: the slice with its β RoI boxes weighted by α
(Eq. 5), α along the RoI sequence, a RoI's mask features (§3.6) and σ(Δ) (Eq. 9)."""

from __future__ import annotations

import html
import io

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from lstmattn.viz.attention import AttentionExplanation
from lstmattn.viz.overlays import draw_rois, lesion_panel, png_bytes
from lstmattn.viz.style import BRANCH_COLOURS, FEATURE_COLORMAP, branch_hex, legend_text

__all__ = [
    "base_panel",
    "render_slice_png",
    "render_alpha_chart_png",
    "feature_rgb",
    "render_feature_png",
    "probabilities_html",
    "BOX_LEGEND",
]

#: The caption of every α-weighted box picture.
BOX_LEGEND = (
    f"Boxes: the β RoIs of the sequence; line width and opacity ∝ α / max α. {legend_text()}. "
    "Numbers: rank of the top RoIs by α."
)


def _display_scale(size: tuple[int, int], display_size: int) -> float:
    return display_size / max(size)


def base_panel(explanation: AttentionExplanation, display_size: int) -> Image.Image:
    """The grey slice with the lesion masks blended in, resized so that its longer side
    is ``display_size``; RGBA."""
    panel = lesion_panel(explanation.image, explanation.lesion_map)
    height, width = explanation.size
    scale = _display_scale(explanation.size, display_size)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS
    return panel.resize(target, resample) if target != panel.size else panel


def render_slice_png(explanation: AttentionExplanation, branch: str, *, display_size: int = 320, top_k: int = 3) -> bytes:
    """PNG of the slice with the β RoI boxes of ``branch``: line width and opacity ∝ α
    (relative to the branch's largest α), the top-``top_k`` RoIs numbered by rank."""
    panel = base_panel(explanation, display_size)
    scale = _display_scale(explanation.size, display_size)
    alpha = explanation.alpha(branch)
    boxes = explanation.roi_boxes * scale
    colour = BRANCH_COLOURS[branch]
    panel = draw_rois(panel, boxes.tolist(), alpha.tolist(), colour)
    draw = ImageDraw.Draw(panel)
    for rank, position in enumerate(explanation.top_rois(branch, top_k), start=1):
        x1, y1 = boxes[position][:2]
        text = str(rank)
        left, top, right, bottom = draw.textbbox((x1 + 2, y1 + 1), text)
        draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=(0, 0, 0, 255))
        draw.text((x1 + 2, y1 + 1), text, fill=(*colour, 255))
    return png_bytes(panel.convert("RGB"))


def render_alpha_chart_png(explanation: AttentionExplanation, branch: str, *, top_k: int = 3, width_in: float = 5.0) -> bytes:
    """PNG bar chart of α (Eq. 5) of ``branch`` along the RoI sequence, with the uniform
    1/β level dashed and the top-``top_k`` RoIs outlined."""
    alpha = explanation.alpha(branch)
    top = set(explanation.top_rois(branch, top_k))
    figure = Figure(figsize=(width_in, 2.6), dpi=96)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = np.arange(explanation.beta)
    bars = axes.bar(positions, alpha, color=branch_hex(branch), edgecolor="none")
    for position in top:
        bars[position].set_edgecolor("black")
        bars[position].set_linewidth(1.5)
    axes.axhline(1.0 / explanation.beta, color="grey", linestyle="--", linewidth=1, label="uniform 1/β")
    axes.set_xlabel(f"position in the RoI sequence ({explanation.order} order)")
    axes.set_ylabel("α")
    axes.set_title(f"{branch} branch (x_{branch[:3].upper()}): α over β = {explanation.beta} RoIs", fontsize=10)
    axes.set_xticks(positions if explanation.beta <= 24 else positions[::4])
    axes.legend(loc="upper right", fontsize=8, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def feature_rgb(feature: np.ndarray) -> np.ndarray:
    """A ``[h, w]`` feature map, min-max scaled, through :data:`FEATURE_COLORMAP` →
    ``uint8[h, w, 3]``."""
    low, high = float(feature.min()), float(feature.max())
    scaled = (feature - low) / (high - low) if high > low else np.zeros_like(feature)
    return (colormaps[FEATURE_COLORMAP](scaled)[..., :3] * 255).round().astype(np.uint8)


def render_feature_png(feature: np.ndarray, *, size: int | None = 96) -> bytes:
    """PNG of one RoI's channel-mean mask features (§3.6, min-max scaled), upscaled to
    ``size`` pixels with nearest neighbours (None: native 28 x 28)."""
    image = Image.fromarray(feature_rgb(feature), mode="RGB")
    if size:
        image = image.resize((size, size), Image.Resampling.NEAREST)
    return png_bytes(image)


def probabilities_html(explanation: AttentionExplanation) -> str:
    """A small HTML table of σ(Δ) per class (Eq. 9), the prediction in bold, the true
    class if known."""
    rows = []
    for k, (name, p) in enumerate(zip(explanation.class_names, explanation.class_probs)):
        weight = "bold" if k == explanation.predicted else "normal"
        rows.append(
            f"<tr style='font-weight:{weight}'><td>{html.escape(name)}</td><td style='text-align:right'>{float(p):.3f}</td>"
            f"<td><div style='background:#888;height:8px;width:{100 * float(p):.0f}px'></div></td></tr>"
        )
    truth = f"true class: <b>{html.escape(explanation.label_name)}</b> · " if explanation.label_name is not None else ""
    return (
        f"<div>{truth}predicted: <b>{html.escape(explanation.predicted_name)}</b></div>"
        "<table><tr><th>class</th><th>σ(Δ)</th><th></th></tr>" + "".join(rows) + "</table>"
        "<div style='font-size:smaller'>σ(Δ) per class (Eq. 9, multilabel: need not sum to 1)</div>"
    )
