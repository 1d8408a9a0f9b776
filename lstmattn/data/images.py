"""Reading slices and label maps from disk, and turning them into model tensors.

One function per format question:

* :func:`load_slice` — any 8-bit grey or RGB PNG/JPEG (COVIDx-CT PNGs, CNCB and
  iCTCF JPEGs, MedSeg crops) or a CT DICOM, as ``uint8[H, W]`` grey.
* :func:`load_label_map` — a single-channel PNG mask (palette indices or grey values)
  as ``uint8[H, W]``, without any colour conversion.
* :func:`to_image_tensor`, :func:`resize_image`, :func:`resize_label_map` — the common
  ``FloatTensor[3, H, W]`` in ``[0, 1]`` form every loader returns (grey replicated to
  three channels, no standardisation: the model's transform does that, paper §4.1).

Every failure raises :class:`~lstmattn.errors.DataError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from lstmattn.data.dicom import is_dicom_file, read_dicom_slice
from lstmattn.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "load_slice",
    "load_label_map",
    "to_image_tensor",
    "resize_image",
    "resize_label_map",
]

#: File suffixes the raster loaders accept (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")

# PIL modes holding more than 8 bits per sample: not a COVIDx-style slice.
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def _open_raster(path: Path) -> Image.Image:
    """Open and fully decode a PNG/JPEG, turning every failure into a DataError."""
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        image = Image.open(path)
        image.load()
    except UnidentifiedImageError:
        raise DataError(path, "not an image PIL can identify (expected PNG or JPEG)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(path, f"cannot decode image (truncated or corrupt?): {error}") from None
    return image


def load_slice(path: str | Path) -> np.ndarray:
    """Read one CT slice as ``uint8[H, W]`` grey.

    PNG/JPEG: grey images are returned as stored; RGB(A)/palette images are converted
    with PIL's ITU-R 601-2 luma (exact for grey stored in three equal channels).
    DICOM (by ``.dcm`` suffix or ``DICM`` marker): windowed to the COVIDx-CT window
    by :func:`lstmattn.data.dicom.read_dicom_slice`.
    """
    path = Path(path)
    if is_dicom_file(path):
        return read_dicom_slice(path)
    image = _open_raster(path)
    if image.mode in _WIDE_MODES:
        raise DataError(path, f"{image.mode} image with more than 8 bits per pixel; expected 8-bit grey or RGB")
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8).copy()


def load_label_map(path: str | Path) -> np.ndarray:
    """Read a segmentation mask as ``uint8[H, W]`` label values.

    Palette (``P``) PNGs give their palette indices, grey (``L``) PNGs their grey
    values; both are the class codes of the CNCB and MedSeg masks. Multi-channel masks
    are rejected rather than guessed at.
    """
    path = Path(path)
    image = _open_raster(path)
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
