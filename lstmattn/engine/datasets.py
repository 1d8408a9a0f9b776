"""Build the run's data sets from its :class:`~lstmattn.config.DataConfig`.

``source="phantom"`` (the offline default) writes the synthetic phantom set once into a
cache folder named after its parameters and reads it back through the *real* loaders,
so phantom runs exercise exactly the code paths of real data. Real COVIDx-CT/CNCB and
iCTCF data is read from the layout ``lstmattn data verify`` documents. Labelled slices in
the folder-per-class layout (``source="class-folders"``) are split once by a seeded,
stratified draw whose list files are recorded in the run; the segmentation branch of a
real-data run reads CNCB (650/100 lists) or MedSeg (``segmentation_source="medseg"``,
split once the same way) lesion masks.

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
    """Materialise (phantoms) or open (real data) every split the run needs.

    ``record["intensity"]`` gets the grey-level statistics of a sample of the
    classification-training slices, which ``lstmattn predict`` checks its inputs
    against (:mod:`lstmattn.data.intensity`)."""
    from lstmattn.data.intensity import training_intensity_statistics

    bundle = _open_data(config, progress=progress)
    bundle.record["intensity"] = training_intensity_statistics(bundle.classification_train)
    return bundle


def _open_data(config: ExperimentConfig, *, progress: bool) -> DataBundle:
    """The :class:`DataBundle` of ``config.data.source``."""
    if config.data.source == "phantom":
        return _phantom_data(config, progress=progress)
    if config.data.source == "covidx":
        return _covidx_data(config)
    if config.data.source == "class-folders":
        return _class_folder_data(config)
    return _ictcf_data(config)


@dataclass
class _Segmentation:
    """A real-data run's segmentation splits, what they are, and what the run records."""

    train: Dataset
    test: Dataset
    description: str
    record: dict[str, Any]


def _segmentation_data(config: ExperimentConfig) -> _Segmentation:
    """The lesion data of a real-data run: CNCB (``imgs/``, ``masks/``, the 650/100 lists)
    or MedSeg (``Imgs/``, ``GT/``, split once by ``data.segmentation_split_fractions``)."""
    from lstmattn.data.medseg import MEDSEG_MASK_VALUES, MedsegSegmentationDataset
    from lstmattn.data.segmentation import pair_images_with_masks
    from lstmattn.data.split_lists import ensure_split_lists, split_folder_name

    data, size = config.data, config.model.image_size
    if not data.segmentation_root:
        raise ConfigError(f"data.source={data.source!r} needs data.segmentation_root (the {data.segmentation_source} lesion data)")
    root = Path(data.segmentation_root)
    if data.segmentation_source == "cncb":
        return _Segmentation(_cncb_split(root, "train_split_segmentation.txt", size),
                             _cncb_split(root, "test_split_segmentation.txt", size),
                             "CNCB lesion segmentation", {"segmentation_root": str(root)})
    samples = pair_images_with_masks(root / "Imgs", root / "GT")
    names = [(image.name, 0) for image, _ in samples]
    fractions = {split: data.segmentation_split_fractions[split] for split in ("train", "test")}
    lists = ensure_split_lists(data_cache_root() / "splits" / split_folder_name("medseg", names, fractions, data.split_seed),
                               names, fractions, data.split_seed)

    def split(name: str) -> Dataset:
        return MedsegSegmentationDataset(root / "Imgs", root / "GT", names=lists.names[name], image_size=size,
                                         min_component_area=min_component_area(size))

    counts = "/".join(str(len(lists.names[name])) for name in fractions)
    return _Segmentation(split("train"), split("test"),
                         f"MedSeg lesion masks ({', '.join(v for k, v in MEDSEG_MASK_VALUES.items() if k)}; "
                         f"no lung class; {counts} train/test slices, split seed {data.split_seed})",
                         {"segmentation_root": str(root), "segmentation_splits": lists.record()})


def _class_folder_data(config: ExperimentConfig) -> DataBundle:
    """Labelled slices in the folder-per-class layout (``data.root/<class folder>/``),
    split once into train/val/test by a seeded, stratified draw
    (:mod:`lstmattn.data.split_lists`), with the lesion data of ``segmentation_source``."""
    from lstmattn.data.class_folders import ClassFolderDataset, scan_class_folders
    from lstmattn.data.split_lists import ensure_split_lists, split_folder_name

    data, size = config.data, config.model.image_size
    if len(data.class_folders) != config.model.num_image_classes:
        raise ConfigError(f"data.class_folders names {len(data.class_folders)} class folder(s) {list(data.class_folders)} "
                          f"but model.num_image_classes is {config.model.num_image_classes}")
    if not data.root:
        raise ConfigError("data.source='class-folders' needs data.root (the folder holding the class folders)")
    root = Path(data.root)
    records = scan_class_folders(root, data.class_folders)
    labels = dict(records)
    fractions = {split: data.split_fractions[split] for split in ("train", "val", "test")}
    lists = ensure_split_lists(data_cache_root() / "splits" / split_folder_name(root.name, records, fractions, data.split_seed),
                               records, fractions, data.split_seed)
    segmentation = _segmentation_data(config)

    def classification(split: str) -> Dataset:
        return ClassFolderDataset(root, [(name, labels[name]) for name in lists.names[split]], image_size=size)

    counts = "/".join(str(len(lists.names[split])) for split in fractions)
    description = (f"{root.name} slices (folders {', '.join(data.class_folders)}; {counts} train/val/test, "
                   f"split seed {data.split_seed}) + {segmentation.description}")
    return DataBundle(
        description=description,
        is_phantom=False,
        segmentation_train=segmentation.train,
        segmentation_test=segmentation.test,
        classification_train=classification("train"),
        classification_val=classification("val"),
        classification_test=classification("test"),
        record={"description": description, "root": str(root), "class_folders": list(data.class_folders),
                "splits": lists.record(labels), **segmentation.record},
    )


def _phantom_data(config: ExperimentConfig, *, progress: bool) -> DataBundle:
    if config.data.segmentation_source != "cncb":
        raise ConfigError("data.source='phantom' generates its own CNCB-format lesion data: "
                          "data.segmentation_source must be 'cncb'")
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
    """Real COVIDx CT-1 classification + CNCB (or MedSeg) segmentation data.

    ``data.root`` holds the CT-1 split files, ``images/`` (or ``2A_images/``), and the
    derived lists written by ``lstmattn data prepare``: ``data.train_list`` and
    ``data.holdout_list`` (relative to ``data.root`` or absolute; by default the seeded
    3,000-slice subset and its hold-out, the authors' list after ``--authors-list``);
    ``data.segmentation_root`` holds ``imgs/``, ``masks/`` and the 650/100 split lists
    (or, with ``segmentation_source="medseg"``, ``Imgs/`` and ``GT/``).
    """
    from lstmattn.data.covidx import CovidxClassificationDataset

    data, size = config.data, config.model.image_size
    if config.model.num_image_classes != 3:
        raise ConfigError("data.source='covidx' has three image classes: set model.num_image_classes=3 "
                          "(two-class runs use data.source='ictcf')")
    if not data.root:
        raise ConfigError("data.source='covidx' needs data.root (COVIDx CT-1)")
    root = Path(data.root)
    segmentation = _segmentation_data(config)
    images = next((root / name for name in ("images", "2A_images") if (root / name).is_dir()), root / "images")

    def classification(name: str) -> Dataset:
        return CovidxClassificationDataset(root / name, images, image_size=size)

    return DataBundle(
        description=f"COVIDx CT-1 (CNCB) classification + {segmentation.description}",
        is_phantom=False,
        segmentation_train=segmentation.train,
        segmentation_test=segmentation.test,
        classification_train=classification(data.train_list),
        classification_val=classification("val_COVIDx_CT-1.txt"),
        classification_test=classification("test_COVIDx_CT-1.txt"),
        extra_classification={"holdout": classification(data.holdout_list)} if data.holdout_list else {},
        record={"description": f"COVIDx CT-1 + {segmentation.description}", "root": str(root),
                "train_list": data.train_list, "holdout_list": data.holdout_list, **segmentation.record},
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
    train. ``data.segmentation_root`` is the CNCB (or MedSeg) lesion data, as for ``covidx``.
    """
    from lstmattn.data.ictcf import IctcfClassificationDataset

    data, size = config.data, config.model.image_size
    if config.model.num_image_classes != 2:
        raise ConfigError("data.source='ictcf' has two image classes: set model.num_image_classes=2")
    if not data.root:
        raise ConfigError("data.source='ictcf' needs data.root (iCTCF lists + images/)")
    root = Path(data.root)
    segmentation = _segmentation_data(config)
    listed = IctcfClassificationDataset(root / "train_ictcf.txt", root / "images", image_size=size)
    train, validation = _stratified_validation(listed.labels)
    return DataBundle(
        description=f"iCTCF (HUST-19) two-class classification + {segmentation.description}",
        is_phantom=False,
        segmentation_train=segmentation.train,
        segmentation_test=segmentation.test,
        classification_train=Subset(listed, train),
        classification_val=Subset(listed, validation),
        classification_test=IctcfClassificationDataset(root / "test_ictcf.txt", root / "images", image_size=size),
        record={"description": f"iCTCF + {segmentation.description}", "root": str(root), **segmentation.record},
    )
