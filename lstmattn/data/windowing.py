"""The COVIDx-CT intensity window: Hounsfield units → 8-bit grey.

COVIDx-CT stores slices as 8-bit PNGs made with a window of centre −600 HU and width
1500 HU, truncated (floored) to integers. The same mapping turns our HU phantoms and
user DICOMs into pixels identical to the published PNGs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WINDOW_CENTER_HU", "WINDOW_WIDTH_HU", "hu_to_covidx_uint8"]

WINDOW_CENTER_HU: float = -600.0
WINDOW_WIDTH_HU: float = 1500.0


def hu_to_covidx_uint8(
    hu: np.ndarray,
    center: float = WINDOW_CENTER_HU,
    width: float = WINDOW_WIDTH_HU,
) -> np.ndarray:
    """grey = floor(255 · clip((HU − centre + width/2) / width, 0, 1)) as ``uint8``."""
    scaled = (np.asarray(hu, dtype=np.float64) - center + width / 2.0) / width
    return np.floor(255.0 * np.clip(scaled, 0.0, 1.0)).astype(np.uint8)
