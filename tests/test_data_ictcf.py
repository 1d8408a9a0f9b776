"""iCTCF lists: prefix → two-class label mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lstmattn.data.ictcf import IctcfClassificationDataset, parse_ictcf_split
from lstmattn.errors import DataError


def test_prefixes_map_to_negative_and_covid(tmp_path: Path) -> None:
    for name in ("0_nCT0001.jpg", "2_pCT0042.jpg"):
        Image.fromarray(np.full((32, 40), 50, dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "test_ictcf.txt").write_text("0_nCT0001.jpg\n2_pCT0042.jpg\n")
    dataset = IctcfClassificationDataset(tmp_path / "test_ictcf.txt", tmp_path, image_size=16)
    assert dataset.labels == [0, 1]
    image, target = dataset[1]
    assert image.shape == (3, 16, 16) and int(target["image_label"]) == 1 and target["file"] == "2_pCT0042.jpg"


def test_unknown_prefix_is_a_located_problem(tmp_path: Path) -> None:
    split = tmp_path / "train_ictcf.txt"
    split.write_text("0_nCT0001.jpg\n1_xCT0002.jpg\n2_pCT0003.jpg extra\n")
    records, problems = parse_ictcf_split(split)
    assert records == [("0_nCT0001.jpg", 0)]
    assert [str(p).split(": ", 1)[0] for p in problems] == [f"{split}:2", f"{split}:3"]
    with pytest.raises(DataError, match=r"train_ictcf.txt:2: .*neither '0_nCT'"):
        IctcfClassificationDataset(split, tmp_path)
