"""Split lists saved by other tools (issue 15, "Predict and data"): a UTF-8 byte-order
mark and CRLF line ends read exactly like the plain list, in the parsers, the data sets
and ``lstmattn data verify``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from lstmattn.data.covidx import read_covidx_split
from lstmattn.data.ictcf import parse_ictcf_split
from lstmattn.data.segmentation import pair_images_with_masks
from lstmattn.data.splits import read_name_list
from lstmattn.data.verify import verify_dataset

CT1 = ("train_COVIDx_CT-1.txt", "val_COVIDx_CT-1.txt", "test_COVIDx_CT-1.txt")
BOM = b"\xef\xbb\xbf"


def test_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(BOM + b"7_12.jpg\n8_3.png\n")
    assert read_name_list(path) == ["7_12.jpg", "8_3.png"]
    path.write_bytes(BOM + b"NCP_1_2_0001.png 2 0 0 512 512\n")
    assert read_covidx_split(path)[0].name == "NCP_1_2_0001.png"
    path.write_bytes(BOM + b"0_nCT1.jpg\r\n2_pCT2.jpg\r\n")
    assert parse_ictcf_split(path) == ([("0_nCT1.jpg", 0), ("2_pCT2.jpg", 1)], [])


def test_crlf_and_cr_line_ends_parse_silently(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    for line_end in (b"\r\n", b"\r"):
        path.write_bytes(line_end.join([b"a.png", b"", b"b.png", b""]))
        assert read_name_list(path) == ["a.png", "b.png"]


def test_segmentation_list_with_bom_finds_its_first_image(tmp_path: Path) -> None:
    for folder in ("imgs", "masks"):
        (tmp_path / folder).mkdir()
    for stem in ("1_1", "1_2"):
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "imgs" / f"{stem}.png")
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "masks" / f"{stem}.png")
    (tmp_path / "split.txt").write_bytes(BOM + b"1_1.png\r\n1_2.png\r\n")
    pairs = pair_images_with_masks(tmp_path / "imgs", tmp_path / "masks", read_name_list(tmp_path / "split.txt"))
    assert [image.name for image, _ in pairs] == ["1_1.png", "1_2.png"]


def test_verify_accepts_a_windows_copy_of_the_official_lists(sample_data: Path, tmp_path: Path) -> None:
    for name in CT1:
        data = (sample_data / "covidx-ct-splits" / name).read_bytes()
        (tmp_path / name).write_bytes(BOM + data.replace(b"\n", b"\r\n"))
    report = verify_dataset(tmp_path, "covidx-ct-1", check_images=False, progress=False)
    assert report.ok, report.summary()
    assert sum("SHA-256 matches" in line and "CRLF" in line for line in report.checked) == 3
    shutil.copy(sample_data / "covidx-ct-splits" / CT1[0], tmp_path / CT1[0])
    report = verify_dataset(tmp_path, "covidx-ct-1", check_images=False, progress=False)
    assert report.ok and sum("CRLF" in line for line in report.checked) == 2
