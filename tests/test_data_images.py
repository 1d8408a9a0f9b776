"""Slice and label-map readers (lstmattn.data.images) on real and broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lstmattn.data.images import (
    MAX_SLICE_SIDE,
    MIN_SLICE_SIDE,
    load_fitted_slice,
    load_label_map,
    load_slice,
    resize_image,
    resize_label_map,
    to_image_tensor,
)
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


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_huge_slice_is_downscaled_right_after_decoding_with_a_warning(tmp_path: Path, suffix: str) -> None:
    grey = np.random.default_rng(1).integers(0, 256, (3000, 4500), dtype=np.uint8)
    path = tmp_path / f"huge{suffix}"
    Image.fromarray(grey).save(path)
    fitted = load_fitted_slice(path)
    assert fitted.image.shape == (683, MAX_SLICE_SIDE) and fitted.original_size == (3000, 4500)
    assert fitted.warning.startswith("4500x3000 px is far outside CT slice sizes") and "downscaled to 1024x683 px" in fitted.warning
    assert abs(float(fitted.image.mean()) - float(grey.mean())) < 2.0


def test_ct_sized_slice_is_untouched_and_unwarned(sample_data: Path) -> None:
    fitted = load_fitted_slice(sample_data / SAMPLE_PNG)
    assert fitted.warning is None and fitted.original_size == (512, 512)
    assert np.array_equal(fitted.image, load_slice(sample_data / SAMPLE_PNG))


@pytest.mark.parametrize(
    ("shape", "message"),
    [((10, 10), r"tiny.png: 10x10 px is too small for a CT slice \(at least 32 px a side\)"),
     ((40, 5000), r"tiny.png: 5000x40 px is too elongated for a CT slice")],
)
def test_tiny_or_elongated_slice_is_refused(tmp_path: Path, shape: tuple[int, int], message: str) -> None:
    Image.fromarray(np.zeros(shape, dtype=np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(DataError, match=message):
        load_fitted_slice(tmp_path / "tiny.png")
    assert MIN_SLICE_SIDE == 32


@pytest.mark.parametrize("side", [40, 50])  # PIL warns above its limit and raises above twice it
def test_decompression_bomb_is_a_one_line_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int) -> None:
    Image.fromarray(np.zeros((side, side), dtype=np.uint8)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for reader in (load_slice, load_fitted_slice):
        with pytest.raises(DataError, match=r"bomb.png: refused: too large to decode safely") as caught:
            reader(tmp_path / "bomb.png")
        assert "\n" not in str(caught.value)
