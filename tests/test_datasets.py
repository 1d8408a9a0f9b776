"""build_data: the phantom default and the real COVIDx-CT + CNCB layout."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from lstmattn.config import get_profile
from lstmattn.data.phantom import PhantomConfig, write_phantom_dataset
from lstmattn.engine.datasets import build_data, min_component_area
from lstmattn.errors import ConfigError


def test_min_component_area_keeps_the_physical_threshold():
    assert min_component_area(512) == 100 and min_component_area(256) == 25 and min_component_area(16) == 1


def test_real_covidx_layout(tmp_path: Path, sample_data: Path):
    """COVIDx CT-1 as `data prepare` leaves it, plus CNCB-format segmentation slices."""
    covidx = tmp_path / "covidx"
    shutil.copytree(sample_data / "covidx-ct-sample" / "images", covidx / "images")
    labels = (sample_data / "covidx-ct-sample" / "labels.txt").read_text()
    for name in ("train3000_seed0_COVIDx_CT-1.txt", "val_COVIDx_CT-1.txt", "test_COVIDx_CT-1.txt", "holdout_seed0_COVIDx_CT-1.txt"):
        (covidx / name).write_text(labels)
    phantoms = write_phantom_dataset(tmp_path / "ph", n_classification={"train": 1, "val": 1, "test": 1},
                                     n_segmentation={"train": 3, "test": 2}, config=PhantomConfig(image_size=64), progress=False)
    segmentation = tmp_path / "cncb"
    shutil.copytree(Path(phantoms) / "cncb_seg", segmentation)
    (segmentation / "train.txt").rename(segmentation / "train_split_segmentation.txt")
    (segmentation / "test.txt").rename(segmentation / "test_split_segmentation.txt")

    config = get_profile("quick")
    with pytest.raises(ConfigError, match="segmentation_root"):
        build_data(replace(config, data=replace(config.data, source="covidx", root=str(covidx))))
    config = replace(config, data=replace(config.data, source="covidx", root=str(covidx), segmentation_root=str(segmentation)))
    bundle = build_data(config)
    assert not bundle.is_phantom and "COVIDx" in bundle.description
    assert len(bundle.classification_test) == 269 and len(bundle.extra_classification["holdout"]) == 269
    assert (len(bundle.segmentation_train), len(bundle.segmentation_test)) == (3, 2)
    image, target = bundle.classification_test[0]
    assert image.shape == (3, config.model.image_size, config.model.image_size) and int(target["image_label"]) == 2
