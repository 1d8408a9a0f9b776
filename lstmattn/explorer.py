"""The attention of §3.7 made explorable: α over the RoI sequence, per slice.

Three layers, each usable on its own:

* :func:`explain_slice` — one slice (PNG/JPEG/DICOM path, ``uint8[H, W]`` array, a
  ``FloatTensor[3, H, W]`` or a data set item ``(image, target)``) through a trained
  one-shot model → an :class:`AttentionExplanation`: the β RoIs in sequence order (boxes,
  scores, labels), α of the positive and negative branch (Eq. 5), σ(Δ) per class (Eq. 9),
  the lesion masks, and the channel-mean mask features of every RoI. :func:`gallery` does
  that for several slices and both RoI orders.
* :class:`AttentionExplorer` — an ipywidgets 8 explorer for a live kernel: pick a slice
  (or upload one), the branch and the RoI order; see the slice with the β boxes weighted
  by α, α along the sequence, the top RoIs' mask features and the class probabilities.
* :func:`lstmattn.explorer_static.static_viewer_html` (re-exported here) — the same
  views as one self-contained HTML block for a built book read without a kernel.

RoI order: the model is trained with one order (``model.roi_order`` of its config:
``"confidence"``, §3.7.1, or ``"distance"``, the reference code). Running the *same
weights* with the other order is a what-if, not a trained model; every view says so.
"""

from __future__ import annotations

import io
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn
from tqdm.auto import tqdm

from lstmattn.data.images import to_image_tensor
from lstmattn.engine.overlays import BRANCH_COLOURS, LESION_COLOURS, draw_rois
from lstmattn.engine.predict import SEGMENTATION_NAMES, Lesion, SliceInput, slice_prediction, load_slice_input

__all__ = [
    "BRANCHES",
    "ORDERS",
    "AttentionExplanation",
    "AttentionExplorer",
    "explain_slice",
    "gallery",
    "gallery_items",
    "roi_order",
    "render_slice_png",
    "render_alpha_chart_png",
    "render_feature_png",
    "static_viewer_html",
]

#: Attention branches, as named in the explanation and the views (x_POS, x_NEG).
BRANCHES: tuple[str, ...] = ("positive", "negative")
#: RoI sequence orders of the RoI classification branch (§3.7.1 vs the reference code).
ORDERS: tuple[str, ...] = ("confidence", "distance")


# ----------------------------------------------------------------------- the API
@dataclass
class AttentionExplanation:
    """One slice through the one-shot model, with everything the attention views need.

    Arrays follow the RoI *sequence* order (the order the LSTM reads them):

    * ``roi_boxes`` ``float32[β, 4]`` (x1, y1, x2, y2 in the slice's pixels),
      ``roi_scores`` ``float32[β]``, ``roi_labels`` ``int64[β]`` (1 lungs, 2 GGO,
      3 consolidation; 0 when the whole image stood in for a missing box);
    * ``alpha_pos``, ``alpha_neg`` ``float32[β]``: Eq. 5 attention weights, each sums to 1;
    * ``roi_features`` ``float32[β, 28, 28]``: the RoI mask features (§3.6) averaged over
      channels.

    ``class_probs`` is σ(Δ) per class (Eq. 9, multilabel: need not sum to 1) and
    ``predicted`` is argmax Δ. ``lesion_map`` is ``uint8[H, W]`` with 2 GGO / 3
    consolidation from the detections at or above ``score_threshold``. Slots past
    ``num_distinct`` repeat earlier RoIs (padding to β, §3.6).
    """

    source: str
    image: np.ndarray = field(repr=False)
    label: int | None
    class_names: tuple[str, ...]
    order: str
    trained_order: str
    class_probs: np.ndarray
    class_logits: np.ndarray
    predicted: int
    roi_boxes: np.ndarray = field(repr=False)
    roi_scores: np.ndarray = field(repr=False)
    roi_labels: np.ndarray = field(repr=False)
    num_distinct: int
    alpha_pos: np.ndarray = field(repr=False)
    alpha_neg: np.ndarray = field(repr=False)
    roi_features: np.ndarray = field(repr=False)
    lesion_map: np.ndarray = field(repr=False)
    lesions: list[Lesion] = field(repr=False)
    score_threshold: float = 0.5

    @property
    def beta(self) -> int:
        """β, the length of the RoI sequence."""
        return int(self.alpha_pos.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the slice."""
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def predicted_name(self) -> str:
        return self.class_names[self.predicted]

    @property
    def label_name(self) -> str | None:
        return None if self.label is None else self.class_names[self.label]

    @property
    def is_what_if(self) -> bool:
        """True when the RoIs were fed in an order the model was not trained with."""
        return self.order != self.trained_order

    def alpha(self, branch: str) -> np.ndarray:
        """α of ``branch`` (``"positive"`` or ``"negative"``) along the sequence."""
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
        return self.alpha_pos if branch == "positive" else self.alpha_neg

    def top_rois(self, branch: str, k: int = 3) -> list[int]:
        """Sequence positions of the ``k`` largest α of ``branch``, largest first.

        A padded duplicate of a box already chosen is skipped (its mask features are the
        same), so up to ``k`` *distinct* boxes come back; ties go to the earlier slot.
        """
        alpha = self.alpha(branch)
        chosen: list[int] = []
        for position in sorted(range(self.beta), key=lambda i: (-float(alpha[i]), i)):
            if any(np.array_equal(self.roi_boxes[position], self.roi_boxes[other]) for other in chosen):
                continue
            chosen.append(position)
            if len(chosen) == k:
                break
        return chosen

    def note(self) -> str:
        """One line on the order: trained, or a what-if."""
        if self.is_what_if:
            return (
                f"RoI order '{self.order}' is a what-if: the model was trained with "
                f"'{self.trained_order}' and is run here, unchanged, on the re-ordered sequence."
            )
        return f"RoI order '{self.order}': the order the model was trained with."

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (no pixel arrays)."""
        height, width = self.size
        labels = [int(v) for v in self.roi_labels]
        return {
            "source": self.source,
            "height": height,
            "width": width,
            "label": self.label_name,
            "order": self.order,
            "trained_order": self.trained_order,
            "class_probabilities": dict(zip(self.class_names, map(float, self.class_probs))),
            "predicted_class": self.predicted_name,
            "num_distinct": self.num_distinct,
            "alpha": {"positive": [float(v) for v in self.alpha_pos], "negative": [float(v) for v in self.alpha_neg]},
            "roi_boxes": [[float(v) for v in box] for box in self.roi_boxes],
            "roi_scores": [float(v) for v in self.roi_scores],
            "roi_labels": labels,
            "roi_label_names": [SEGMENTATION_NAMES.get(label, "background") for label in labels],
            "lesions": [lesion.to_json() for lesion in self.lesions],
        }


def _check_model(model: nn.Module) -> nn.Module:
    if not hasattr(model, "roi_classification") or not hasattr(model, "attention"):
        raise ValueError(
            f"{type(model).__name__} has no RoI classification branch and attention layer; "
            "the explorer needs the one-shot model (OneShotLSTMAttention)"
        )
    return model


def _resolve_model(model_or_run: Any, checkpoint: str) -> nn.Module:
    """A model as is; a run folder (``RunDirectory``, str or Path) → its trained model."""
    if isinstance(model_or_run, nn.Module):
        return _check_model(model_or_run)
    from lstmattn.engine.results import load_trained_model
    from lstmattn.engine.runs import RunDirectory

    run = model_or_run if isinstance(model_or_run, RunDirectory) else RunDirectory(Path(model_or_run))
    return _check_model(load_trained_model(run, checkpoint))


def _default_class_names(model: nn.Module) -> tuple[str, ...]:
    from lstmattn.engine.evaluation import class_names_for

    return class_names_for(int(model.config.num_image_classes))


@contextmanager
def roi_order(model: nn.Module, order: str | None) -> Iterator[str]:
    """Temporarily run the RoI classification branch with ``order`` (None: as trained);
    yields the order in effect and restores the previous one on exit."""
    branch = _check_model(model).roi_classification
    previous = branch.order
    order = order or previous
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    branch.order = order
    try:
        yield order
    finally:
        branch.order = previous


def _grey_from_tensor(image: Tensor) -> np.ndarray:
    """``FloatTensor[3, H, W]`` or ``[H, W]`` in [0, 1] → ``uint8[H, W]`` for display."""
    grey = image[0] if image.ndim == 3 else image
    return (grey.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _as_slice(item: Any, index: int = 0) -> tuple[SliceInput, Tensor, int | None]:
    """Any accepted slice form → (display input, model tensor, true label or None)."""
    label = None
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Mapping):  # data set item
        image, target = item
        if "image_label" in target:
            label = int(target["image_label"])
        source = str(target.get("file", f"item[{index}]"))
        if not isinstance(image, Tensor):
            raise ValueError(f"item[{index}]: expected (FloatTensor[3, H, W], target), got {type(image).__name__}")
        tensor = image if image.ndim == 3 else image.unsqueeze(0).expand(3, -1, -1)
        return SliceInput(source, _grey_from_tensor(image)), tensor.float(), label
    if isinstance(item, Tensor):
        tensor = item if item.ndim == 3 else item.unsqueeze(0).expand(3, -1, -1)
        return SliceInput(f"tensor[{index}]", _grey_from_tensor(item)), tensor.float(), None
    if isinstance(item, SliceInput):
        slice_input = item
    elif isinstance(item, np.ndarray):
        if item.ndim != 2 or item.dtype != np.uint8:
            raise ValueError(f"item[{index}]: expected a uint8 array [H, W], got {item.dtype} {item.shape}")
        slice_input = SliceInput(f"array[{index}]", item)
    elif isinstance(item, (str, Path)):
        slice_input = load_slice_input(item)
    else:
        raise ValueError(f"item[{index}]: cannot read a slice from {type(item).__name__}")
    return slice_input, to_image_tensor(slice_input.image), label


@torch.no_grad()
def _explain(
    model: nn.Module,
    item: Any,
    *,
    order: str | None,
    class_names: tuple[str, ...],
    score_threshold: float,
    label: int | None,
    index: int = 0,
) -> AttentionExplanation:
    slice_input, tensor, item_label = _as_slice(item, index)
    captured: list[Tensor] = []
    hook = model.roi_classification.register_forward_hook(lambda _m, _i, output: captured.append(output.features))
    device = next(model.parameters()).device
    trained_order = str(getattr(model.config, "roi_order", model.roi_classification.order))
    try:
        model.eval()
        with roi_order(model, order) as used_order:
            output = model([tensor.to(device)])[0]
    finally:
        hook.remove()
    prediction = slice_prediction(slice_input, output, class_names, score_threshold)
    attention = output["attention"]
    features = captured[-1][0].mean(dim=1).cpu().numpy().astype(np.float32)  # [β, 28, 28]
    return AttentionExplanation(
        source=slice_input.source,
        image=slice_input.image,
        label=label if label is not None else item_label,
        class_names=class_names,
        order=used_order,
        trained_order=trained_order,
        class_probs=np.asarray(prediction.class_probs, dtype=np.float32),
        class_logits=np.asarray(prediction.class_logits, dtype=np.float32),
        predicted=prediction.predicted_index,
        roi_boxes=attention["roi_boxes"].cpu().numpy().astype(np.float32),
        roi_scores=attention["roi_scores"].cpu().numpy().astype(np.float32),
        roi_labels=attention["roi_labels"].cpu().numpy().astype(np.int64),
        num_distinct=int(attention["num_distinct"]),
        alpha_pos=attention["alpha_pos"].cpu().numpy().astype(np.float32),
        alpha_neg=attention["alpha_neg"].cpu().numpy().astype(np.float32),
        roi_features=features,
        lesion_map=prediction.lesion_map,
        lesions=prediction.lesions,
        score_threshold=score_threshold,
    )


def explain_slice(
    model: Any,
    image_or_path: Any,
    *,
    order: str | None = None,
    class_names: Sequence[str] | None = None,
    score_threshold: float = 0.5,
    label: int | None = None,
    checkpoint: str = "best",
) -> AttentionExplanation:
    """§3.7: the RoI sequence, α of both branches, σ(Δ) and the lesion masks of one slice.

    Args:
        model: a trained :class:`~lstmattn.model.one_shot.OneShotLSTMAttention`, or a run
            folder (``RunDirectory``/path) whose ``checkpoint`` is loaded.
        image_or_path: a PNG/JPEG/DICOM path, a ``uint8[H, W]`` array, a
            ``FloatTensor[3, H, W]`` in [0, 1], or a data set item ``(image, target)``
            (``target["file"]`` names it, ``target["image_label"]`` is its true class).
        order: ``"confidence"`` or ``"distance"``; None runs the order the model holds.
            An order other than the trained one is a what-if (see the module docstring).
        class_names: image class names; by default from the model's class count.
        score_threshold: detections kept for the lesion masks (masks binarised at 0.5).
        label: the true class index, if known (overrides the item's).
    """
    model = _resolve_model(model, checkpoint)
    names = tuple(class_names) if class_names is not None else _default_class_names(model)
    return _explain(model, image_or_path, order=order, class_names=names, score_threshold=score_threshold, label=label)


def gallery(
    model: Any,
    slices: Sequence[Any],
    *,
    orders: Sequence[str] = ORDERS,
    class_names: Sequence[str] | None = None,
    score_threshold: float = 0.5,
    checkpoint: str = "best",
    progress: bool = False,
) -> list[dict[str, AttentionExplanation]]:
    """:func:`explain_slice` for every slice and every order in ``orders``: one dict
    ``{order: explanation}`` per slice, in input order (what the static viewer takes)."""
    model = _resolve_model(model, checkpoint)
    names = tuple(class_names) if class_names is not None else _default_class_names(model)
    for order in orders:
        if order not in ORDERS:
            raise ValueError(f"orders: each must be one of {ORDERS}, got {order!r}")
    entries = []
    for index, item in enumerate(tqdm(slices, desc="attention gallery", unit="slice", disable=not progress, leave=False)):
        entries.append(
            {
                order: _explain(model, item, order=order, class_names=names, score_threshold=score_threshold, label=None, index=index)
                for order in orders
            }
        )
    return entries


def gallery_items(dataset: Any, per_class: int = 4, *, num_classes: int = 3, seed: int = 0) -> list[Any]:
    """``per_class`` items ``(image, target)`` of each class of a classification data set,
    drawn with ``seed`` (deterministic), class by class (see :func:`~lstmattn.plots.gallery_indices`)."""
    from lstmattn.plots import gallery_indices

    return [dataset[i] for i in gallery_indices(dataset, per_class, num_classes=num_classes, seed=seed)]


# ------------------------------------------------------------------ rendering
def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _display_scale(size: tuple[int, int], display_size: int) -> float:
    return display_size / max(size)


def base_panel(explanation: AttentionExplanation, display_size: int) -> Image.Image:
    """The grey slice with the lesion masks blended in (GGO yellow, consolidation red),
    resized so that its longer side is ``display_size``; RGBA."""
    panel = Image.fromarray(explanation.image, mode="L").convert("RGBA")
    layer = np.zeros((*explanation.image.shape, 4), dtype=np.uint8)
    for label, colour in LESION_COLOURS.items():
        layer[explanation.lesion_map == label] = colour
    panel = Image.alpha_composite(panel, Image.fromarray(layer, mode="RGBA"))
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
    panel = draw_rois(panel, boxes.tolist(), alpha.tolist(), BRANCH_COLOURS[branch])
    draw = ImageDraw.Draw(panel)
    for rank, position in enumerate(explanation.top_rois(branch, top_k), start=1):
        x1, y1 = boxes[position][:2]
        text = str(rank)
        left, top, right, bottom = draw.textbbox((x1 + 2, y1 + 1), text)
        draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=(0, 0, 0, 255))
        draw.text((x1 + 2, y1 + 1), text, fill=(*BRANCH_COLOURS[branch], 255))
    return _png(panel.convert("RGB"))


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def render_alpha_chart_png(explanation: AttentionExplanation, branch: str, *, top_k: int = 3, width_in: float = 5.0) -> bytes:
    """PNG bar chart of α of ``branch`` along the RoI sequence, with the uniform 1/β level
    dashed and the top-``top_k`` RoIs outlined."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    alpha = explanation.alpha(branch)
    top = set(explanation.top_rois(branch, top_k))
    figure = Figure(figsize=(width_in, 2.6), dpi=96)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colour = _hex(BRANCH_COLOURS[branch])
    positions = np.arange(explanation.beta)
    bars = axes.bar(positions, alpha, color=colour, edgecolor="none")
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
    """A ``[h, w]`` feature map, min-max scaled, through the magma colour map → ``uint8[h, w, 3]``."""
    from matplotlib import colormaps

    low, high = float(feature.min()), float(feature.max())
    scaled = (feature - low) / (high - low) if high > low else np.zeros_like(feature)
    return (colormaps["magma"](scaled)[..., :3] * 255).round().astype(np.uint8)


def render_feature_png(feature: np.ndarray, *, size: int | None = 96) -> bytes:
    """PNG of one RoI's channel-mean mask features (min-max scaled, magma), upscaled to
    ``size`` pixels with nearest neighbours (None: native 28 x 28)."""
    image = Image.fromarray(feature_rgb(feature), mode="RGB")
    if size:
        image = image.resize((size, size), Image.Resampling.NEAREST)
    return _png(image)


def probabilities_html(explanation: AttentionExplanation) -> str:
    """A small HTML table of σ(Δ) per class, the prediction in bold, the true class if known."""
    rows = []
    for k, (name, p) in enumerate(zip(explanation.class_names, explanation.class_probs)):
        weight = "bold" if k == explanation.predicted else "normal"
        rows.append(
            f"<tr style='font-weight:{weight}'><td>{name}</td><td style='text-align:right'>{float(p):.3f}</td>"
            f"<td><div style='background:#888;height:8px;width:{100 * float(p):.0f}px'></div></td></tr>"
        )
    truth = f"true class: <b>{explanation.label_name}</b> · " if explanation.label is not None else ""
    return (
        f"<div>{truth}predicted: <b>{explanation.predicted_name}</b></div>"
        "<table><tr><th>class</th><th>σ(Δ)</th><th></th></tr>" + "".join(rows) + "</table>"
        "<div style='font-size:smaller'>σ(Δ) per class (Eq. 9, multilabel: need not sum to 1)</div>"
    )


# ------------------------------------------------------------------ the widget
def _slice_name(item: Any, index: int) -> str:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Mapping):
        name = Path(str(item[1].get("file", f"item {index}"))).name
        return name
    if isinstance(item, SliceInput):
        return Path(item.source).name
    if isinstance(item, (str, Path)):
        return Path(item).name
    return f"slice {index}"


class AttentionExplorer:
    """An ipywidgets 8 explorer of α for a live kernel.

    Controls: a slice drop-down over ``slices`` (any form :func:`explain_slice` takes)
    plus an upload button (PNG/JPEG/DICOM), the branch (positive/negative) and the RoI
    order (confidence/distance; the untrained one is labelled a what-if). Views: the slice
    with the β RoI boxes of the branch weighted by α, α as a bar chart along the
    sequence, the mask features of the top-``top_k`` RoIs, σ(Δ) per class.

    Explanations are computed on demand and cached per (slice, order).

    Example:
        >>> explorer = AttentionExplorer(model, gallery_items(data.classification_test))
        >>> explorer.widget()  # displays in a notebook
    """

    def __init__(
        self,
        model: Any,
        slices: Sequence[Any],
        *,
        class_names: Sequence[str] | None = None,
        score_threshold: float = 0.5,
        top_k: int = 3,
        display_size: int = 320,
        checkpoint: str = "best",
    ) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if display_size < 32:
            raise ValueError(f"display_size must be at least 32, got {display_size}")
        self.model = _resolve_model(model, checkpoint)
        self.class_names = tuple(class_names) if class_names is not None else _default_class_names(self.model)
        self.slices: list[Any] = list(slices)
        self.names: list[str] = [_slice_name(item, i) for i, item in enumerate(self.slices)]
        self.score_threshold = score_threshold
        self.top_k = top_k
        self.display_size = display_size
        self.trained_order = str(getattr(self.model.config, "roi_order", self.model.roi_classification.order))
        self._cache: dict[tuple[int, str], AttentionExplanation] = {}
        self._widget: Any = None

    def explanation(self, index: int, order: str) -> AttentionExplanation:
        """The (cached) explanation of slice ``index`` under ``order``."""
        key = (index, order)
        if key not in self._cache:
            self._cache[key] = _explain(
                self.model,
                self.slices[index],
                order=order,
                class_names=self.class_names,
                score_threshold=self.score_threshold,
                label=None,
                index=index,
            )
        return self._cache[key]

    def add_slice(self, item: Any, name: str | None = None) -> int:
        """Append a slice to the gallery (and the drop-down); returns its index."""
        self.slices.append(item)
        self.names.append(name or _slice_name(item, len(self.slices) - 1))
        if self._widget is not None:
            self.slice_dropdown.options = self._slice_options()
        return len(self.slices) - 1

    def _slice_options(self) -> list[tuple[str, int]]:
        return [(f"{i}: {name}", i) for i, name in enumerate(self.names)]

    def _order_options(self) -> list[tuple[str, str]]:
        return [(f"{o} (trained)" if o == self.trained_order else f"{o} (what-if)", o) for o in ORDERS]

    def widget(self) -> Any:
        """The explorer as an ipywidgets ``VBox`` (built once, then reused)."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as widgets

        self.slice_dropdown = widgets.Dropdown(options=self._slice_options(), description="slice", layout=widgets.Layout(width="360px"))
        self.upload = widgets.FileUpload(accept=".png,.jpg,.jpeg,.dcm", multiple=False, description="upload slice")
        self.branch_toggle = widgets.ToggleButtons(
            options=[("positive (x_POS)", "positive"), ("negative (x_NEG)", "negative")], value="positive", description="branch"
        )
        self.order_toggle = widgets.ToggleButtons(options=self._order_options(), value=self.trained_order, description="RoI order")
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=f"{self.display_size}px"))
        self.chart = widgets.Image(format="png", layout=widgets.Layout(width="480px"))
        self.probabilities = widgets.HTML()
        self.note = widgets.HTML()
        self.status = widgets.HTML()
        self.feature_images = [widgets.Image(format="png", layout=widgets.Layout(width="96px")) for _ in range(self.top_k)]
        self.feature_labels = [widgets.Label() for _ in range(self.top_k)]
        features = widgets.HBox([widgets.VBox([img, lab]) for img, lab in zip(self.feature_images, self.feature_labels)])
        legend = widgets.HTML(
            "<small>Boxes: the β RoIs of the sequence; line width and opacity ∝ α / max α. "
            "GGO yellow, consolidation red. Numbers: rank of the top RoIs by α.</small>"
        )
        feature_caption = widgets.HTML(
            f"<small>Top-{self.top_k} RoIs by α: mask features (§3.6) averaged over channels, "
            "min-max scaled per RoI (magma).</small>"
        )
        self._widget = widgets.VBox(
            [
                widgets.HBox([self.slice_dropdown, self.upload]),
                self.branch_toggle,
                self.order_toggle,
                self.note,
                widgets.HBox([widgets.VBox([self.image, legend]), widgets.VBox([self.chart, self.probabilities])]),
                feature_caption,
                features,
                self.status,
            ]
        )
        for control in (self.slice_dropdown, self.branch_toggle, self.order_toggle):
            control.observe(self._on_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        if self.slices:
            self.refresh()
        else:
            self.status.value = "<i>No slices yet: upload a PNG, JPEG or DICOM slice.</i>"
        return self._widget

    def _on_change(self, _change: Any) -> None:
        self.refresh()

    def _on_upload(self, change: Any) -> None:
        for uploaded in change["new"]:
            name = str(uploaded["name"])
            content = uploaded["content"]
            data = content.tobytes() if hasattr(content, "tobytes") else bytes(content)
            try:
                with tempfile.TemporaryDirectory() as folder:
                    path = Path(folder) / Path(name).name
                    path.write_bytes(data)
                    item = load_slice_input(path)
            except Exception as error:  # DataError names the file; anything else too
                self.status.value = f"<span style='color:#b00'>could not read {name}: {error}</span>"
                continue
            index = self.add_slice(SliceInput(name, item.image, item.instance_number), name)
            self.slice_dropdown.value = index

    def refresh(self) -> None:
        """Recompute the views for the current control values."""
        index = self.slice_dropdown.value
        if index is None:
            return
        branch, order = self.branch_toggle.value, self.order_toggle.value
        try:
            explanation = self.explanation(index, order)
        except Exception as error:
            self.status.value = f"<span style='color:#b00'>{type(error).__name__}: {error}</span>"
            return
        self.status.value = ""
        self.image.value = render_slice_png(explanation, branch, display_size=self.display_size, top_k=self.top_k)
        self.chart.value = render_alpha_chart_png(explanation, branch, top_k=self.top_k)
        self.probabilities.value = probabilities_html(explanation)
        style = "color:#a60" if explanation.is_what_if else "color:#555"
        self.note.value = f"<small style='{style}'>{explanation.note()}</small>"
        alpha = explanation.alpha(branch)
        top = explanation.top_rois(branch, self.top_k)
        for slot, (image, label) in enumerate(zip(self.feature_images, self.feature_labels)):
            if slot < len(top):
                position = top[slot]
                image.value = render_feature_png(explanation.roi_features[position])
                name = SEGMENTATION_NAMES.get(int(explanation.roi_labels[position]), "background")
                label.value = f"#{slot + 1}: RoI {position}, α={float(alpha[position]):.3f}, {name}"
                image.layout.visibility = "visible"
            else:
                image.value = b""
                label.value = ""
                image.layout.visibility = "hidden"

    def static_html(self, indices: Sequence[int] | None = None, **kwargs: Any) -> str:
        """The offline viewer (:func:`static_viewer_html`) of the chosen slices (default
        all) under both orders."""
        chosen = range(len(self.slices)) if indices is None else indices
        entries = [{order: self.explanation(i, order) for order in ORDERS} for i in chosen]
        kwargs.setdefault("display_size", self.display_size)
        kwargs.setdefault("top_k", self.top_k)
        return static_viewer_html(entries, **kwargs)


def static_viewer_html(entries: Sequence[Any], **kwargs: Any) -> str:
    """The self-contained offline viewer; see :func:`lstmattn.explorer_static.static_viewer_html`."""
    from lstmattn.explorer_static import static_viewer_html as render

    return render(entries, **kwargs)
