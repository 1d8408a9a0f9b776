"""CT DICOM slices and series → COVIDx-CT 8-bit slices.

Implements the COVIDx-CT PNG conversion (``shared/data/README.md``): HU = stored value
× RescaleSlope + RescaleIntercept, then the window of centre −600 HU, width 1500 HU,
floored to ``uint8`` (:func:`lstmattn.data.windowing.hu_to_covidx_uint8`). On the
COVID-CT-MD series this reproduces the published COVIDx PNGs pixel for pixel; PNG
``...-IM0027.png`` is the slice whose InstanceNumber is 27.

Compressed transfer syntaxes (COVID-CT-MD uses JPEG-lossless) need ``pylibjpeg`` +
``pylibjpeg-libjpeg`` (package dependencies) or ``python-gdcm``.

A file cut short is reported as "truncated or corrupt", not by the first attribute its
remains happen to lack: pydicom reads such files without raising, so the reader
watches for its end-of-file warnings, an empty data set, a value shorter than its
declared length and a header without Modality or pixel data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmattn.data.windowing import hu_to_covidx_uint8
from lstmattn.errors import DataError

__all__ = ["DicomSlice", "DicomHeader", "is_dicom_file", "read_dicom_header", "read_dicom_hu", "read_dicom_slice", "read_dicom_series"]

_TRUNCATED = "truncated or corrupt DICOM"
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class DicomSlice:
    """One slice of a series: its InstanceNumber, file and COVIDx-windowed pixels."""

    instance_number: int
    path: Path
    image: np.ndarray  # uint8 [H, W]


@dataclass(frozen=True)
class DicomHeader:
    """The header fields that place a slice in its scan (``None`` when absent)."""

    instance_number: int | None
    series_instance_uid: str | None
    patient_id: str | None


def is_dicom_file(path: str | Path) -> bool:
    """True if ``path`` ends in ``.dcm`` or carries the DICOM ``DICM`` preamble marker."""
    path = Path(path)
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _short_value(dataset: Any) -> bool:
    """True when an element read from the file holds fewer bytes than its declared
    length (the file ends inside it). Only raw, not yet converted elements are looked at."""
    from pydicom.dataelem import RawDataElement

    return any(
        isinstance(element, RawDataElement)
        and element.value is not None
        and element.length != _UNDEFINED_LENGTH
        and len(element.value) < element.length
        for element in dataset.elements()
    )


def _read_dataset(path: Path, *, stop_before_pixels: bool = False) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as error:
        raise DataError(path, f"not a DICOM file: {error}") from None
    except (OSError, ValueError, EOFError, AttributeError, KeyError) as error:
        raise DataError(path, f"{_TRUNCATED}, cannot parse it: {error}") from None
    if any("end of file" in str(warning.message).lower() for warning in caught):
        raise DataError(path, f"{_TRUNCATED}: the file ends before its data does")
    if len(dataset) == 0:
        raise DataError(path, f"{_TRUNCATED}: no data element could be read after the file meta header")
    if _short_value(dataset):
        raise DataError(path, f"{_TRUNCATED}: the file ends inside a data element")
    return dataset


def _check_ct(path: Path, dataset: Any) -> None:
    modality = getattr(dataset, "Modality", None)
    if modality is None and "PixelData" not in dataset:
        raise DataError(path, f"{_TRUNCATED}: neither a Modality nor pixel data (is the file cut short?)")
    if modality != "CT":
        found = "no Modality" if modality is None else f"Modality {modality!r}"
        raise DataError(path, f"not a CT slice ({found}; expected 'CT')")


def read_dicom_header(path: str | Path) -> DicomHeader:
    """InstanceNumber, SeriesInstanceUID and PatientID of a DICOM file (header only)."""
    path = Path(path)
    header = _read_dataset(path, stop_before_pixels=True)
    number = getattr(header, "InstanceNumber", None)
    series = getattr(header, "SeriesInstanceUID", None)
    patient = getattr(header, "PatientID", None)
    return DicomHeader(
        None if number is None else int(number),
        str(series) if series else None,
        str(patient) if patient else None,
    )


def _stored_pixels(path: Path) -> tuple[np.ndarray, float, float]:
    """The stored pixel values of one CT slice with its RescaleSlope and RescaleIntercept;
    raises :class:`DataError` as :func:`read_dicom_hu` documents."""
    dataset = _read_dataset(path)
    _check_ct(path, dataset)
    if "PixelData" not in dataset:
        raise DataError(path, f"DICOM has no pixel data ({_TRUNCATED}?)")
    try:
        stored = dataset.pixel_array
    except Exception as error:  # pydicom raises many types for codec/format problems
        raise DataError(path, f"cannot decode DICOM pixel data ({type(error).__name__}: {error}); "
                        "compressed files need pylibjpeg + pylibjpeg-libjpeg or python-gdcm") from None
    if stored.ndim != 2:
        raise DataError(path, f"expected one grey frame, got pixel array of shape {stored.shape}")
    slope = float(getattr(dataset, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(dataset, "RescaleIntercept", 0.0) or 0.0)
    return stored, slope, intercept


def _hounsfield(stored: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """HU = stored value × RescaleSlope + RescaleIntercept, in float64."""
    return stored.astype(np.float64) * slope + intercept


def read_dicom_hu(path: str | Path) -> np.ndarray:
    """One CT slice in Hounsfield units, ``float64[H, W]``.

    Raises :class:`DataError` for a file that is not DICOM, not CT, has no pixel data,
    holds several frames, or cannot be decoded (e.g. a missing JPEG codec).
    """
    return _hounsfield(*_stored_pixels(Path(path)))


def read_dicom_slice(path: str | Path) -> np.ndarray:
    """One CT slice as a COVIDx-CT ``uint8[H, W]`` image (window −600/1500 HU, floored).

    Integer stored values (those of every CT file seen) are windowed through a table over
    their range, each entry computed as :func:`read_dicom_hu` and
    :func:`~lstmattn.data.windowing.hu_to_covidx_uint8` compute a pixel, so the image is
    the same: 0.4 instead of 5.4 ms for a 512² slice, part of what ``lstmattn predict``
    does per slice (benchmarks/MEASUREMENTS.md, "lstmattn predict on a series")."""
    stored, slope, intercept = _stored_pixels(Path(path))
    if not np.issubdtype(stored.dtype, np.integer):
        return hu_to_covidx_uint8(_hounsfield(stored, slope, intercept))
    low, high = int(stored.min()), int(stored.max())
    table = hu_to_covidx_uint8(_hounsfield(np.arange(low, high + 1), slope, intercept))
    offsets = stored.astype(np.int64)
    offsets -= low
    return np.take(table, offsets)


def read_dicom_series(folder: str | Path) -> list[DicomSlice]:
    """Every CT slice of a one-series folder, sorted by InstanceNumber.

    Files are taken when they end in ``.dcm`` or carry the ``DICM`` marker
    (``DICOMDIR`` is skipped). A missing or repeated InstanceNumber is an error, since
    COVIDx names slices by it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "DICOM series folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != "DICOMDIR" and is_dicom_file(p))
    if not files:
        raise DataError(folder, "no DICOM files in folder")
    numbered: dict[int, Path] = {}
    for path in files:
        header = _read_dataset(path, stop_before_pixels=True)
        number = getattr(header, "InstanceNumber", None)
        if number is None:
            raise DataError(path, "DICOM has no InstanceNumber")
        number = int(number)
        if number in numbered:
            raise DataError(path, f"InstanceNumber {number} repeats that of {numbered[number].name}")
        numbered[number] = path
    return [DicomSlice(number, path, read_dicom_slice(path)) for number, path in sorted(numbered.items())]
