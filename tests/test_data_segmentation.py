"""Label maps → instances, and the MedSeg and CNCB segmentation data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lstmattn.data.cncb import CncbSegmentationDataset
from lstmattn.data.instances import label_map_to_instances
from lstmattn.data.medseg import MedsegSegmentationDataset
from lstmattn.errors import DataError


def test_components_become_instances_with_exclusive_boxes() -> None:
    label_map = np.zeros((20, 30), dtype=np.uint8)
    label_map[2:6, 3:9] = 2      # 24 px
    label_map[10:12, 20:22] = 2  # 4 px, dropped at min_area 4
    label_map[14:19, 0:5] = 3    # 25 px
    boxes, labels, masks = label_map_to_instances(label_map, {2: 2, 3: 3}, min_area=4)
    assert labels.tolist() == [2, 3]
    assert boxes.tolist() == [[3.0, 2.0, 9.0, 6.0], [0.0, 14.0, 5.0, 19.0]]
    assert masks.dtype == torch.uint8 and masks.shape == (2, 20, 30)
    assert masks[0].sum() == 24 and masks[1].sum() == 25
    assert label_map_to_instances(label_map, {2: 2, 3: 3}, min_area=0)[1].tolist() == [2, 2, 3]


def test_diagonal_pixels_are_one_component() -> None:
    label_map = np.eye(5, dtype=np.uint8)
    assert len(label_map_to_instances(label_map, {1: 1}, min_area=0)[1]) == 1


def test_medseg_masks_give_ggo_and_consolidation(sample_data: Path) -> None:
    root = sample_data / "medseg-semiseg/train"
    dataset = MedsegSegmentationDataset(root / "Imgs", root / "GT", min_component_area=0)
    assert len(dataset) == 50
    seen: set[int] = set()
    for index in range(len(dataset)):
        image, target = dataset[index]
        mask_values = np.asarray(Image.open(root / "GT" / f"{Path(target['file']).stem}.png"))
        assert image.shape[0] == 3 and image.shape[1:] == mask_values.shape
        labels = target["labels"]
        assert set(labels.tolist()) == {2 if v == 1 else 3 for v in np.unique(mask_values) if v}
        for value, label in ((1, 2), (2, 3)):
            union = target["masks"][labels == label].sum(0).numpy()
            assert np.array_equal(union > 0, mask_values == value) and union.max(initial=0) <= 1
        boxes = target["boxes"]
        assert boxes.shape == (len(labels), 4) and bool((boxes[:, 2:] > boxes[:, :2]).all())
        seen |= set(labels.tolist())
    assert seen == {2, 3}


def test_medseg_resize_and_small_components(sample_data: Path) -> None:
    root = sample_data / "medseg-semiseg/train"
    dataset = MedsegSegmentationDataset(root / "Imgs", root / "GT", image_size=128)
    image, target = dataset[0]
    assert image.shape == (3, 128, 128) and target["masks"].shape[1:] == (128, 128)
    assert int(target["masks"].flatten(1).sum(1).min()) > 100


def _write_pair(folder: Path, stem: str, label_map: np.ndarray, suffix: str = ".jpg") -> None:
    (folder / "imgs").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    Image.fromarray(np.full(label_map.shape, 90, dtype=np.uint8)).convert("RGB").save(folder / "imgs" / f"{stem}{suffix}")
    Image.fromarray(label_map).save(folder / "masks" / f"{stem}.png")


def test_cncb_values_map_directly_to_labels(tmp_path: Path) -> None:
    consolidation_only = np.zeros((64, 64), dtype=np.uint8)
    consolidation_only[:, :32] = 1
    consolidation_only[10:30, 5:25] = 3
    _write_pair(tmp_path, "7_12", consolidation_only)
    _write_pair(tmp_path, "8_3", np.zeros((64, 64), dtype=np.uint8), suffix=".png")
    (tmp_path / "split.txt").write_text("7_12.jpg\n8_3.png\n")
    dataset = CncbSegmentationDataset(tmp_path / "imgs", tmp_path / "masks", split_file=tmp_path / "split.txt")
    _, target = dataset[0]
    assert target["labels"].tolist() == [1, 3]  # consolidation stays 3 without GGO
    no_lungs = CncbSegmentationDataset(tmp_path / "imgs", tmp_path / "masks", include_lungs=False)
    assert no_lungs[0][1]["labels"].tolist() == [3]
    image, empty = dataset[1]
    assert image.shape == (3, 64, 64)
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,) and empty["masks"].shape == (0, 64, 64)
    assert empty["boxes"].dtype == torch.float32 and empty["labels"].dtype == torch.int64


def test_unknown_mask_value_names_the_mask(tmp_path: Path) -> None:
    label_map = np.zeros((16, 16), dtype=np.uint8)
    label_map[4:8, 4:8] = 5
    _write_pair(tmp_path, "1_1", label_map)
    dataset = CncbSegmentationDataset(tmp_path / "imgs", tmp_path / "masks")
    with pytest.raises(DataError, match=r"1_1.png: unexpected mask values \[5\]"):
        dataset[0]


def test_missing_masks_are_listed(tmp_path: Path) -> None:
    _write_pair(tmp_path, "1_1", np.zeros((8, 8), dtype=np.uint8))
    (tmp_path / "masks" / "1_1.png").unlink()
    with pytest.raises(DataError, match=r"1_1.png: missing file \(1 missing"):
        CncbSegmentationDataset(tmp_path / "imgs", tmp_path / "masks")
