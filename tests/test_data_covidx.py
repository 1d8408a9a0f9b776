"""COVIDx split files and CovidxClassificationDataset on the real 269-slice sample."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from lstmattn.data.covidx import CovidxClassificationDataset, parse_covidx_split, read_covidx_split
from lstmattn.errors import DataError

PATIENT_CLASS = {"normal001": 0, "cap001": 1, "P001": 2}


def _patient(name: str) -> str:
    return name.split("-")[1]


def test_all_sample_slices_load_with_labels_and_boxes(sample_data: Path) -> None:
    root = sample_data / "covidx-ct-sample"
    lines = [line.split() for line in (root / "labels.txt").read_text().splitlines() if line.strip()]
    dataset = CovidxClassificationDataset(root / "labels.txt", root / "images")
    assert len(dataset) == len(lines) == 269
    assert dataset.labels.count(0) == 144 and dataset.labels.count(1) == 86 and dataset.labels.count(2) == 39
    for (name, label, box), fields in zip(dataset.records, lines):
        assert name == fields[0] and label == int(fields[1]) == PATIENT_CLASS[_patient(name)]
        assert box == tuple(int(v) for v in fields[2:])
    for index in range(len(dataset)):
        image, target = dataset[index]
        assert image.shape == (3, 512, 512) and image.dtype == torch.float32
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        assert target["image_label"].dtype == torch.int64 and target["image_label"].ndim == 0
        assert int(target["image_label"]) == dataset.records[index].label
        assert target["file"] == dataset.records[index].name


def test_crop_to_body_and_resize(sample_data: Path) -> None:
    root = sample_data / "covidx-ct-sample"
    cropped = CovidxClassificationDataset(root / "labels.txt", root / "images", crop_to_body=True)
    x0, y0, x1, y1 = cropped.records[0].box
    assert cropped[0][0].shape == (3, y1 - y0, x1 - x0)
    resized = CovidxClassificationDataset(root / "labels.txt", root / "images", image_size=64, crop_to_body=True)
    assert resized[0][0].shape == (3, 64, 64)


def test_malformed_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    split = tmp_path / "split.txt"
    split.write_text(
        "a.png 0 0 0 10 10\n"
        "b.png 1 0 0 10\n"        # 5 fields
        "c.png 7 0 0 10 10\n"     # unknown class
        "d.png 2 5 5 5 9\n"       # empty box
        "a.png 0 0 0 10 10\n"     # repeated
        "\n"
        "e.png x 0 0 10 10\n"     # not an integer
    )
    records, problems = parse_covidx_split(split)
    assert [r.name for r in records] == ["a.png"]
    assert [str(p).split(": ", 1)[0] for p in problems] == [f"{split}:{n}" for n in (2, 3, 4, 5, 7)]
    assert "unexpected class 7" in str(problems[1])
    with pytest.raises(DataError, match=r"split.txt:2: expected 6 fields"):
        read_covidx_split(split)


def test_missing_listed_file_names_the_file(sample_data: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(sample_data / "covidx-ct-sample/images/COVIDCTMD-P001-IM0027.png", images)
    split = tmp_path / "split.txt"
    split.write_text("COVIDCTMD-P001-IM0027.png 2 0 116 512 409\nmissing.png 0 0 0 512 512\n")
    dataset = CovidxClassificationDataset(split, images)
    assert dataset[0][0].shape == (3, 512, 512)
    with pytest.raises(DataError, match=r"missing.png: file not found"):
        dataset[1]


def test_missing_split_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="image folder not found"):
        CovidxClassificationDataset(tmp_path / "split.txt", tmp_path / "nope")
    with pytest.raises(DataError, match="split.txt: split file not found"):
        CovidxClassificationDataset(tmp_path / "split.txt", tmp_path)
