"""MedSeg COVID-19 CT slices as packaged in COVID-SemiSeg (Fan et al., IEEE TMI 2020).

Format (``shared/data/README.md``): ``Imgs/<n>.jpg`` 8-bit grey slices cropped to the
body (sizes vary) and ``GT/<n>.png`` palette masks 0 background, 1 ground-glass
opacity, 2 consolidation. There is no lung class, so the values map onto the CNCB
labels as GGO → 2 and consolidation → 3, keeping one label space for both sets.
Terms: non-commercial use only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from lstmattn.data.segmentation import LabelMapSegmentationDataset, pair_images_with_masks
from lstmattn.labels import LESION_NAMES

__all__ = ["MEDSEG_MASK_VALUES", "MEDSEG_LABELS", "MedsegSegmentationDataset"]

#: Mask value → meaning.
MEDSEG_MASK_VALUES: dict[int, str] = {0: "background", 1: "GGO", 2: "consolidation"}
#: Mask value → detection label (:mod:`lstmattn.labels`: 2 GGO, 3 consolidation).
MEDSEG_LABELS: dict[int, int] = {1: LESION_NAMES["GGO"], 2: LESION_NAMES["consolidation"]}


class MedsegSegmentationDataset(LabelMapSegmentationDataset):
    """MedSeg slices with GGO/consolidation palette masks, as lesion instances.

    Args:
        image_dir: the ``Imgs`` folder; every ``.jpg``/``.jpeg``/``.png`` is used,
            in natural order of the names.
        mask_dir: the ``GT`` folder of ``<stem>.png`` palette masks.
        names: the image file names to serve (a split list), in order; default every
            image of ``image_dir``.
        image_size: square resize (bilinear image, nearest mask) or ``None``.
        min_component_area: components of at most this many pixels are dropped.

    Items: see :mod:`lstmattn.data.segmentation`.
    """

    def __init__(
        self,
        image_dir: str | Path,
        mask_dir: str | Path,
        *,
        names: Sequence[str] | None = None,
        image_size: int | None = None,
        min_component_area: int = 100,
    ) -> None:
        super().__init__(
            pair_images_with_masks(image_dir, mask_dir, names),
            MEDSEG_LABELS,
            known_values=tuple(MEDSEG_MASK_VALUES),
            image_size=image_size,
            min_component_area=min_component_area,
        )
