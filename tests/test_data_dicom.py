"""DICOM → COVIDx conversion (lstmattn.data.dicom) on the real P001 series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lstmattn.data.dicom import read_dicom_header, read_dicom_hu, read_dicom_series, read_dicom_slice
from lstmattn.data.images import load_slice
from lstmattn.data.windowing import hu_to_covidx_uint8
from lstmattn.errors import DataError


@pytest.fixture(scope="module")
def p001_series(sample_data: Path):
    return read_dicom_series(sample_data / "dicom-series/P001")


def test_series_is_sorted_by_instance_number(p001_series) -> None:
    assert [s.instance_number for s in p001_series] == list(range(1, 149))
    assert all(s.image.dtype == np.uint8 and s.image.shape == (512, 512) for s in p001_series)


def test_series_reproduces_every_covidx_png_of_p001(sample_data: Path, p001_series) -> None:
    by_number = {s.instance_number: s.image for s in p001_series}
    pngs = sorted((sample_data / "covidx-ct-sample/images").glob("COVIDCTMD-P001-IM*.png"))
    assert len(pngs) == 39
    for png in pngs:
        number = int(png.stem.rsplit("IM", 1)[1])
        assert np.array_equal(by_number[number], load_slice(png)), png.name


def test_load_slice_dispatches_dicom(sample_data: Path, p001_series) -> None:
    path = p001_series[26].path
    assert np.array_equal(load_slice(path), read_dicom_slice(path))


def _write_dicom(path: Path, *, modality: str | None, pixels: bool) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.InstanceNumber = 1
    if modality is not None:
        dataset.Modality = modality
    if pixels:
        dataset.Rows = dataset.Columns = 4
        dataset.SamplesPerPixel = 1
        dataset.PhotometricInterpretation = "MONOCHROME2"
        dataset.BitsAllocated = dataset.BitsStored = 16
        dataset.HighBit = 15
        dataset.PixelRepresentation = 0
        dataset.PixelData = np.zeros((4, 4), dtype=np.uint16).tobytes()
    dataset.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize(
    ("modality", "pixels", "message"),
    [("MR", True, "not a CT slice \\(Modality 'MR'"), (None, True, "no Modality"), ("CT", False, "no pixel data")],
)
def test_non_ct_dicom_is_rejected(tmp_path: Path, modality: str | None, pixels: bool, message: str) -> None:
    path = _write_dicom(tmp_path / "odd.dcm", modality=modality, pixels=pixels)
    with pytest.raises(DataError, match=message) as caught:
        load_slice(path)
    assert str(caught.value).startswith(str(path))


def test_synthetic_ct_applies_rescale(tmp_path: Path) -> None:
    path = _write_dicom(tmp_path / "ct.dcm", modality="CT", pixels=True)
    dataset = pydicom.dcmread(path)
    dataset.RescaleSlope, dataset.RescaleIntercept = 1, -600  # HU -600 = window centre
    dataset.save_as(path)
    assert np.all(read_dicom_slice(path) == 127)


@pytest.mark.parametrize(("signed", "slope", "intercept"), [(False, 1.0, -1024.0), (True, 2.5, -0.75), (True, 0.3, -1500.0)])
def test_windowing_table_equals_the_per_pixel_formula(tmp_path: Path, signed: bool, slope: float, intercept: float) -> None:
    path = _write_dicom(tmp_path / "ct.dcm", modality="CT", pixels=True)
    dataset = pydicom.dcmread(path)
    rng = np.random.default_rng(3)
    dtype = np.int16 if signed else np.uint16
    stored = rng.integers(-3000 if signed else 0, 4000, size=(64, 48)).astype(dtype)
    dataset.Rows, dataset.Columns = stored.shape
    dataset.PixelRepresentation = int(signed)
    dataset.PixelData = stored.tobytes()
    dataset.RescaleSlope, dataset.RescaleIntercept = slope, intercept
    dataset.save_as(path)
    hu = read_dicom_hu(path)
    np.testing.assert_array_equal(hu, stored.astype(np.float64) * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept))
    np.testing.assert_array_equal(read_dicom_slice(path), hu_to_covidx_uint8(hu))


def test_garbage_dcm_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "junk.dcm").write_bytes(b"nothing here")
    with pytest.raises(DataError, match="junk.dcm: "):
        read_dicom_slice(tmp_path / "junk.dcm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no DICOM files"):
        read_dicom_series(tmp_path / "empty")


@pytest.mark.parametrize("keep", [0.5, 0.99, 1200 / 239632, 2000 / 239632, 500 / 239632])
def test_truncated_dicom_is_reported_as_truncated(sample_data: Path, tmp_path: Path, keep: float) -> None:
    data = (sample_data / "dicom-series/P001/98C14734-ASSH_1.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match=r"truncated or corrupt") as caught:
        load_slice(cut)
    assert str(caught.value).startswith(f"{cut}: ") and "\n" not in str(caught.value)
    assert "not a CT slice" not in str(caught.value)


def test_header_names_the_series_and_patient(sample_data: Path) -> None:
    path = sample_data / "dicom-series/P001/98C14734-ASSH_27.dcm"
    header = read_dicom_header(path)
    assert header.instance_number == int(pydicom.dcmread(path, stop_before_pixels=True).InstanceNumber)
    assert header.patient_id == "98C14734-ASSH"
    assert header.series_instance_uid.startswith("1.3.12.2.1107.5.1.4.93005.")
