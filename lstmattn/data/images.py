"""Reading slices and label maps from disk, and turning them into model tensors.

One function per format question:

* :func:`load_slice` — any 8-bit grey or RGB PNG/JPEG (COVIDx-CT PNGs, CNCB and
  iCTCF JPEGs, MedSeg crops) or a CT DICOM, as ``uint8[H, W]`` grey.
* :func:`load_fitted_slice`, :func:`fit_slice` — a slice of *any* user's file for
  prediction: refused below :data:`MIN_SLICE_SIDE` px a side, downscaled right after
  decoding to at most :data:`MAX_SLICE_SIDE` px on the long side (aspect kept: the model
  resizes to its own image size anyway), with a warning when it is far outside CT slice
  sizes (:data:`TYPICAL_SLICE_SIDES`).
* :func:`load_label_map` — a single-channel PNG mask (palette indices or grey values)
  as ``uint8[H, W]``, without any colour conversion.
* :func:`to_image_tensor`, :func:`resize_image`, :func:`resize_label_map` — the common
  ``FloatTensor[3, H, W]`` in ``[0, 1]`` form every loader returns (grey replicated to
  three channels, no standardisation: the model's transform does that, paper §4.1).

Every failure raises :class:`~lstmattn.errors.DataError` naming the file, including an
image larger than PIL's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``), which
is refused before it is decoded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from lstmattn.data.dicom import is_dicom_file, read_dicom_slice
from lstmattn.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "MIN_SLICE_SIDE",
    "MAX_SLICE_SIDE",
    "TYPICAL_SLICE_SIDES",
    "FittedSlice",
    "load_slice",
    "fit_slice",
    "load_fitted_slice",
    "load_label_map",
    "to_image_tensor",
    "resize_image",
    "resize_label_map",
]

#: File suffixes the raster loaders accept (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")

#: Slices with a side below this many pixels are refused for prediction.
MIN_SLICE_SIDE = 32
#: Slices are downscaled for prediction so that their long side is at most this.
MAX_SLICE_SIDE = 1024
#: CT slices are 512 x 512 almost always; a side outside this range gets a warning.
TYPICAL_SLICE_SIDES: tuple[int, int] = (64, 2048)

# PIL modes holding more than 8 bits per sample: not a COVIDx-style slice.
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass(frozen=True)
class FittedSlice:
    """A slice ready for prediction: ``uint8[h, w]`` grey with ``max(h, w) <=``
    :data:`MAX_SLICE_SIDE`, the ``(H, W)`` it had as stored, and a size warning."""

    image: np.ndarray
    original_size: tuple[int, int]
    warning: str | None = None


def _open_raster(path: Path, max_side: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Open and fully decode a PNG/JPEG, turning every failure into a DataError; returns
    the image and its stored ``(H, W)``.

    An image beyond PIL's decompression-bomb limit is refused before decoding; with
    ``max_side`` a JPEG is decoded at a reduced scale that still covers it (PIL draft).
    """
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
        stored = (image.size[1], image.size[0])
        if max_side is not None and image.format == "JPEG":
            image.draft(image.mode, (max_side, max_side))
        image.load()
    except UnidentifiedImageError:
        raise DataError(path, "not an image PIL can identify (expected PNG or JPEG)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(path, f"refused: too large to decode safely, not a CT slice ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(path, f"cannot decode image (truncated or corrupt?): {error}") from None
    return image, stored


def _read_grey(path: Path, max_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """``uint8[H, W]`` grey of a slice file and its stored ``(H, W)``; see :func:`load_slice`."""
    if is_dicom_file(path):
        grey = read_dicom_slice(path)
        return grey, (int(grey.shape[0]), int(grey.shape[1]))
    image, stored = _open_raster(path, max_side)
    if image.mode in _WIDE_MODES:
        raise DataError(path, f"{image.mode} image with more than 8 bits per pixel; expected 8-bit grey or RGB")
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8).copy(), stored


def load_slice(path: str | Path) -> np.ndarray:
    """Read one CT slice as ``uint8[H, W]`` grey, at its stored size.

    PNG/JPEG: grey images are returned as stored; RGB(A)/palette images are converted
    with PIL's ITU-R 601-2 luma (exact for grey stored in three equal channels).
    DICOM (by ``.dcm`` suffix or ``DICM`` marker): windowed to the COVIDx-CT window
    by :func:`lstmattn.data.dicom.read_dicom_slice`.
    """
    return _read_grey(Path(path), None)[0]


def _size_text(height: int, width: int) -> str:
    return f"{width}x{height} px"


def fit_slice(grey: np.ndarray, source: str | Path, original_size: tuple[int, int] | None = None) -> FittedSlice:
    """Check a ``uint8[H, W]`` slice's size for prediction and downscale it (area
    averaging, aspect kept) to at most :data:`MAX_SLICE_SIDE` px on the long side.

    ``original_size``: the ``(H, W)`` stored in the file when ``grey`` was already
    decoded at a reduced scale. Raises :class:`DataError` naming ``source`` when a side
    is below :data:`MIN_SLICE_SIDE` px (as stored, or after downscaling a very elongated
    image); the warning (without the file name) names sizes outside
    :data:`TYPICAL_SLICE_SIDES`.
    """
    if grey.ndim != 2 or grey.dtype != np.uint8:
        raise ValueError(f"grey: expected a uint8 array [H, W], got {grey.dtype} {grey.shape}")
    height, width = original_size or (int(grey.shape[0]), int(grey.shape[1]))
    stored = _size_text(height, width)
    if min(height, width) < MIN_SLICE_SIDE:
        raise DataError(source, f"{stored} is too small for a CT slice (at least {MIN_SLICE_SIDE} px a side)")
    scale = min(1.0, MAX_SLICE_SIDE / max(height, width))
    fitted = (max(1, round(height * scale)), max(1, round(width * scale)))
    if min(fitted) < MIN_SLICE_SIDE:
        raise DataError(source, f"{stored} is too elongated for a CT slice (short side {min(fitted)} px "
                        f"after fitting the long side into {MAX_SLICE_SIDE} px; at least {MIN_SLICE_SIDE} needed)")
    low, high = TYPICAL_SLICE_SIDES
    warning = None
    if min(height, width) < low or max(height, width) > high:
        warning = f"{stored} is far outside CT slice sizes (typically 512x512; expected {low}-{high} px a side)"
        if fitted != (height, width):
            warning += f"; downscaled to {_size_text(*fitted)}"
    if grey.shape != fitted:
        grey = np.array(Image.fromarray(grey).resize(fitted[::-1], Image.Resampling.BOX), dtype=np.uint8)
    return FittedSlice(grey, (height, width), warning)


def load_fitted_slice(path: str | Path) -> FittedSlice:
    """Read a slice file for prediction: :func:`load_slice` (a JPEG already decoded at a
    reduced scale when it is large), then :func:`fit_slice`."""
    path = Path(path)
    grey, stored = _read_grey(path, MAX_SLICE_SIDE)
    return fit_slice(grey, path, stored)


def load_label_map(path: str | Path) -> np.ndarray:
    """Read a segmentation mask as ``uint8[H, W]`` label values.

    Palette (``P``) PNGs give their palette indices, grey (``L``) PNGs their grey
    values; both are the class codes of the CNCB and MedSeg masks. Multi-channel masks
    are rejected rather than guessed at.
    """
    path = Path(path)
    image, _ = _open_raster(path)
    if image.mode not in ("P", "L"):
        raise DataError(path, f"mask has mode {image.mode}; expected a single-channel label map (palette or grey PNG)")
    return np.asarray(image, dtype=np.uint8).copy()


def to_image_tensor(grey: np.ndarray) -> torch.Tensor:
    """``uint8[H, W]`` → ``FloatTensor[3, H, W]`` in ``[0, 1]`` (grey replicated)."""
    if grey.ndim != 2 or grey.dtype != np.uint8:
        raise ValueError(f"grey: expected a uint8 array [H, W], got {grey.dtype} {grey.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(grey)).to(torch.float32).div_(255.0)
    return tensor.unsqueeze(0).expand(3, -1, -1).contiguous()


def resize_image(image: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of ``FloatTensor[C, H, W]`` to ``[C, size, size]``."""
    if image.shape[-2:] == (size, size):
        return image
    resized = F.interpolate(image.unsqueeze(0), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return resized.squeeze(0).clamp_(0.0, 1.0)


def resize_label_map(label_map: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of ``uint8[H, W]`` labels to ``[size, size]`` (no new values)."""
    if label_map.shape == (size, size):
        return label_map
    tensor = torch.from_numpy(np.ascontiguousarray(label_map))[None, None].to(torch.float32)
    resized = F.interpolate(tensor, size=(size, size), mode="nearest-exact")
    return resized[0, 0].to(torch.uint8).numpy()
