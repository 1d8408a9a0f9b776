"""PIL overlays: lesion masks and α-weighted RoI boxes on a grey slice.

:func:`lesion_panel` and :func:`draw_rois` are the pieces every picture of the attention
(§3.7, Eq. 5) is drawn with: the live explorer, the static viewer and the overlay PNG of
``lstmattn predict`` (:func:`render_overlay`), whose layout (exact pixel size, so callers
can rely on it) is::

    +---------------- header: source, predicted class, sigma(Delta) per class, legend, -+
    |                 what the model was trained on, the slice's warnings               |
    | positive branch (x_POS) panel, W x H   | negative branch (x_NEG) panel, W x H    |
    +----------------------------------------+-----------------------------------------+

A model trained on the synthetic phantoms and a slice out of its training distribution
(or far outside CT slice sizes) are written in the header in :data:`WARNING_COLOUR`.

Both panels show the slice in grey with the lesion masks and the β RoI boxes of that
branch's attention, each drawn with line width and opacity proportional to its α
(relative to the branch's largest α; a 10 % opacity floor keeps every RoI visible).
When the model saw a crop of the slice (``lstmattn predict --crop``), the whole slice is
drawn with the crop's box as a thin frame in :data:`CROP_COLOUR`, named in the header.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
from isal import isal_zlib
from PIL import Image, ImageDraw, ImageFont

from lstmattn.engine.predict import PHANTOM_TRAINED, SlicePrediction
from lstmattn.labels import LESION_LABELS
from lstmattn.viz.attention import BRANCHES
from lstmattn.viz.style import BRANCH_COLOURS, RGB, label_rgba8, legend_text

__all__ = ["WARNING_COLOUR", "CROP_COLOUR", "png_bytes", "rgb_png_bytes", "lesion_panel", "draw_rois", "header_height",
           "overlay_size", "render_overlay"]

#: Colour of the header lines that warn (phantom-trained model, slice warnings).
WARNING_COLOUR: RGB = (255, 190, 0)
#: Colour of the frame around the part of the slice the model saw (a crop).
CROP_COLOUR: RGB = (150, 150, 150)
_TEXT_COLOUR: RGB = (255, 255, 255)
_HEADER_LINES = 5
_MIN_OPACITY = 0.1
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_UP_FILTER = 2


def png_bytes(image: Image.Image, *, optimize: bool = True) -> bytes:
    """``image`` encoded as PNG by Pillow (``optimize``: smaller, slower)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=optimize)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def rgb_png_bytes(rgb: np.ndarray, *, compress_level: int = 2) -> bytes:
    """The ``uint8[H, W, 3]`` image as an 8-bit RGB PNG, every row "Up"-filtered (the
    difference to the row above, PNG filter type 2) and deflated by ISA-L (``isal``) at
    ``compress_level`` (0-3).

    The overlays of ``lstmattn predict`` use it instead of :func:`png_bytes`: Pillow tries
    the PNG filters on every row, which made its encoding most of an overlay's cost; one
    vectorised filter halves the encoding time of a 1024 × 598 overlay at the same file
    size. ISA-L's deflate then takes 2.4 instead of zlib's 18.8 ms (level 3) for such an
    overlay, for files 15 % larger (benchmarks/MEASUREMENTS.md, "lstmattn predict on a
    series"). Any PNG reader decodes the result: the stream is standard zlib."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb_png_bytes needs uint8[H, W, 3], got {rgb.dtype}{list(rgb.shape)}")
    height, width, _ = rgb.shape
    rows = rgb.reshape(height, width * 3)
    scanlines = np.empty((height, 1 + width * 3), dtype=np.uint8)
    scanlines[:, 0] = _PNG_UP_FILTER
    scanlines[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=scanlines[1:, 1:])  # uint8 arithmetic wraps modulo 256, as PNG's does
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, deflate, adaptive filters, no interlace
    return (_PNG_SIGNATURE + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", isal_zlib.compress(scanlines, compress_level)) + _png_chunk(b"IEND", b""))


def lesion_panel(image: np.ndarray, lesion_map: np.ndarray) -> Image.Image:
    """The ``uint8[H, W]`` grey slice with the lesions of ``lesion_map`` (2 GGO,
    3 consolidation) blended in, RGBA."""
    panel = Image.fromarray(image, mode="L").convert("RGBA")
    layer = np.zeros((*image.shape, 4), dtype=np.uint8)
    for label in LESION_LABELS:
        layer[lesion_map == label] = label_rgba8(label)
    return Image.alpha_composite(panel, Image.fromarray(layer, mode="RGBA"))


def draw_rois(panel: Image.Image, boxes: Sequence[Sequence[float]], alphas: Sequence[float], colour: RGB) -> Image.Image:
    """RoI boxes with line width and opacity ∝ α / max α (Eq. 5), strongest on top."""
    layer = Image.new("RGBA", panel.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    largest = max(alphas, default=0.0) or 1.0
    max_width = max(2, panel.size[0] // 100)
    for box, alpha in sorted(zip(boxes, alphas), key=lambda pair: pair[1]):
        x1, y1, x2, y2 = box
        if x2 <= x1 or y2 <= y1:
            continue
        weight = alpha / largest
        opacity = int(255 * max(_MIN_OPACITY, weight))
        draw.rectangle((x1, y1, x2, y2), outline=(*colour, opacity), width=max(1, round(weight * max_width)))
    return Image.alpha_composite(panel, layer)


def _font_size(width: int) -> int:
    return max(10, width // 40)


def _font(width: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=_font_size(width))


def header_height(width: int) -> int:
    """Height in pixels of the text band above the panels for a slice ``width`` wide."""
    return _HEADER_LINES * (_font_size(width) + 4) + 6


def overlay_size(height: int, width: int) -> tuple[int, int]:
    """``(width, height)`` of the overlay PNG of an ``H x W`` slice (PIL order)."""
    return 2 * width, height + header_height(width)


def _label_panel(panel: Image.Image, text: str, colour: RGB, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
    draw = ImageDraw.Draw(panel)
    left, top, right, bottom = draw.textbbox((4, 4), text, font=font)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0, 255))
    draw.text((4, 4), text, fill=(*colour, 255), font=font)


def _crop_frame(panel: Image.Image, prediction: SlicePrediction) -> Image.Image:
    """``panel`` with the box of the prediction's crop drawn as a thin frame (as it is
    without a crop)."""
    box = prediction.crop.box if prediction.crop else None
    if box is None:
        return panel
    x0, y0, x1, y1 = box
    width = max(1, panel.size[0] // 256)
    ImageDraw.Draw(panel).rectangle((x0, y0, x1 - 1, y1 - 1), outline=(*CROP_COLOUR, 255), width=width)
    return panel


def _crop_text(prediction: SlicePrediction) -> str:
    """The header's note of the part of the slice the model saw ('' without a crop)."""
    box = prediction.crop.box if prediction.crop else None
    return "" if box is None else f"  |  model saw x {box[0]}-{box[2]}, y {box[1]}-{box[3]} (grey frame)"


def _header_lines(prediction: SlicePrediction) -> list[tuple[str, RGB]]:
    """The header's text lines and their colours."""
    probabilities = "   ".join(f"{name} {p:.3f}" for name, p in zip(prediction.class_names, prediction.class_probs))
    trained_on = (prediction.trained_on or "unknown (no run record)").replace("—", "-")  # the default font has no em dash
    phantom = prediction.trained_on == PHANTOM_TRAINED
    warnings = prediction.warnings
    return [
        (f"{Path(prediction.source).name}  |  predicted: {prediction.predicted_class}{_crop_text(prediction)}", _TEXT_COLOUR),
        (f"sigma(Delta): {probabilities}", _TEXT_COLOUR),
        (f"lesions (score >= {prediction.score_threshold:g}): {legend_text()}; RoI boxes: width and opacity proportional to alpha", _TEXT_COLOUR),
        (f"{'WARNING: ' if phantom else ''}model trained on {trained_on}", WARNING_COLOUR if phantom else _TEXT_COLOUR),
        (f"WARNING: {'; '.join(warnings)}" if warnings else "slice warnings: none", WARNING_COLOUR if warnings else _TEXT_COLOUR),
    ]


def render_overlay(prediction: SlicePrediction) -> bytes:
    """The overlay PNG of one slice prediction (σ(Δ) of Eq. 9, the lesions, α of both
    branches), as bytes of size :func:`overlay_size`."""
    height, width = prediction.size
    font = _font(width)
    canvas = Image.new("RGB", overlay_size(height, width), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    for line_number, (line, colour) in enumerate(_header_lines(prediction)):
        draw.text((4, 3 + line_number * (_font_size(width) + 4)), line, fill=colour, font=font)
    base = _crop_frame(lesion_panel(prediction.image, prediction.lesion_map), prediction)
    attention = prediction.attention
    for column, branch in enumerate(BRANCHES):
        colour = BRANCH_COLOURS[branch]
        panel = draw_rois(base, attention["roi_boxes"], attention["alpha"][branch], colour)
        _label_panel(panel, f"{branch} branch attention (x_{branch[:3].upper()})", colour, font)
        canvas.paste(panel.convert("RGB"), (column * width, header_height(width)))
    return rgb_png_bytes(np.asarray(canvas))
