"""Scoring a trained run on any labelled folder (``lstmattn evaluate RUN --data FOLDER``).

The folder's layout says what it holds (:func:`open_labelled_folder`):

* **class folders** — ``FOLDER/<class folder>/<image>`` with the run's
  ``data.class_folders`` (for the two-class runs ``non-COVID/`` and ``COVID/``): every
  image is a classification slice;
* **a COVIDx list** — ``FOLDER/images/`` and one COVIDx split file in ``FOLDER`` (or
  ``FOLDER`` *is* the list file, beside ``images/``): three-class labels, read as
  Negative (Normal) and COVID-19 by a two-class run, whose CP slices are left out;
* **MedSeg masks** — ``FOLDER/Imgs/`` and ``FOLDER/GT/``: every slice is a
  segmentation slice with GGO/consolidation masks.

Classification slices are cropped around their lungs (or body) before resizing under
the same rule as ``lstmattn predict`` (:func:`lstmattn.data.body_crop.crop_rule`,
``--crop auto`` by default: for a run trained on cropped slices, ``data.source
"class-folders"``); a slice already framed on the body is left whole. MedSeg slices
are cropped to the body already and scored with their masks as they are. The rule
applied is in every file's header (``crop``).

Result files are those of every evaluation (:mod:`lstmattn.engine.evaluation`) under
a split name of their own: ``<split>_predictions.csv`` and ``<split>_metrics.json`` for
classification, ``segmentation_<split>.json`` for segmentation, in the run's
``results/`` (or ``out``). The split name is the folder's name, or its parent's and its
own when the folder's name is one of a run's own splits (``medseg-semiseg/train`` →
``medseg-semiseg-train``); every file's header names the folder it scored.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from lstmattn.config import ExperimentConfig
from lstmattn.data.body_crop import NO_CROP, BodyCroppedView, CropRule, crop_rule
from lstmattn.engine.datasets import min_component_area
from lstmattn.engine.evaluation import classification_metrics, predict_classification, segmentation_metrics
from lstmattn.engine.loading import load_trained_model, resolve_checkpoint, resolve_device
from lstmattn.engine.runs import RunDirectory
from lstmattn.errors import DataError, LstmattnError
from lstmattn.io import atomic_write, atomic_write_json

__all__ = ["RESERVED_SPLITS", "LabelledFolder", "split_name", "open_labelled_folder", "evaluate_folder"]

#: Split names a run writes itself; a folder named like one gets its parent's name in front.
RESERVED_SPLITS: frozenset[str] = frozenset({"train", "val", "test", "holdout", "ictcf", "images", "imgs"})


@dataclass(frozen=True)
class LabelledFolder:
    """A labelled folder opened for a run: its kind (``"class folders"``, ``"COVIDx list"``
    or ``"MedSeg masks"``), the data set and the task it serves, a description for the
    result files and the crop rule its slices were served under."""

    kind: str
    task: str  # "classification" or "segmentation"
    dataset: Dataset
    description: str
    crop: CropRule = NO_CROP


def split_name(folder: str | Path) -> str:
    """The split name the result files of ``folder`` get (see the module docstring)."""
    path = Path(folder).resolve()
    path = path.parent if path.is_file() else path
    name = path.name
    if name.lower() in RESERVED_SPLITS:
        name = f"{path.parent.name}-{name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "data"


def _covidx_list(folder: Path) -> Path | None:
    """The one COVIDx list beside ``folder/images``, or ``folder`` itself when it is a list."""
    if folder.is_file():
        return folder
    lists = sorted(folder.glob("*.txt"))
    if len(lists) > 1:
        raise DataError(folder, f"several list files ({', '.join(p.name for p in lists)}); pass the one to score")
    return lists[0] if lists else None


def _medseg_crop(crop: CropRule) -> CropRule:
    """What ``crop`` means for MedSeg slices: none (they are cropped to the body already)."""
    return CropRule(crop.mode, False, "MedSeg slices are cropped to the body already and scored whole, with their masks")


def open_labelled_folder(folder: str | Path, config: ExperimentConfig, crop: CropRule = NO_CROP) -> LabelledFolder:
    """The data set of a labelled ``folder`` at the run's image size (``config``): class
    folders, a COVIDx list or MedSeg masks (module docstring); :class:`DataError`
    saying what was expected when it is none of them. Classification slices are served
    under ``crop`` (default: whole); MedSeg slices always whole."""
    from lstmattn.data.class_folders import ClassFolderDataset, scan_class_folders
    from lstmattn.data.covidx import CovidxClassificationDataset
    from lstmattn.data.medseg import MedsegSegmentationDataset
    from lstmattn.data.two_class import TwoClassView

    path = Path(folder)
    if not path.exists():
        raise DataError(path, "no such folder")
    size = config.model.image_size
    base = path.parent if path.is_file() else path
    if path.is_dir() and (path / "Imgs").is_dir() and (path / "GT").is_dir():
        dataset = MedsegSegmentationDataset(path / "Imgs", path / "GT", image_size=size,
                                            min_component_area=min_component_area(size))
        return LabelledFolder("MedSeg masks", "segmentation", dataset, f"MedSeg lesion masks in {path} ({len(dataset)} slices)",
                              _medseg_crop(crop))
    stored = None if crop.crop else size  # a cropped slice is resized after its crop

    def served(dataset: Dataset) -> Dataset:
        return BodyCroppedView(dataset, size) if crop.crop else dataset

    cropped = ", cropped around the lungs (or body)" if crop.crop else ""
    if path.is_dir() and all((path / name).is_dir() for name in config.data.class_folders):
        records = scan_class_folders(path, config.data.class_folders)
        return LabelledFolder("class folders", "classification", served(ClassFolderDataset(path, records, image_size=stored)),
                              f"class folders {', '.join(config.data.class_folders)} in {path} ({len(records)} slices{cropped})",
                              crop)
    listed = _covidx_list(path) if (base / "images").is_dir() else None
    if listed is not None:
        dataset: Any = served(CovidxClassificationDataset(listed, base / "images", image_size=stored))
        if config.model.num_image_classes == 2:
            dataset = TwoClassView(dataset)
        classes = " (Normal as Negative, CP left out)" if config.model.num_image_classes == 2 else ""
        return LabelledFolder("COVIDx list", "classification", dataset,
                              f"COVIDx list {listed}{classes} ({len(dataset)} slices{cropped})", crop)
    folders = sorted(f"{p.name}/" for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    raise DataError(path, "not a labelled folder this run can score: expected class folders "
                    f"{', '.join(f'{name}/' for name in config.data.class_folders)}, a COVIDx list beside images/, or "
                    f"Imgs/ + GT/ (MedSeg); found the folders {folders or 'none'}")


def evaluate_folder(
    run: RunDirectory,
    folder: str | Path,
    *,
    checkpoint: str | None = None,
    split: str | None = None,
    out: str | Path | None = None,
    device: str | None = None,
    n_resamples: int = 1000,
    progress: bool = True,
    crop: str = "auto",
) -> dict[str, Path]:
    """Score ``run`` on the labelled ``folder`` and write its result files into ``out``
    (default ``run.results``) under ``split`` (default :func:`split_name`); returns the
    paths written. A folder of a task the run's model does not have is refused.
    ``crop`` is the crop mode of its classification slices (``auto``, ``body`` or
    ``none``; :func:`~lstmattn.data.body_crop.crop_rule` with the run's ``data.source``).

    Writing into the run folder, it holds the run's lock (:meth:`RunDirectory.lock`) like
    every other writer, so a run another process trains or evaluates is refused with
    :class:`~lstmattn.engine.runs.RunInUse`; an ``out`` outside the run needs no lock
    (nor write access to the run)."""
    if not run.config_path.is_file():
        raise LstmattnError(f"{run.path}: not a run folder (no config.yaml)")
    target = Path(out) if out is not None else run.results
    into_run = target.resolve().is_relative_to(run.path.resolve())
    with run.lock() if into_run else nullcontext():
        return _evaluate_folder(run, folder, target, checkpoint=checkpoint, split=split, device=device,
                                n_resamples=n_resamples, progress=progress, crop=crop)


def _evaluate_folder(run: RunDirectory, folder: str | Path, target: Path, *, checkpoint: str | None,
                     split: str | None, device: str | None, n_resamples: int, progress: bool, crop: str) -> dict[str, Path]:
    """:func:`evaluate_folder`'s work, writing into ``target``."""
    config = run.config()
    labelled = open_labelled_folder(folder, config, crop_rule(crop, config.data.source))
    device_ = resolve_device(device)
    checkpoint = resolve_checkpoint(run, checkpoint)
    model = load_trained_model(run, checkpoint, device_)
    if labelled.task not in model.tasks:
        raise LstmattnError(f"{run.run_id}: model {config.model_name} does not do {labelled.task}, which "
                            f"{folder} ({labelled.kind}) needs")
    split = split or split_name(folder)
    if split in RESERVED_SPLITS:
        raise LstmattnError(f"split name {split!r} is one a run writes itself; choose another (--split)")
    header: dict[str, Any] = {
        "run_id": run.run_id, "model": config.model_name, "profile": config.profile, "seed": config.train.seed,
        "data": labelled.description, "is_phantom": False, "checkpoint": checkpoint,
        "commit": run.record().get("git_commit", "unknown"), "split": split, "folder": str(Path(folder).resolve()),
        "crop": labelled.crop.to_json(),
    }
    if labelled.task == "segmentation":
        metrics = segmentation_metrics(model, labelled.dataset, device=device_, progress=progress,
                                      n_resamples=n_resamples, seed=config.train.seed)
        return {f"segmentation_{split}": atomic_write_json({**header, **metrics}, target / f"segmentation_{split}.json")}
    num_classes = config.model.num_image_classes
    predictions = predict_classification(model, labelled.dataset, device=device_, num_classes=num_classes, progress=progress)
    csv_path = target / f"{split}_predictions.csv"
    with atomic_write(csv_path) as tmp:
        predictions.to_csv(tmp, index=False)
    metrics = classification_metrics(predictions, num_classes=num_classes, n_resamples=n_resamples, seed=config.train.seed)
    json_path = atomic_write_json({**header, **metrics}, target / f"{split}_metrics.json")
    return {f"{split}_predictions": csv_path, f"{split}_metrics": json_path}
