"""Where α goes (chapter 6): the attention mass on RoIs that cover a ground-truth lesion.

The paper's §3.7.2 motivates the two attention branches by the RoIs they should weigh: a
trained model would concentrate α on the RoIs that hold lesions. Where the lesions are
known (the phantoms' and MedSeg's segmentation test slices), this is measured, not
assumed:

* an RoI of the sequence is **on a lesion** when its box overlaps the box of a
  ground-truth lesion instance (GGO or consolidation) with IoU ≥ :data:`LESION_IOU`, the
  criterion of mask AP@0.5;
* per slice, the **α share on lesions** of a branch is Σ α_k over the RoIs on a lesion;
  a uniform α (1/β each) would put the fraction of such RoIs there, the **uniform
  share**. A share above the uniform one means the branch weighs lesion RoIs more than
  the sequence holds them;
* the **entropy** of α, H = −Σ α_k log α_k, divided by log β: 1 for a uniform α, near 0
  when one RoI takes all the weight.

α weighs only the context c (Eq. 6); the branch's output o' = z + c (Eq. 7) also holds z,
a linear map of the last hidden state, which sees every RoI through the LSTM. A peaked α
therefore says where c looks, not everything the classification rests on.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torchvision.ops import box_iou

from lstmattn.labels import LESION_LABELS
from lstmattn.viz.attention import explain_slice

__all__ = ["LESION_IOU", "rois_on_lesions", "alpha_entropy", "attention_on_lesions", "summarise_attention_on_lesions",
           "share_text"]

#: IoU between an RoI box and a ground-truth lesion box from which the RoI counts as on it.
LESION_IOU = 0.5


def rois_on_lesions(roi_boxes: np.ndarray, lesion_boxes: np.ndarray, iou: float = LESION_IOU) -> np.ndarray:
    """``bool[β]``: whether each RoI box (``float[β, 4]``, x1 y1 x2 y2) overlaps some lesion
    box (``float[L, 4]``) with IoU ≥ ``iou``; all ``False`` without lesions."""
    if len(lesion_boxes) == 0:
        return np.zeros(len(roi_boxes), dtype=bool)
    overlap = box_iou(torch.as_tensor(roi_boxes, dtype=torch.float32), torch.as_tensor(lesion_boxes, dtype=torch.float32))
    return (overlap.max(dim=1).values >= iou).numpy()


def alpha_entropy(alpha: np.ndarray) -> float:
    """H(α) / log β: 1 for a uniform α, 0 when one position holds all the weight."""
    beta = len(alpha)
    if beta < 2:
        return 0.0
    weights = np.clip(np.asarray(alpha, dtype=np.float64), 1e-12, None)
    return float(-(weights * np.log(weights)).sum() / np.log(beta))


def _lesion_boxes(target: dict[str, Any]) -> np.ndarray:
    labels = np.asarray(target["labels"])
    boxes = np.asarray(target["boxes"], dtype=np.float32).reshape(-1, 4)
    return boxes[np.isin(labels, LESION_LABELS)]


def attention_on_lesions(
    model: Any,
    items: Iterable[tuple[torch.Tensor, dict[str, Any]]] | Sequence[tuple[torch.Tensor, dict[str, Any]]],
    *,
    class_of: Callable[[str], str | None] | None = None,
    iou: float = LESION_IOU,
) -> pd.DataFrame:
    """One row per slice of ``items`` (segmentation items ``(image, target)`` with
    ``boxes``, ``labels`` and ``file``; an iterable, or a data set read by index): its
    class (``class_of(file)``, or ``None``), the number of lesion instances, the RoIs on a lesion, the uniform share, the α share on
    lesions and the normalised α entropy of each branch, and the predicted class."""
    indexed = isinstance(items, Sequence) or (hasattr(items, "__len__") and hasattr(items, "__getitem__"))
    slices = (items[i] for i in range(len(items))) if indexed else items  # a data set: by index, never past its end
    rows = []
    for index, (image, target) in enumerate(slices):
        explanation = explain_slice(model, (image, target), index=index)
        lesions = _lesion_boxes(target)
        on = rois_on_lesions(explanation.roi_boxes, lesions, iou)
        file = str(target.get("file", f"item[{index}]"))
        rows.append({
            "file": file,
            "class": class_of(file) if class_of is not None else None,
            "predicted": explanation.predicted_name,
            "lesions": len(lesions),
            "RoIs on a lesion": int(on.sum()),
            "uniform share": float(on.mean()),
            "α POS share": float(explanation.alpha_pos[on].sum()),
            "α NEG share": float(explanation.alpha_neg[on].sum()),
            "entropy α POS": alpha_entropy(explanation.alpha_pos),
            "entropy α NEG": alpha_entropy(explanation.alpha_neg),
        })
    return pd.DataFrame(rows)


_SHARES: Sequence[str] = ("uniform share", "α POS share", "α NEG share")
_ENTROPIES: Sequence[str] = ("entropy α POS", "entropy α NEG")


def summarise_attention_on_lesions(per_slice: pd.DataFrame) -> pd.DataFrame:
    """Per class (and ``all``): slices, slices with an RoI on a lesion, and over those the
    mean uniform share and mean α share of each branch; over every slice the mean
    normalised entropy of each branch."""
    groups = [("all", per_slice)]
    if per_slice["class"].notna().any():
        groups = [(str(name), group) for name, group in per_slice.groupby("class", sort=False)] + groups
    rows = []
    for name, group in groups:
        with_lesion_rois = group[group["RoIs on a lesion"] > 0]
        row: dict[str, Any] = {"class": name, "slices": len(group), "slices with an RoI on a lesion": len(with_lesion_rois)}
        for column in _SHARES:
            row[f"mean {column}"] = float(with_lesion_rois[column].mean()) if len(with_lesion_rois) else np.nan
        for column in _ENTROPIES:
            row[f"mean {column}"] = float(group[column].mean()) if len(group) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def share_text(value: float) -> str:
    """A share or entropy of :func:`summarise_attention_on_lesions` for the prose: three
    decimals, or ``"not measurable"`` where no slice had an RoI on a lesion (NaN)."""
    return "not measurable" if np.isnan(value) else f"{value:.3f}"
