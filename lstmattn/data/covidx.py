"""COVIDx-CT split files and the classification data set built on them.

Format (``REFERENCE_CODE.md`` §3.1, ``shared/data/README.md``): one slice per line,
``<file name> <class> <xmin> <ymin> <xmax> <ymax>``, class 0 Normal, 1 Pneumonia
(the paper's common pneumonia, CP), 2 COVID-19; the box is the body crop of
COVID-Net CT with exclusive ``xmax, ymax``. The paper (and its code) trains on full
slices; ``crop_to_body=True`` applies the box instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset

from lstmattn.data.images import load_slice, resize_image, to_image_tensor
from lstmattn.data.splits import parse_listed
from lstmattn.errors import DataError

__all__ = [
    "COVIDX_CLASS_NAMES",
    "CovidxRecord",
    "CNCB_NAME_PREFIXES",
    "parse_class_digit_list",
    "format_covidx_line",
    "parse_covidx_split",
    "read_covidx_split",
    "CovidxClassificationDataset",
]

#: COVIDx class code → name.
COVIDX_CLASS_NAMES: dict[int, str] = {0: "Normal", 1: "Pneumonia", 2: "COVID-19"}


#: Class code → CNCB file-name prefix in COVIDx CT-1 (``NCP_341_1834_0022.png``).
CNCB_NAME_PREFIXES: dict[int, str] = {0: "Normal", 1: "CP", 2: "NCP"}


class CovidxRecord(NamedTuple):
    """One split-file line: file name, class code, body box ``(xmin, ymin, xmax, ymax)``."""

    name: str
    label: int
    box: tuple[int, int, int, int]


def format_covidx_line(record: CovidxRecord) -> str:
    """The split-file line of ``record`` (without newline)."""
    return " ".join([record.name, str(record.label), *map(str, record.box)])


def _parse_line(line: str) -> CovidxRecord:
    fields = line.split()
    if len(fields) != 6:
        raise ValueError(f"expected 6 fields '<file> <class> <xmin> <ymin> <xmax> <ymax>', got {len(fields)}: {line!r}")
    try:
        label, x0, y0, x1, y1 = (int(field) for field in fields[1:])
    except ValueError:
        raise ValueError(f"class and box must be integers: {line!r}") from None
    if label not in COVIDX_CLASS_NAMES:
        raise ValueError(f"unexpected class {label} (expected 0 Normal, 1 Pneumonia, 2 COVID-19)")
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise ValueError(f"empty or negative box ({x0}, {y0}, {x1}, {y1})")
    return CovidxRecord(fields[0], label, (x0, y0, x1, y1))


def parse_covidx_split(path: str | Path) -> tuple[list[CovidxRecord], list[DataError]]:
    """All well-formed records of a split file, plus one problem per bad or repeated line."""
    return parse_listed(path, _parse_line, lambda record: record.name)


def read_covidx_split(path: str | Path) -> list[CovidxRecord]:
    """Records of a COVIDx split file; raises the first malformed line as ``file:line: ...``."""
    records, problems = parse_covidx_split(path)
    if problems:
        raise problems[0]
    if not records:
        raise DataError(path, "split file lists no slices")
    return records


def _parse_class_digit_name(line: str) -> tuple[str, int]:
    fields = line.split()
    digit = fields[0].split("_", 1)[0] if len(fields) == 1 else ""
    if len(fields) != 1 or digit not in ("0", "1", "2") or "_" not in fields[0]:
        raise ValueError(f"expected one '<class digit>_<patient>_<scan>_<slice>.png' name, got {line!r}")
    return fields[0], int(digit)


def parse_class_digit_list(path: str | Path) -> tuple[list[tuple[str, int]], list[DataError]]:
    """Authors'-style list (``REFERENCE_CODE.md`` §3.2): one name per line whose CNCB
    prefix is replaced by the class digit, ``2_341_1834_0022.png``. Returns
    ``(name, class)`` of every good line plus one problem per bad or repeated line."""
    return parse_listed(path, _parse_class_digit_name, lambda record: record[0])


class CovidxClassificationDataset(Dataset):
    """COVIDx-CT slices with their image-level class.

    Args:
        split_file: a COVIDx split file (e.g. ``test_COVIDx_CT-1.txt``).
        image_dir: folder holding the listed PNGs.
        image_size: square bilinear resize, or ``None`` for the stored size (the paper
            uses 512).
        crop_to_body: crop each slice to its split-file box before resizing.

    Items: ``image`` (FloatTensor[3, H, W] in [0, 1]) and ``{"image_label":
    LongTensor[], "file": str}``. Files are opened lazily; ``lstmattn data verify``
    checks a whole copy up front.
    """

    def __init__(
        self,
        split_file: str | Path,
        image_dir: str | Path,
        *,
        image_size: int | None = None,
        crop_to_body: bool = False,
    ) -> None:
        if image_size is not None and image_size <= 0:
            raise ValueError(f"image_size: must be positive or None, got {image_size}")
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise DataError(self.image_dir, "image folder not found")
        self.records: list[CovidxRecord] = read_covidx_split(split_file)
        self.image_size = image_size
        self.crop_to_body = crop_to_body

    @property
    def labels(self) -> list[int]:
        """Class code of every record, in order."""
        return [record.label for record in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        record = self.records[index]
        path = self.image_dir / record.name
        grey = load_slice(path)
        if self.crop_to_body:
            x0, y0, x1, y1 = record.box
            height, width = grey.shape
            if x1 > width or y1 > height:
                raise DataError(path, f"body box {record.box} exceeds the {width}x{height} image")
            grey = grey[y0:y1, x0:x1]
        image = to_image_tensor(grey)
        if self.image_size is not None:
            image = resize_image(image, self.image_size)
        return image, {"image_label": torch.tensor(record.label, dtype=torch.int64), "file": record.name}
