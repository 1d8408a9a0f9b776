"""build_data: the phantom default and the real COVIDx-CT + CNCB layout."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lstmattn.config import get_profile
from lstmattn.data.phantom import PhantomConfig, write_phantom_dataset
from lstmattn.engine.datasets import build_data, min_component_area
from lstmattn.errors import ConfigError, DataError


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
    two_class = replace(config, model=replace(config.model, num_image_classes=2))
    with pytest.raises(ConfigError, match="data.source='ictcf'"):
        build_data(two_class)


def _small_phantom_config(tmp_path: Path, **model_overrides):
    config = get_profile("quick")
    data = replace(config.data, root=str(tmp_path / "ph"), phantom_per_class={"train": 2, "val": 1, "test": 2, "holdout": 3},
                   phantom_segmentation={"train": 2, "test": 1})
    return replace(config, model=replace(config.model, image_size=64, **model_overrides), data=data)


def test_phantom_holdout_split(tmp_path: Path):
    bundle = build_data(_small_phantom_config(tmp_path), progress=False)
    holdout = bundle.extra_classification["holdout"]
    assert len(holdout) == 9 and sorted(holdout.labels) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    patients = {split: {record.name.split("_")[1] for record in dataset.records}
                for split, dataset in (("train", bundle.classification_train), ("holdout", holdout))}
    assert patients["train"] and not patients["train"] & patients["holdout"]


def test_two_class_phantoms_keep_normal_and_covid(tmp_path: Path):
    bundle = build_data(_small_phantom_config(tmp_path, num_image_classes=2), progress=False)
    assert "two classes" in bundle.description
    for dataset, per_class in ((bundle.classification_train, 2), (bundle.extra_classification["holdout"], 3)):
        assert dataset.labels == [0] * per_class + [1] * per_class
        names = [dataset[i][1]["file"] for i in range(len(dataset))]
        assert all(name.startswith("Normal_") for name in names[:per_class])
        assert all(name.startswith("NCP_") for name in names[per_class:])
        assert [int(dataset[i][1]["image_label"]) for i in range(len(dataset))] == dataset.labels


def _ictcf_copy(root: Path, n_per_class: int, test_per_class: int) -> None:
    from PIL import Image

    (root / "images").mkdir(parents=True)
    for split, n in (("train", n_per_class), ("test", test_per_class)):
        names = [f"{prefix}{split}{i:04d}.jpg" for prefix in ("0_nCT", "2_pCT") for i in range(n)]
        for name in names:
            Image.fromarray(np.full((40, 40), 7 * len(name), dtype=np.uint8)).save(root / "images" / name)
        (root / f"{split}_ictcf.txt").write_text("\n".join(names) + "\n")


def test_ictcf_source(tmp_path: Path):
    _ictcf_copy(tmp_path / "ictcf", n_per_class=20, test_per_class=3)
    phantoms = write_phantom_dataset(tmp_path / "ph", n_classification={"train": 1}, n_segmentation={"train": 2, "test": 1},
                                     config=PhantomConfig(image_size=64), progress=False)
    segmentation = Path(phantoms) / "cncb_seg"
    (segmentation / "train.txt").rename(segmentation / "train_split_segmentation.txt")
    (segmentation / "test.txt").rename(segmentation / "test_split_segmentation.txt")
    config = get_profile("quick")
    config = replace(config, data=replace(config.data, source="ictcf", root=str(tmp_path / "ictcf"), segmentation_root=str(segmentation)))
    with pytest.raises(ConfigError, match="num_image_classes=2"):
        build_data(config)
    bundle = build_data(replace(config, model=replace(config.model, num_image_classes=2, image_size=64)))
    assert not bundle.is_phantom and "iCTCF" in bundle.description
    assert (len(bundle.classification_train), len(bundle.classification_val), len(bundle.classification_test)) == (36, 4, 6)
    validation = [bundle.classification_val[i][1] for i in range(4)]
    assert [v["file"] for v in validation] == ["0_nCTtrain0009.jpg", "0_nCTtrain0019.jpg", "2_pCTtrain0009.jpg", "2_pCTtrain0019.jpg"]
    assert [int(v["image_label"]) for v in validation] == [0, 0, 1, 1]
    assert bundle.classification_test[0][0].shape == (3, 64, 64)


def test_authors_training_list_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`data prepare --authors-list` writes lists that a run then reads through
    `data.train_list` / `data.holdout_list` (REFERENCE_CODE.md §3.2 naming)."""
    from PIL import Image

    from lstmattn.cli import main
    from lstmattn.engine.experiment import resolve_experiment

    covidx = tmp_path / "covidx"
    (covidx / "images").mkdir(parents=True)
    records = [(f"{prefix}_{label + 1}_{10 * (label + 1)}_{index:04d}.png", label)
               for label, prefix in enumerate(("Normal", "CP", "NCP")) for index in range(3)]
    for name, label in records:
        Image.fromarray(np.full((40, 40), 60 * label + 10, dtype=np.uint8)).save(covidx / "images" / name)
    lines = "".join(f"{name} {label} 0 0 40 40\n" for name, label in records)
    for split in ("train", "val", "test"):
        (covidx / f"{split}_COVIDx_CT-1.txt").write_text(lines)
    authors = tmp_path / "train_split_classification.txt"  # CNCB prefix replaced by the class digit
    authors.write_text("0_1_10_0001.png\n1_2_20_0002.png\n2_3_30_0000.png\n")

    assert main(["data", "prepare", str(covidx), "--authors-list", str(authors), "--force"]) == 0
    printed = capsys.readouterr().out
    assert "data.train_list: train3_authors_COVIDx_CT-1.txt" in printed
    assert "data.holdout_list: holdout_authors_COVIDx_CT-1.txt" in printed

    phantoms = write_phantom_dataset(tmp_path / "ph", n_classification={"train": 1, "val": 1, "test": 1},
                                     n_segmentation={"train": 2, "test": 1}, config=PhantomConfig(image_size=64), progress=False)
    segmentation = Path(phantoms) / "cncb_seg"
    (segmentation / "train.txt").rename(segmentation / "train_split_segmentation.txt")
    (segmentation / "test.txt").rename(segmentation / "test_split_segmentation.txt")
    config_file = tmp_path / "authors.yaml"
    config_file.write_text(
        "profile: quick\nmodel: {image_size: 64}\n"
        f"data: {{source: covidx, root: {covidx}, segmentation_root: {segmentation},\n"
        "       train_list: train3_authors_COVIDx_CT-1.txt, holdout_list: holdout_authors_COVIDx_CT-1.txt}\n")
    bundle = build_data(resolve_experiment(config_file), progress=False)
    train = bundle.classification_train
    assert [train[i][1]["file"] for i in range(len(train))] == ["Normal_1_10_0001.png", "CP_2_20_0002.png", "NCP_3_30_0000.png"]
    assert [int(train[i][1]["image_label"]) for i in range(len(train))] == [0, 1, 2]
    assert len(bundle.extra_classification["holdout"]) == 6
    assert bundle.record["train_list"] == "train3_authors_COVIDx_CT-1.txt"
    assert train[0][0].shape == (3, 64, 64)
    # The default names the seeded lists, which this copy does not have.
    default = resolve_experiment(config_file)
    default = replace(default, data=replace(default.data, train_list=get_profile("quick").data.train_list))
    with pytest.raises(DataError, match="train3000_seed0_COVIDx_CT-1.txt: split file not found"):
        build_data(default, progress=False)
