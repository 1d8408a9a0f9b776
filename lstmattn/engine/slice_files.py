"""The slices behind a ``predict`` input, in slice order, decoded while the model works.

A folder's files are grouped by DICOM series (SeriesInstanceUID; PNG/JPEG slices form
one more group), the groups in the order their first file comes in natural name order,
each ordered by InstanceNumber, then by natural file name. Putting the files in that
order needs the DICOM headers only (:func:`order_slice_files`, one header-only pass);
the pixels are decoded afterwards by a thread pool while the model predicts the slices
before them (:class:`DecodedSlices`), instead of all before the first prediction.

The decoding threads also find the part of each slice the model is to see, when the
:class:`~lstmattn.data.body_crop.CropRule` asks for a crop (:func:`with_crop`).

A file that cannot be read becomes a :class:`PredictionFailure` naming it, and the rest
go on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from lstmattn.data.body_crop import NO_CROP, CropRule, SliceCrop
from lstmattn.data.dicom import DicomHeader, is_dicom_file, read_dicom_header
from lstmattn.data.images import IMAGE_SUFFIXES, FittedSlice, fit_slice, load_fitted_slice
from lstmattn.errors import DataError, LstmattnError
from lstmattn.io import natural_key, worker_count

__all__ = ["SliceInput", "PredictionFailure", "list_slice_files", "input_files", "load_slice_input", "as_slice_input",
           "with_crop", "SliceFile", "order_slice_files", "DecodedSlices"]

_Result = TypeVar("_Result")
_Item = TypeVar("_Item")


@dataclass(frozen=True)
class SliceInput:
    """One slice ready for the model: where it came from and its ``uint8[H, W]`` pixels.

    DICOM slices carry their InstanceNumber, SeriesInstanceUID and PatientID;
    ``original_size`` is the stored ``(H, W)`` when ``image`` was downscaled, and
    ``warnings`` are the problems found on reading (without the file name). ``crop`` is
    the part of ``image`` the model sees (:func:`with_crop`; ``None``: not decided, the
    whole slice)."""

    source: str
    image: np.ndarray
    instance_number: int | None = None
    series_instance_uid: str | None = None
    patient_id: str | None = None
    original_size: tuple[int, int] | None = None
    warnings: tuple[str, ...] = ()
    crop: SliceCrop | None = None


@dataclass(frozen=True)
class PredictionFailure:
    """An input that could not be predicted, with the reason (which names the file)."""

    file: str
    error: str

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "error": self.error}


def list_slice_files(folder: str | Path) -> list[Path]:
    """The slice files of a folder: PNG/JPEG by suffix and DICOM by suffix or ``DICM``
    marker (``DICOMDIR`` and hidden files skipped), in natural name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "folder not found")
    files = [
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and path.name != "DICOMDIR"
        and (path.suffix.lower() in IMAGE_SUFFIXES or is_dicom_file(path))
    ]
    return sorted(files, key=lambda path: natural_key(path.name))


def input_files(path: Path) -> tuple[list[Path], bool]:
    """The files behind ``path`` and whether they form a series (a folder); a missing
    path or a folder without slices raises :class:`LstmattnError`."""
    if path.is_dir():
        files = list_slice_files(path)
        if not files:
            raise LstmattnError(f"{path}: no PNG, JPEG or DICOM files in folder")
        return files, True
    if not path.exists():
        raise LstmattnError(f"{path}: no such file or folder")
    return [path], False


def _slice_input(source: str, fitted: FittedSlice, **dicom: Any) -> SliceInput:
    """A :class:`SliceInput` from a fitted slice (``dicom``: its header fields)."""
    original = fitted.original_size if fitted.original_size != fitted.image.shape else None
    warnings = (fitted.warning,) if fitted.warning else ()
    return SliceInput(source, fitted.image, original_size=original, warnings=warnings, **dicom)


def with_crop(item: SliceInput, rule: CropRule) -> SliceInput:
    """``item`` with its crop under ``rule`` (:meth:`CropRule.slice_crop`); an item whose
    crop is decided already is returned as it is."""
    return item if item.crop is not None else dataclasses.replace(item, crop=rule.slice_crop(item.image))


@dataclass(frozen=True)
class SliceFile:
    """A slice file and, for DICOM, its header (``None`` for PNG/JPEG)."""

    path: Path
    header: DicomHeader | None

    @property
    def series_instance_uid(self) -> str | None:
        return self.header.series_instance_uid if self.header else None

    def within_series(self) -> tuple[int, int, tuple]:
        """DICOM slices by InstanceNumber first, then everything else by natural name."""
        name = natural_key(self.path.name)
        number = self.header.instance_number if self.header else None
        return (0, number, name) if number is not None else (1, 0, name)

    def decode(self) -> SliceInput:
        """The slice, fitted for prediction, with the header's fields."""
        fields = dataclasses.asdict(self.header) if self.header else {}
        return _slice_input(str(self.path), load_fitted_slice(self.path), **fields)


def _slice_file(path: Path) -> SliceFile:
    """``path`` with its DICOM header read (header only)."""
    return SliceFile(path, read_dicom_header(path) if is_dicom_file(path) else None)


def load_slice_input(path: str | Path) -> SliceInput:
    """Read one slice file, fitted for prediction (:func:`lstmattn.data.images.fit_slice`);
    raises :class:`DataError` naming the file when it cannot, or when it is too small."""
    return _slice_file(Path(path)).decode()


def as_slice_input(item: str | Path | np.ndarray | SliceInput, index: int) -> SliceInput:
    """A slice file (read), a ``uint8[H, W]`` array (named ``array[index]``) or a
    :class:`SliceInput` (as it is), fitted for prediction."""
    if isinstance(item, SliceInput):
        return item
    if isinstance(item, np.ndarray):
        if item.ndim != 2 or item.dtype != np.uint8:
            raise ValueError(f"paths_or_arrays[{index}]: expected a uint8 array [H, W], got {item.dtype} {item.shape}")
        source = f"array[{index}]"
        return _slice_input(source, fit_slice(item, source))
    return load_slice_input(item)


def _read_or_fail(read: Callable[[_Item], _Result], item: _Item, path: Path) -> _Result | PredictionFailure:
    """``read(item)``, or, when it raises, the failure naming ``path`` (the file behind
    ``item``) instead."""
    try:
        return read(item)
    except DataError as error:
        return PredictionFailure(str(path), str(error))
    except Exception as error:  # a header pydicom cannot parse, etc.: report, keep going
        return PredictionFailure(str(path), f"{path}: {type(error).__name__}: {error}")


def order_slice_files(files: Sequence[Path]) -> tuple[list[SliceFile], list[PredictionFailure]]:
    """``files`` (in natural name order) in slice order, reading DICOM headers only;
    files whose header cannot be read are returned as failures."""
    with ThreadPoolExecutor(max_workers=worker_count()) as pool:
        results = list(pool.map(lambda path: _read_or_fail(_slice_file, path, path), files))
    ordered = [result for result in results if isinstance(result, SliceFile)]
    series_rank: dict[str | None, int] = {}
    for item in ordered:
        series_rank.setdefault(item.series_instance_uid, len(series_rank))
    ordered.sort(key=lambda item: (series_rank[item.series_instance_uid], *item.within_series()))
    return ordered, [result for result in results if isinstance(result, PredictionFailure)]


class DecodedSlices:
    """The slices of ``files`` (from :func:`order_slice_files`: their headers are not read
    again), decoded and cropped under ``crop`` (:func:`with_crop`) by a pool of threads
    ahead of the consumer and handed out in the files' order; a file that cannot be
    decoded is appended to ``failures`` and skipped. ``len()`` is the number of files (an
    upper bound on the slices). Iterate once; the pool stops when the iteration ends."""

    def __init__(self, files: Sequence[SliceFile], failures: list[PredictionFailure], crop: CropRule = NO_CROP) -> None:
        self.files = list(files)
        self.failures = failures
        self.crop = crop

    def _decode(self, file: SliceFile) -> SliceInput:
        """``file`` decoded, with its crop."""
        return with_crop(file.decode(), self.crop)

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[SliceInput]:
        pool = ThreadPoolExecutor(max_workers=worker_count())  # decoding releases the GIL
        try:
            for result in pool.map(lambda file: _read_or_fail(self._decode, file, file.path), self.files):
                if isinstance(result, PredictionFailure):
                    self.failures.append(result)
                else:
                    yield result
        finally:  # stopped early (an error downstream): drop the decodes not yet started
            pool.shutdown(wait=True, cancel_futures=True)
