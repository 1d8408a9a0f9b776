"""Cropping a full field-of-view CT slice the way the two-class training screenshots are framed.

The SARS-CoV-2 CT-scan slices (``data.source="class-folders"``, chapter 7's real data)
are screenshots cropped around the lungs, while a DICOM series or a COVIDx PNG shows the
whole field of view: air around the body, the CT table below it. A model trained on the
screenshots should see a slice framed the same way, so ``lstmattn predict`` (and
``lstmattn evaluate --data``) crop such a slice before the model resizes it
(:func:`find_body_crop`), when the run was trained on cropped slices (:func:`crop_rule`).

The crop works on the ``uint8[H, W]`` grey slice the model is given (a DICOM already
windowed to the COVIDx window, −600/1500 HU; no HU needed), sampled every
``min(H, W) // WORK_SIDE``-th pixel for the masks:

1. **body**: pixels brighter than Otsu's threshold (soft tissue against air and lung:
   145-154 on COVIDx-window slices, about −500 HU; it follows the window of a PNG),
   opened with a square of :data:`OPENING_RADIUS` of the short side (the CT table's thin
   shells, cables and blankets go; a thin chest wall stays), the largest connected
   component, its holes filled;
2. **lungs**: the holes of the body (dark regions it encloses) of at least
   :data:`MIN_LUNG_SHARE` of its area;
3. **box**: the lungs' bounding box widened by :data:`LUNG_MARGIN`, then grown in its
   short direction into :data:`ASPECT_RANGE`, kept inside the body's box; without lungs
   (a neck or abdomen slice) the body's box.

No crop, with the reason, for a slice already framed on the body (at least
:data:`FRAMED_BORDER_SHARE` of its border is body: a screenshot, a MedSeg crop), one
without a body (a single grey level, or no bright region of :data:`MIN_BODY_SHARE` of
the slice) and a box under :data:`~lstmattn.data.images.MIN_SLICE_SIDE` px a side.

Measured on the sample data (``shared/data``; the constants come from these figures):

* **training screenshots** (``sarscov2-ct``, all 1,000): 195-502 × 119-416 px, width /
  height 1.36 (median; p5-p95 1.12-1.64). Their lungs' box (247 of every 4th slice)
  spans 93 % of the width and 88 % of the height (medians; p10 86 % and 78 %), leaving
  3.1 % / 4.0 % of the lungs' width left / right and 7.1 % / 6.0 % of their height
  above / below; their body's box is the whole image (median and p10 of 60). 99 % of
  them have at least 46 % of their border on the body (median 94 %), as have all 50
  MedSeg crops (at least 65 %).
* **full field of view** (the 269 COVIDx PNGs of 3 patients): at most 34 % of the border
  is body (median 19 %). On the 124 P001 DICOM slices with lungs the body's box is 99 %
  of the width and 69 % of the height, and the lungs span 75 % of its width and 73 % of
  its height (medians; normal001, 117 slices: 100 %, 82 %; 73 %, 55 %): a body crop
  alone frames the lungs smaller than the screenshots do, hence the lungs' box.

What :func:`find_body_crop` does with them: it leaves 995 of the 1,000 screenshots as
they are (already framed; the other 5, framed on the body with air in the corners, keep
69-93 % of their area) and all 50 MedSeg crops; it crops all 148 P001 DICOM slices (136
around the lungs, 12 to the body) and all 269 COVIDx PNGs (247 and 22), to 44 % and
48 % of the slice (medians), the table left out (checked by eye on the 3 patients). In
the crops of the P001 and normal001 slices the lungs span 94 % of the width and 88 % of
the height, and 95 % of the border is body (medians): the screenshots' framing. The
grey-level histogram distance of P001 slices to the screenshots'
(:mod:`lstmattn.data.intensity`) falls from 0.43 whole to 0.28 cropped (medians of 74).
3.5 ms per 512² slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy import ndimage
from skimage.filters import threshold_otsu
from torch.utils.data import Dataset

from lstmattn.data.images import MIN_SLICE_SIDE, resize_image, to_image_tensor

__all__ = [
    "CROP_MODES",
    "BODY_CROPPED_SOURCES",
    "FRAMED_BORDER_SHARE",
    "OPENING_RADIUS",
    "MIN_BODY_SHARE",
    "MIN_LUNG_SHARE",
    "LUNG_MARGIN",
    "ASPECT_RANGE",
    "WORK_SIDE",
    "SliceCrop",
    "CropRule",
    "crop_rule",
    "NO_CROP",
    "find_body_crop",
    "BodyCroppedView",
]

CropMode = Literal["auto", "body", "none"]
#: ``auto``: crop when the run was trained on cropped slices; ``body``: always; ``none``: never.
CROP_MODES: tuple[str, ...] = ("auto", "body", "none")
#: Training data sources (``data.source``) whose slices are cropped around the lungs:
#: the folder-per-class SARS-CoV-2 CT-scan screenshots. Phantoms, COVIDx-CT and iCTCF
#: slices show the whole field of view (air and table around the body).
BODY_CROPPED_SOURCES: frozenset[str] = frozenset({"class-folders"})

#: A slice with at least this share of its border pixels on the body is already framed.
FRAMED_BORDER_SHARE = 0.4
#: Half the side of the square the body mask is opened with, as a share of the short
#: side of the sampled slice (1 px of a 512² slice sampled to 256²: structures under about
#: 6 px go). 1 % broke the thin lateral chest wall of patient cap001, losing its lungs.
OPENING_RADIUS = 0.004
#: The body must cover at least this share of the slice.
MIN_BODY_SHARE = 0.05
#: A dark region inside the body counts as lung from this share of the body's area.
MIN_LUNG_SHARE = 0.01
#: Margin added to each side of the lungs' box, as a share of its (width, height): the
#: training screenshots' median margins (3.1-4.0 % across, 6.0-7.1 % up and down).
LUNG_MARGIN: tuple[float, float] = (0.035, 0.065)
#: Width / height range of the crop: the training screenshots' p5-p95 (median 1.36); a
#: box outside it grows in its short direction (the model squashes every slice square).
ASPECT_RANGE: tuple[float, float] = (1.12, 1.64)
#: The masks are found on an image sampled down to about this many pixels on its short side.
WORK_SIDE = 256

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class SliceCrop:
    """The part of a slice the model sees: ``box`` ``(x0, y0, x1, y1)`` in the slice's
    pixels (``x1``, ``y1`` exclusive) or ``None`` for the whole slice; ``basis`` says what
    the box was drawn around (``"lungs"`` or ``"body"``); ``reason`` says why."""

    box: Box | None
    basis: Literal["lungs", "body"] | None
    reason: str

    @property
    def offset(self) -> tuple[int, int]:
        """``(x0, y0)``: where the crop's pixel (0, 0) lies in the slice."""
        return (0, 0) if self.box is None else (self.box[0], self.box[1])

    def apply(self, grey: np.ndarray) -> np.ndarray:
        """``grey`` cut to :attr:`box` (a view), or ``grey`` itself without a box."""
        if self.box is None:
            return grey
        x0, y0, x1, y1 = self.box
        return grey[y0:y1, x0:x1]

    def to_json(self) -> dict[str, Any]:
        return {"box": None if self.box is None else list(self.box), "basis": self.basis, "reason": self.reason}


@dataclass(frozen=True)
class CropRule:
    """Whether slices are cropped for a model (``crop``), from the mode asked for and
    the data the model was trained on, and why (``reason``)."""

    mode: CropMode
    crop: bool
    reason: str

    def slice_crop(self, grey: np.ndarray) -> SliceCrop:
        """:func:`find_body_crop` of ``grey`` when the rule crops, else no crop with the
        rule's reason."""
        return find_body_crop(grey) if self.crop else SliceCrop(None, None, f"not cropped: {self.reason}")

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "crop": self.crop, "reason": self.reason}


def crop_rule(mode: str, data_source: str | None) -> CropRule:
    """The crop rule of ``mode`` (:data:`CROP_MODES`) for a model trained on
    ``data_source`` (its ``data.source``; ``None`` when unknown): ``auto`` crops exactly
    when the source is one of :data:`BODY_CROPPED_SOURCES`."""
    if mode == "none":
        return CropRule("none", False, "crop mode 'none': slices are predicted as given")
    if mode == "body":
        return CropRule("body", True, "crop mode 'body': every slice is cropped around its lungs (or body)")
    if mode != "auto":
        raise ValueError(f"crop mode must be one of {list(CROP_MODES)}, got {mode!r}")
    if data_source in BODY_CROPPED_SOURCES:
        return CropRule("auto", True, f"crop mode 'auto': the model was trained on data.source {data_source!r}, "
                        "slices cropped around the lungs")
    trained = "an unknown data source" if data_source is None else f"data.source {data_source!r}"
    return CropRule("auto", False, f"crop mode 'auto': the model was trained on {trained}, full field-of-view slices")


#: The rule of crop mode ``none``: every slice as given (the default of the API).
NO_CROP: CropRule = crop_rule("none", None)


def _border_share(mask: np.ndarray) -> float:
    """The share of the image's border pixels that are on in ``mask``."""
    return float(_border(mask).mean())


def _border(array: np.ndarray) -> np.ndarray:
    """The border pixels of a 2-D ``array``, as one row."""
    return np.concatenate([array[0], array[-1], array[1:-1, 0], array[1:-1, -1]])


def _opened(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` opened with a ``(2 radius + 1)``² square (separable min/max filters):
    structures thinner than the square go, thicker ones keep their shape."""
    size = 2 * radius + 1
    return ndimage.maximum_filter(ndimage.minimum_filter(mask.view(np.uint8), size=size), size=size).astype(bool)


def _components(mask: np.ndarray, min_area: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The 8-connected components of ``mask``: their label image and the labels of those
    of ``min_area`` pixels or more, largest first."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = np.argsort(sizes)[::-1]
    return labels, order[sizes[order] >= min_area] + 1


def _holes(body: np.ndarray) -> np.ndarray:
    """The pixels off in ``body`` that the outside cannot reach (4-connected), as
    :func:`scipy.ndimage.binary_fill_holes` finds them, in one labelling."""
    outside, _ = ndimage.label(~body)
    reached = np.unique(_border(outside))
    return (outside > 0) & ~np.isin(outside, reached)


def _bounding_box(mask: np.ndarray) -> Box:
    """``(x0, y0, x1, y1)`` of the on pixels of a non-empty ``mask`` (``x1``, ``y1`` exclusive)."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def _scaled(box: Box, step: int, shape: tuple[int, ...]) -> Box:
    """A box of an image sampled every ``step`` pixels, in the pixels of the ``shape`` image."""
    x0, y0, x1, y1 = box
    return x0 * step, y0 * step, min(x1 * step, shape[1]), min(y1 * step, shape[0])


def _widened(box: Box, margin: tuple[float, float], within: Box) -> Box:
    """``box`` widened by ``margin`` (shares of its width and height) on every side,
    clipped to ``within``."""
    x0, y0, x1, y1 = box
    dx, dy = round(margin[0] * (x1 - x0)), round(margin[1] * (y1 - y0))
    return max(x0 - dx, within[0]), max(y0 - dy, within[1]), min(x1 + dx, within[2]), min(y1 + dy, within[3])


def _grown(start: int, end: int, length: int, low: int, high: int) -> tuple[int, int]:
    """The interval ``[start, end)`` grown about its centre to ``length`` (never shrunk),
    moved to lie within ``[low, high)`` and clipped where it is longer than that."""
    length = max(length, end - start)
    start = min(max(round((start + end - length) / 2), low), high - length)
    return max(start, low), min(start + length, high)


def _in_aspect_range(box: Box, within: Box) -> Box:
    """``box`` grown in its short direction, inside ``within``, until its width / height
    lies in :data:`ASPECT_RANGE` (as far as ``within`` allows)."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    low, high = ASPECT_RANGE
    if width > high * height:
        y0, y1 = _grown(y0, y1, round(width / high), within[1], within[3])
    elif width < low * height:
        x0, x1 = _grown(x0, x1, round(low * height), within[0], within[2])
    return x0, y0, x1, y1


def _body_and_lungs(bright: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The body (the largest component of ``bright`` after opening, holes filled) and
    the lungs (its holes of :data:`MIN_LUNG_SHARE` of its area or more)."""
    radius = max(1, round(OPENING_RADIUS * min(bright.shape)))
    labels, largest_first = _components(_opened(bright, radius))
    body = labels == largest_first[0] if len(largest_first) else np.zeros_like(bright)
    holes = _holes(body)
    filled = body | holes
    labels, lungs = _components(holes, MIN_LUNG_SHARE * filled.sum())
    return filled, np.isin(labels, lungs)


def find_body_crop(grey: np.ndarray) -> SliceCrop:
    """Where to crop a full field-of-view ``uint8[H, W]`` slice so that it is framed like
    the training screenshots: around the lungs with a margin, else around the body,
    never the table or the air around it (the module docstring gives the steps and the
    cases left uncropped, each with its reason). The masks are found on every
    ``min(H, W) // WORK_SIDE``-th pixel (every 2nd of a 512² slice: 3.5 ms instead of 44)."""
    if grey.ndim != 2 or grey.dtype != np.uint8:
        raise ValueError(f"grey: expected a uint8 array [H, W], got {grey.dtype} {grey.shape}")
    if grey.min() == grey.max():
        return SliceCrop(None, None, f"no body found: the slice has a single grey level ({int(grey.min())})")
    bright = grey > threshold_otsu(grey)
    framed = _border_share(bright)
    if framed >= FRAMED_BORDER_SHARE:
        return SliceCrop(None, None, f"already framed on the body: {100 * framed:.0f} % of its border is body "
                         f"(full field-of-view slices: under {100 * FRAMED_BORDER_SHARE:.0f} %)")
    step = max(1, min(grey.shape) // WORK_SIDE)
    body, lungs = _body_and_lungs(bright[::step, ::step])
    share = float(body.mean())
    if share < MIN_BODY_SHARE:
        return SliceCrop(None, None, f"no body found: the largest bright region covers {100 * share:.1f} % of the "
                         f"slice (at least {100 * MIN_BODY_SHARE:.0f} % needed)")
    body_box = _scaled(_bounding_box(body), step, grey.shape)
    if lungs.any():
        box, basis = _widened(_scaled(_bounding_box(lungs), step, grey.shape), LUNG_MARGIN, body_box), "lungs"
        reason = (f"cropped around the lungs with a margin of {100 * LUNG_MARGIN[0]:.1f} % of their width and "
                  f"{100 * LUNG_MARGIN[1]:.1f} % of their height, as the training screenshots frame them")
    else:
        box, basis, reason = body_box, "body", "no lungs found inside the body: cropped to the body"
    box = _in_aspect_range(box, body_box)
    width, height = box[2] - box[0], box[3] - box[1]
    if min(width, height) < MIN_SLICE_SIDE:
        return SliceCrop(None, None, f"not cropped: the {basis} box is {width}x{height} px, under "
                         f"{MIN_SLICE_SIDE} px a side")
    return SliceCrop(box, basis, reason)


class BodyCroppedView(Dataset):
    """The items of ``base`` (classification slices at their stored size, ``image_size``
    ``None``) with each image cropped by :func:`find_body_crop` and resized to
    ``image_size``², as :class:`~lstmattn.data.class_folders.ClassFolderDataset` resizes."""

    def __init__(self, base: Dataset, image_size: int) -> None:
        if image_size <= 0:
            raise ValueError(f"image_size: must be positive, got {image_size}")
        self.base = base
        self.image_size = image_size

    @property
    def labels(self) -> list[int]:
        """The base's label of every item, in order."""
        return self.base.labels

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image, target = self.base[index]
        grey = image[0].mul(255).round_().to(torch.uint8).numpy()  # exact: the loaders divide uint8 by 255
        cropped = find_body_crop(grey).apply(grey)
        return resize_image(to_image_tensor(cropped), self.image_size), target
