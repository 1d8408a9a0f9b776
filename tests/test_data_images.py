"""Slice and label-map readers (lstmattn.data.images) on real and broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lstmattn.data.images import load_label_map, load_slice, resize_image, resize_label_map, to_image_tensor
from lstmattn.errors import DataError

SAMPLE_PNG = "covidx-ct-sample/images/COVIDCTMD-P001-IM0027.png"


def test_png_slice_is_uint8_grey(sample_data: Path) -> None:
    grey = load_slice(sample_data / SAMPLE_PNG)
    assert grey.dtype == np.uint8 and grey.shape == (512, 512)


def test_rgb_and_jpeg_become_the_same_grey(tmp_path: Path) -> None:
    grey = np.random.default_rng(0).integers(0, 256, (40, 30), dtype=np.uint8)
    Image.fromarray(grey).convert("RGB").save(tmp_path / "rgb.png")
    Image.fromarray(grey).save(tmp_path / "grey.jpg", quality=100)
    assert np.array_equal(load_slice(tmp_path / "rgb.png"), grey)
    assert load_slice(tmp_path / "grey.jpg").shape == (40, 30)


def test_truncated_png_names_the_file(sample_data: Path, tmp_path: Path) -> None:
    data = (sample_data / SAMPLE_PNG).read_bytes()
    broken = tmp_path / "truncated.png"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"truncated\.png: cannot decode"):
        load_slice(broken)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.png", b"this is not an image", "not an image"),
        ("absent.png", None, "file not found"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        load_slice(tmp_path / name)
    assert str(caught.value).startswith(str(tmp_path / name))


def test_sixteen_bit_png_is_rejected(tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 8), 1000, dtype=np.uint16)).save(tmp_path / "wide.png")
    with pytest.raises(DataError, match="wide.png: .*8-bit"):
        load_slice(tmp_path / "wide.png")


def test_label_map_keeps_palette_indices_and_rejects_rgb(sample_data: Path, tmp_path: Path) -> None:
    labels = load_label_map(sample_data / "medseg-semiseg/train/GT/0.png")
    assert set(np.unique(labels)) <= {0, 1, 2}
    Image.new("RGB", (4, 4)).save(tmp_path / "rgb_mask.png")
    with pytest.raises(DataError, match="rgb_mask.png: mask has mode RGB"):
        load_label_map(tmp_path / "rgb_mask.png")


def test_tensor_conversion_and_resizing() -> None:
    grey = np.array([[0, 255], [128, 64]], dtype=np.uint8)
    image = to_image_tensor(grey)
    assert image.shape == (3, 2, 2) and image.dtype == torch.float32
    assert torch.equal(image[0], image[2]) and image.max() == 1.0 and image.min() == 0.0
    assert resize_image(image, 8).shape == (3, 8, 8)
    labels = resize_label_map(np.array([[0, 3], [2, 1]], dtype=np.uint8), 6)
    assert labels.shape == (6, 6) and set(np.unique(labels)) == {0, 1, 2, 3}
