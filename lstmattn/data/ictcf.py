"""iCTCF (HUST-19) slices for Table 4, as listed by the authors.

Format (``REFERENCE_CODE.md`` §3.3): ``train_ictcf.txt`` (600 names) and
``test_ictcf.txt`` (12,976 names), one file name per line. Names carry the COVIDx
class digit as prefix: ``0_nCT####.jpg`` negative (non-COVID CT), ``2_pCT####.jpg``
COVID-19 positive. iCTCF is a two-class problem, so this data set maps

    ``0_nCT`` → label 0 (negative),  ``2_pCT`` → label 1 (COVID-19).

The published test list holds 9,275 negative and 3,701 COVID-19 names, the reverse of
the counts in the paper's text; the list is taken as ground truth.
"""

from __future__ import annotations

from pathlib import Path

from lstmattn.data.class_folders import ClassFolderDataset
from lstmattn.data.splits import parse_listed, single_name
from lstmattn.errors import DataError

__all__ = ["ICTCF_PREFIXES", "ictcf_label", "parse_ictcf_split", "IctcfClassificationDataset"]

#: File-name prefix → label (named by :data:`lstmattn.labels.TWO_CLASS_NAMES`).
ICTCF_PREFIXES: dict[str, int] = {"0_nCT": 0, "2_pCT": 1}


def ictcf_label(name: str) -> int:
    """Label of an iCTCF file name from its prefix; ``ValueError`` for any other name."""
    for prefix, label in ICTCF_PREFIXES.items():
        if name.startswith(prefix):
            return label
    raise ValueError(f"file name {name!r} starts with neither '0_nCT' (negative) nor '2_pCT' (COVID-19)")


def parse_ictcf_split(path: str | Path) -> tuple[list[tuple[str, int]], list[DataError]]:
    """``(name, label)`` of every good line, plus one problem per bad or repeated line."""

    def parse(line: str) -> tuple[str, int]:
        name = single_name(line)
        return name, ictcf_label(name)

    return parse_listed(path, parse, lambda record: record[0])


class IctcfClassificationDataset(ClassFolderDataset):
    """iCTCF slices with a two-class label (0 negative, 1 COVID-19): the listed slices of
    one folder, served as :class:`~lstmattn.data.class_folders.ClassFolderDataset` serves
    any labelled slices.

    Args:
        split_file: ``train_ictcf.txt`` or ``test_ictcf.txt``.
        image_dir: folder holding the listed JPEGs under their prefixed names.
        image_size: square bilinear resize, or ``None`` for the stored size.

    Items: ``image`` (FloatTensor[3, H, W] in [0, 1]) and ``{"image_label":
    LongTensor[], "file": str}``.
    """

    def __init__(self, split_file: str | Path, image_dir: str | Path, *, image_size: int | None = None) -> None:
        if not Path(image_dir).is_dir():
            raise DataError(Path(image_dir), "image folder not found")
        records, problems = parse_ictcf_split(split_file)
        if problems:
            raise problems[0]
        if not records:
            raise DataError(split_file, "split file lists no slices")
        super().__init__(image_dir, records, image_size=image_size)
