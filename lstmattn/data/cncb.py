"""CNCB lesion-segmentation slices (the paper's 650 train/val + 100 test, §4.1).

Format (``REFERENCE_CODE.md`` §2.3): images ``imgs/<patient>_<slice>.jpg``, masks
``masks/<patient>_<slice>.png`` holding a label map 0 background, 1 lung field,
2 ground-glass opacity (GGO), 3 consolidation; split lists
``{train,test}_split_segmentation.txt`` with one image name per line.

Labels are the pixel values themselves — 1 lungs, 2 GGO, 3 consolidation — not the
reference code's rank among the values present (which turns consolidation into
label 2 on slices without GGO).
"""

from __future__ import annotations

from pathlib import Path

from lstmattn.data.segmentation import LabelMapSegmentationDataset, pair_images_with_masks
from lstmattn.data.splits import read_name_list
from lstmattn.labels import LESION_NAMES, LUNG_LABEL

__all__ = ["CNCB_MASK_VALUES", "CNCB_LABELS", "CncbSegmentationDataset"]

#: Mask value → meaning.
CNCB_MASK_VALUES: dict[int, str] = {0: "background", 1: "lungs", 2: "GGO", 3: "consolidation"}
#: Mask value → detection label (:mod:`lstmattn.labels`; the same numbers).
CNCB_LABELS: dict[int, int] = {1: LUNG_LABEL, 2: LESION_NAMES["GGO"], 3: LESION_NAMES["consolidation"]}


class CncbSegmentationDataset(LabelMapSegmentationDataset):
    """CNCB slices with lung/GGO/consolidation label maps, as lesion instances.

    Args:
        image_dir: folder of slice images (``.jpg``, ``.jpeg`` or ``.png``).
        mask_dir: folder of ``<stem>.png`` label maps.
        split_file: one image name per line; ``None`` takes every image in ``image_dir``.
        image_size: square resize (bilinear image, nearest mask) or ``None``.
        min_component_area: components of at most this many pixels are dropped (100 as
            in the reference code).
        include_lungs: make lung-field components instances with label 1; when False,
            value 1 is treated as background and only GGO (2) and consolidation (3)
            remain.

    Items: see :mod:`lstmattn.data.segmentation`.
    """

    def __init__(
        self,
        image_dir: str | Path,
        mask_dir: str | Path,
        *,
        split_file: str | Path | None = None,
        image_size: int | None = None,
        min_component_area: int = 100,
        include_lungs: bool = True,
    ) -> None:
        names = read_name_list(split_file) if split_file is not None else None
        label_values = {value: label for value, label in CNCB_LABELS.items() if include_lungs or label != LUNG_LABEL}
        super().__init__(
            pair_images_with_masks(image_dir, mask_dir, names),
            label_values,
            known_values=tuple(CNCB_MASK_VALUES),
            image_size=image_size,
            min_component_area=min_component_area,
        )
