"""Plain split lists: one image file name per line.

Used by the CNCB segmentation lists (``train_split_segmentation.txt``, 650 names;
``test_split_segmentation.txt``, 100 names), the iCTCF lists and the authors'
3,000-slice classification list (``REFERENCE_CODE.md`` §2.3, §3.2-3.3). Blank lines
are ignored; a line with more than one field is malformed. Problems are reported as
:class:`~lstmattn.errors.DataError` with ``file:line`` as the path.

Lists saved on Windows read the same as the originals: a leading UTF-8 byte-order mark
is dropped and CRLF (or CR) line ends count as LF (:func:`canonical_list_bytes` gives
the bytes a manifest's size and SHA-256 describe).
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Callable, TypeVar

from lstmattn.errors import DataError

__all__ = [
    "read_lines",
    "canonical_list_bytes",
    "parse_listed",
    "single_name",
    "parse_name_list",
    "read_name_list",
    "line_error",
]

Record = TypeVar("Record")


def line_error(path: Path, line_number: int, problem: str) -> DataError:
    """A DataError located at ``path:line_number``."""
    return DataError(f"{path}:{line_number}", problem)


def read_lines(path: str | Path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of every non-blank line of a UTF-8 text file
    (a byte-order mark and CRLF line ends are read as if absent)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "split file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")  # text mode: CRLF and CR read as LF
    except UnicodeDecodeError as error:
        raise DataError(path, f"not a UTF-8 text file ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise DataError(path, f"cannot read: {error.strerror}") from None
    return [(number, line.strip()) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]


def canonical_list_bytes(data: bytes) -> bytes:
    """A list file's bytes without a leading UTF-8 byte-order mark and with LF line ends:
    the form the manifests' byte sizes and SHA-256 digests describe."""
    return data.removeprefix(codecs.BOM_UTF8).replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def parse_listed(
    path: str | Path, parse_line: Callable[[str], Record], name_of: Callable[[Record], str]
) -> tuple[list[Record], list[DataError]]:
    """Every record of a list file whose lines ``parse_line`` accepts, plus one problem per
    line it rejects (its ``ValueError`` message) or whose name was listed before."""
    path = Path(path)
    records: list[Record] = []
    problems: list[DataError] = []
    seen: dict[str, int] = {}
    for number, line in read_lines(path):
        try:
            record = parse_line(line)
        except ValueError as error:
            problems.append(line_error(path, number, str(error)))
            continue
        name = name_of(record)
        if name in seen:
            problems.append(line_error(path, number, f"{name} already listed on line {seen[name]}"))
            continue
        seen[name] = number
        records.append(record)
    return records, problems


def single_name(line: str) -> str:
    """The one file name of a line; ``ValueError`` when the line has more fields."""
    fields = line.split()
    if len(fields) != 1:
        raise ValueError(f"expected one file name, got {len(fields)} fields: {line!r}")
    return fields[0]


def parse_name_list(path: str | Path) -> tuple[list[str], list[DataError]]:
    """All names of a one-name-per-line list, plus one problem per malformed or repeated line."""
    return parse_listed(path, single_name, lambda name: name)


def read_name_list(path: str | Path) -> list[str]:
    """Names of a one-name-per-line list; raises the first problem found."""
    names, problems = parse_name_list(path)
    if problems:
        raise problems[0]
    return names

