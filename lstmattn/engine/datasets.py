"""Build the run's data sets from its :class:`~lstmattn.config.DataConfig`.

``source="phantom"`` (the offline default) writes the synthetic phantom set once into a
cache folder named after its parameters and reads it back through the *real* loaders,
so phantom runs exercise exactly the code paths of real data. Real COVIDx-CT/CNCB data
is read from the layout ``lstmattn data verify`` documents.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

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
    raise ConfigError(f"data.source={config.data.source!r} is not supported by the one-shot engine yet")


def _phantom_data(config: ExperimentConfig, *, progress: bool) -> DataBundle:
    from lstmattn.data.covidx import CovidxClassificationDataset
    from lstmattn.data.phantom import PHANTOM_GENERATOR_VERSION, PhantomConfig, write_phantom_dataset

    data, size = config.data, config.model.image_size
    phantom_config = PhantomConfig(**{**data.phantom_options, "image_size": size})
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

    def classification(split: str) -> Dataset:
        return CovidxClassificationDataset(covidx / f"{split}.txt", covidx / "images", image_size=size)

    def segmentation(split: str) -> Dataset:
        return _cncb_split(cncb, f"{split}.txt", size)

    manifest = root / "phantom.yaml"
    return DataBundle(
        description=f"synthetic CT phantoms (seed {data.phantom_seed}, {size}px) — not patient data",
        is_phantom=True,
        segmentation_train=segmentation("train"),
        segmentation_test=segmentation("test"),
        classification_train=classification("train"),
        classification_val=classification("val"),
        classification_test=classification("test"),
        record={
            "description": f"synthetic CT phantoms (seed {data.phantom_seed}, {size}px)",
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
