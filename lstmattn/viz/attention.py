"""The attention of §3.6-3.8 made visible, from the model's own tensors.

One path serves every view of the attention (chapter 2's walk-through, chapter 6's
gallery, the live explorer and the static viewer):

* :func:`lstmattn.viz.hooks.trace_forward` runs one slice through the one-shot model
  *as it always runs* while forward hooks record what each of its modules received and
  returned. Nothing of the forward pass is re-implemented, so a change to the model
  shows up in every view.
* :func:`explain_slice` turns one slice (a PNG/JPEG/DICOM path, a ``uint8[H, W]`` array,
  a ``FloatTensor[3, H, W]`` or a data set item ``(image, target)``) into an
  :class:`AttentionExplanation`: the β RoIs in sequence order, α of both branches
  (Eq. 5), σ(Δ) per class (Eq. 9), the lesion masks and every RoI's mask features.
  :func:`gallery` does that for several slices and both RoI orders.
* :func:`lstmattn.viz.walkthrough.walk_through` is chapter 2's stage-by-stage table of
  one forward pass with the explanation of the same pass (:func:`explain_with_trace`).

RoI order: the model is trained with one order (``config.roi_order``: ``"confidence"``,
as §3.7.1 describes it, or ``"distance"``, the order of the model §4.1 reports and of the
authors' code). Running the *same weights* with the
other order (:func:`roi_order`) is a what-if, not a trained model; every view says so.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lstmattn.data.images import to_image_tensor
from lstmattn.engine.loading import load_trained_model
from lstmattn.engine.predict import Lesion, slice_prediction
from lstmattn.engine.slice_files import SliceInput, load_slice_input
from lstmattn.labels import SEGMENTATION_NAMES, class_names_for
from lstmattn.progress import progress_bar
from lstmattn.viz.hooks import BRANCHES, ForwardTrace, check_traceable, trace_forward

__all__ = [
    "BRANCHES",
    "ORDERS",
    "AttentionExplanation",
    "explain_slice",
    "explain_with_trace",
    "roi_order",
    "explainable_model",
    "trained_order",
    "gallery",
    "gallery_indices",
    "gallery_items",
    "slice_name",
]

#: RoI sequence orders of the RoI classification branch (§3.7.1's confidence vs §4.1's distance).
ORDERS: tuple[str, ...] = ("confidence", "distance")

# ----------------------------------------------------------------- explanation
@dataclass
class AttentionExplanation:
    """One slice through the one-shot model, with everything the attention views need.

    Arrays follow the RoI *sequence* order (the order the LSTMs read them):

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
    def name(self) -> str:
        """The file name of ``source`` (no folders)."""
        return self.source.replace("\\", "/").rsplit("/", 1)[-1]

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

    def roi_label_name(self, position: int) -> str:
        """Segmentation class name of the RoI at sequence ``position`` (or ``background``)."""
        return SEGMENTATION_NAMES.get(int(self.roi_labels[position]), "background")

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
            "roi_labels": [int(v) for v in self.roi_labels],
            "roi_label_names": [self.roi_label_name(k) for k in range(self.beta)],
            "lesions": [lesion.to_json() for lesion in self.lesions],
        }


def explainable_model(model_or_run: Any, checkpoint: str | None = None) -> nn.Module:
    """A one-shot model as is; a run folder (``RunDirectory``, str or Path) → its trained
    model (``checkpoint``; None: the one the run evaluates, ``last`` by default). Raises
    ``ValueError`` for a model without the stages of :data:`~lstmattn.viz.hooks.HOOKED_STAGES`."""
    if isinstance(model_or_run, nn.Module):
        return check_traceable(model_or_run)
    return check_traceable(load_trained_model(model_or_run, checkpoint))


def _class_names(model: nn.Module, class_names: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(class_names) if class_names is not None else class_names_for(int(model.config.num_image_classes))


def trained_order(model: nn.Module) -> str:
    """The RoI order (§3.7.1) ``model`` was trained with (its config's ``roi_order``)."""
    return str(getattr(model.config, "roi_order", model.roi_classification.order))


@contextlib.contextmanager
def roi_order(model: nn.Module, order: str | None) -> Iterator[str]:
    """Temporarily run the RoI classification branch (§3.6) with ``order`` (None: as
    trained); yields the order in effect and restores the previous one on exit."""
    branch = check_traceable(model).roi_classification
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


def _is_item(item: Any) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Mapping)


def _as_slice(item: Any, index: int = 0) -> tuple[SliceInput, Tensor, int | None]:
    """Any accepted slice form → (display input, model tensor, true label or None)."""
    if _is_item(item):
        image, target = item
        label = int(target["image_label"]) if "image_label" in target else None
        if not isinstance(image, Tensor):
            raise ValueError(f"item[{index}]: expected (FloatTensor[3, H, W], target), got {type(image).__name__}")
        tensor = image if image.ndim == 3 else image.unsqueeze(0).expand(3, -1, -1)
        return SliceInput(str(target.get("file", f"item[{index}]")), _grey_from_tensor(image)), tensor.float(), label
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
    return slice_input, to_image_tensor(slice_input.image), None


def _numpy(tensor: Tensor, dtype: type) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(dtype)


def _explain(
    model: nn.Module,
    item: Any,
    *,
    order: str | None,
    class_names: tuple[str, ...],
    score_threshold: float,
    label: int | None,
    index: int = 0,
) -> tuple[AttentionExplanation, ForwardTrace]:
    """One traced forward pass → its explanation (and the trace). The RoI mask features
    come from the forward hooks; everything the model's output dict holds (boxes in
    slice pixels, α, σ(Δ), detections) comes from that dict."""
    slice_input, tensor, item_label = _as_slice(item, index)
    with roi_order(model, order) as used_order:
        trace = trace_forward(model, tensor)
    output = trace.output
    prediction = slice_prediction(slice_input, output, class_names, score_threshold)
    attention = output["attention"]
    explanation = AttentionExplanation(
        source=slice_input.source,
        image=slice_input.image,
        label=label if label is not None else item_label,
        class_names=class_names,
        order=used_order,
        trained_order=trained_order(model),
        class_probs=np.asarray(prediction.class_probs, dtype=np.float32),
        class_logits=np.asarray(prediction.class_logits, dtype=np.float32),
        predicted=prediction.predicted_index,
        roi_boxes=_numpy(attention["roi_boxes"], np.float32),
        roi_scores=_numpy(attention["roi_scores"], np.float32),
        roi_labels=_numpy(attention["roi_labels"], np.int64),
        num_distinct=int(attention["num_distinct"]),
        alpha_pos=_numpy(attention["alpha_pos"], np.float32),
        alpha_neg=_numpy(attention["alpha_neg"], np.float32),
        roi_features=_numpy(trace.rois.features[0].mean(dim=1), np.float32),
        lesion_map=prediction.lesion_map,
        lesions=prediction.lesions,
        score_threshold=score_threshold,
    )
    return explanation, trace


def explain_slice(
    model: Any,
    image_or_path: Any,
    *,
    order: str | None = None,
    class_names: Sequence[str] | None = None,
    score_threshold: float = 0.5,
    label: int | None = None,
    checkpoint: str | None = None,
    index: int = 0,
) -> AttentionExplanation:
    """§3.7: the RoI sequence, α of both branches (Eq. 5), σ(Δ) (Eq. 9) and the lesion
    masks of one slice.

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
        checkpoint: the checkpoint of a run folder (``last`` or ``best``; None: the one
            the run evaluates, :func:`~lstmattn.engine.loading.resolve_checkpoint`).
        index: the slice's position in a list, for the names of unnamed slices
            (``array[i]``, ``tensor[i]``) and error messages.
    """
    model = explainable_model(model, checkpoint)
    names = _class_names(model, class_names)
    return _explain(model, image_or_path, order=order, class_names=names, score_threshold=score_threshold, label=label, index=index)[0]


def explain_with_trace(model: nn.Module, item: Any, *, class_names: Sequence[str] | None = None) -> tuple[AttentionExplanation, ForwardTrace]:
    """The explanation of ``item`` in the model's trained order and the
    :class:`~lstmattn.viz.hooks.ForwardTrace` of the same forward pass."""
    return _explain(model, item, order=None, class_names=_class_names(model, class_names), score_threshold=0.5, label=None)


# ------------------------------------------------------------------ galleries
def gallery(
    model: Any,
    slices: Sequence[Any],
    *,
    orders: Sequence[str] = ORDERS,
    class_names: Sequence[str] | None = None,
    score_threshold: float = 0.5,
    checkpoint: str | None = None,
    progress: bool = False,
) -> list[dict[str, AttentionExplanation]]:
    """:func:`explain_slice` for every slice and every order in ``orders``: one dict
    ``{order: explanation}`` per slice, in input order (what the static viewer takes)."""
    model = explainable_model(model, checkpoint)
    names = _class_names(model, class_names)
    for order in orders:
        if order not in ORDERS:
            raise ValueError(f"orders: each must be one of {ORDERS}, got {order!r}")
    entries = []
    for index, item in enumerate(progress_bar(slices, desc="attention gallery", unit="slice", disable=not progress, leave=False)):
        entries.append(
            {
                order: _explain(model, item, order=order, class_names=names, score_threshold=score_threshold, label=None, index=index)[0]
                for order in orders
            }
        )
    return entries


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


def gallery_items(dataset: Any, per_class: int = 4, *, num_classes: int = 3, seed: int = 0) -> list[Any]:
    """The items ``(image, target)`` of :func:`gallery_indices`."""
    return [dataset[i] for i in gallery_indices(dataset, per_class, num_classes=num_classes, seed=seed)]


def slice_name(item: Any, index: int) -> str:
    """A short display name for a slice in any form :func:`explain_slice` takes."""
    if _is_item(item):
        return Path(str(item[1].get("file", f"item {index}"))).name
    if isinstance(item, SliceInput):
        return Path(item.source).name
    if isinstance(item, (str, Path)):
        return Path(item).name
    return f"slice {index}"
