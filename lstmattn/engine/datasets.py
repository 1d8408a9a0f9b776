"""Build the run's data sets from its :class:`~lstmattn.config.DataConfig`.

``source="phantom"`` (the offline default) writes the synthetic phantom set once into a
cache folder named after its parameters and reads it back through the *real* loaders,
so phantom runs exercise exactly the code paths of real data. Real COVIDx-CT/CNCB and
iCTCF data is read from the layout ``lstmattn data verify`` documents.

The number of image classes follows the model (``model.num_image_classes``): three
(Normal, CP, COVID-19) for COVIDx-CT, two (Negative, COVID-19) for iCTCF (Table 4). A
two-class phantom run sees the Normal and COVID-19 phantoms only (see
:mod:`lstmattn.data.two_class`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset, Subset

from lstmattn.config import ExperimentConfig
from lstmattn.errors import ConfigError

__all__ = ["DataBundle", "build_data", "data_cache_root", "min_component_area"]


@dataclass
class DataBundle:
    """The splits a run trains and evaluates on, and a description for every table."""

    description: str
    is_phantom: bool
    segmentation_train: Dataset
    segmentation_test: Dataset
    classification_train: Dataset
    classification_val: Dataset
    classification_test: Dataset
    extra_classification: dict[str, Dataset] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


def min_component_area(image_size: int) -> int:
    """The reference code drops lesion components of ≤ 100 px at 512² (REFERENCE_CODE.md
    §2.3); keep the same *physical* size threshold at other image sizes."""
    return max(1, round(100 * (image_size / 512) ** 2))


def _cncb_split(root: Path, split_file: str, size: int) -> Dataset:
    """The CNCB-format segmentation split ``root/split_file`` (``imgs/``, ``masks/``) at ``size``²."""
    from lstmattn.data.cncb import CncbSegmentationDataset

    return CncbSegmentationDataset(root / "imgs", root / "masks", split_file=root / split_file, image_size=size,
                                   min_component_area=min_component_area(size))


def data_cache_root() -> Path:
    """``$LSTMATTN_DATA_CACHE`` or ``runs/_data``: where generated phantom sets live."""
    return Path(os.environ.get("LSTMATTN_DATA_CACHE", Path(os.environ.get("LSTMATTN_RUNS", "runs")) / "_data"))


def build_data(config: ExperimentConfig, *, progress: bool = True) -> DataBundle:
    """Materialise (phantoms) or open (real data) every split the run needs."""
    if config.data.source == "phantom":
        return _phantom_data(config, progress=progress)
    if config.data.source == "covidx":
        return _covidx_data(config)
    return _ictcf_data(config)


def _phantom_data(config: ExperimentConfig, *, progress: bool) -> DataBundle:
    from lstmattn.data.covidx import CovidxClassificationDataset
    from lstmattn.data.phantom import PHANTOM_GENERATOR_VERSION, PhantomConfig, write_phantom_dataset
    from lstmattn.data.two_class import TwoClassView

    data, size = config.data, config.model.image_size
    phantom_config = PhantomConfig.from_options(data.phantom_options, image_size=size)
    parameters = {
        "generator": PHANTOM_GENERATOR_VERSION,
        "config": dataclasses.asdict(phantom_config),
        "seed": data.phantom_seed,
        "per_class": data.phantom_per_class,
        "segmentation": data.phantom_segmentation,
    }
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:10]
    root = Path(data.root) if data.root else data_cache_root() / f"phantoms-{size}px-seed{data.phantom_seed}-{digest}"
    write_phantom_dataset(
        root,
        n_classification=data.phantom_per_class,
        n_segmentation=data.phantom_segmentation,
        config=phantom_config,
        seed=data.phantom_seed,
        progress=progress,
    )
    covidx, cncb = root / "covidx", root / "cncb_seg"

    two_class = config.model.num_image_classes == 2

    def classification(split: str) -> Dataset:
        dataset = CovidxClassificationDataset(covidx / f"{split}.txt", covidx / "images", image_size=size)
        return TwoClassView(dataset) if two_class else dataset

    def segmentation(split: str) -> Dataset:
        return _cncb_split(cncb, f"{split}.txt", size)

    manifest = root / "phantom.yaml"
    classes = ", two classes (Normal as Negative vs COVID-19; CP left out)" if two_class else ""
    holdout = {"holdout": classification("holdout")} if data.phantom_per_class.get("holdout") else {}
    return DataBundle(
        description=f"synthetic CT phantoms (seed {data.phantom_seed}, {size}px{classes}) — not patient data",
        is_phantom=True,
        segmentation_train=segmentation("train"),
        segmentation_test=segmentation("test"),
        classification_train=classification("train"),
        classification_val=classification("val"),
        classification_test=classification("test"),
        extra_classification=holdout,
        record={
            "description": f"synthetic CT phantoms (seed {data.phantom_seed}, {size}px{classes})",
            "root": str(root),
            "phantom_yaml_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        },
    )


def _covidx_data(config: ExperimentConfig) -> DataBundle:
    """Real COVIDx CT-1 classification + CNCB segmentation data.

    ``data.root`` holds the CT-1 split files, ``images/`` (or ``2A_images/``), and the
    derived lists written by ``lstmattn data prepare`` (the 3,000-slice training subset
    and the hold-out, seed 0);
    ``data.segmentation_root`` holds ``imgs/``, ``masks/`` and the 650/100 split lists.
    """
    from lstmattn.data.covidx import CovidxClassificationDataset

    data, size = config.data, config.model.image_size
    if config.model.num_image_classes != 3:
        raise ConfigError("data.source='covidx' has three image classes: set model.num_image_classes=3 "
                          "(two-class runs use data.source='ictcf')")
    if not data.root or not data.segmentation_root:
        raise ConfigError("data.source='covidx' needs data.root (COVIDx CT-1) and data.segmentation_root (CNCB lesions)")
    root, seg_root = Path(data.root), Path(data.segmentation_root)
    images = next((root / name for name in ("images", "2A_images") if (root / name).is_dir()), root / "images")

    def classification(name: str) -> Dataset:
        return CovidxClassificationDataset(root / name, images, image_size=size)

    def segmentation(name: str) -> Dataset:
        return _cncb_split(seg_root, name, size)

    return DataBundle(
        description="COVIDx CT-1 (CNCB) classification + CNCB lesion segmentation",
        is_phantom=False,
        segmentation_train=segmentation("train_split_segmentation.txt"),
        segmentation_test=segmentation("test_split_segmentation.txt"),
        classification_train=classification("train3000_seed0_COVIDx_CT-1.txt"),
        classification_val=classification("val_COVIDx_CT-1.txt"),
        classification_test=classification("test_COVIDx_CT-1.txt"),
        extra_classification={"holdout": classification("holdout_seed0_COVIDx_CT-1.txt")},
        record={"description": "COVIDx CT-1 + CNCB segmentation", "root": str(root), "segmentation_root": str(seg_root)},
    )


def _stratified_validation(labels: list[int], every: int = 10) -> tuple[list[int], list[int]]:
    """(train, validation) indices: every ``every``-th slice of each class, in list
    order, is held out for validation."""
    seen: dict[int, int] = {}
    train, validation = [], []
    for index, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        (validation if seen[label] % every == 0 else train).append(index)
    return train, validation


def _ictcf_data(config: ExperimentConfig) -> DataBundle:
    """iCTCF (Table 4): two-class classification + CNCB lesion segmentation.

    ``data.root`` holds ``train_ictcf.txt``, ``test_ictcf.txt`` and ``images/``; the
    paper uses the 600 listed training slices "for training and validation", so every
    10th slice of each class (60 in all) is the validation split and the other 540
    train. ``data.segmentation_root`` is the CNCB lesion data, as for ``covidx``.
    """
    from lstmattn.data.ictcf import IctcfClassificationDataset

    data, size = config.data, config.model.image_size
    if config.model.num_image_classes != 2:
        raise ConfigError("data.source='ictcf' has two image classes: set model.num_image_classes=2")
    if not data.root or not data.segmentation_root:
        raise ConfigError("data.source='ictcf' needs data.root (iCTCF lists + images/) and data.segmentation_root (CNCB lesions)")
    root, seg_root = Path(data.root), Path(data.segmentation_root)
    listed = IctcfClassificationDataset(root / "train_ictcf.txt", root / "images", image_size=size)
    train, validation = _stratified_validation(listed.labels)
    return DataBundle(
        description="iCTCF (HUST-19) two-class classification + CNCB lesion segmentation",
        is_phantom=False,
        segmentation_train=_cncb_split(seg_root, "train_split_segmentation.txt", size),
        segmentation_test=_cncb_split(seg_root, "test_split_segmentation.txt", size),
        classification_train=Subset(listed, train),
        classification_val=Subset(listed, validation),
        classification_test=IctcfClassificationDataset(root / "test_ictcf.txt", root / "images", image_size=size),
        record={"description": "iCTCF + CNCB segmentation", "root": str(root), "segmentation_root": str(seg_root)},
    )
