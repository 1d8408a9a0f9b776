"""``evaluate_run``: a trained run's checkpoint → the result files the tables are built from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lstmattn.engine.datasets import DataBundle, build_data
from lstmattn.engine.evaluation import (
    SEGMENTATION_SLICES_FILE,
    classification_metrics,
    predict_classification,
    read_segmentation_slices,
    segmentation_slices,
    segmentation_summary,
    write_segmentation_slices,
)
from lstmattn.engine.feature_reference import write_feature_reference
from lstmattn.engine.loading import load_trained_model, resolve_checkpoint, resolve_device
from lstmattn.engine.runs import RunDirectory
from lstmattn.io import atomic_write, atomic_write_json
from lstmattn.errors import LstmattnError

__all__ = ["load_trained_model", "evaluate_run"]

#: The tasks of a model `lstmattn predict` runs: only such a run gets a feature reference.
PREDICTED_TASKS = frozenset({"segmentation", "classification"})


def evaluate_run(
    run: RunDirectory,
    *,
    checkpoint: str | None = None,
    data: DataBundle | None = None,
    device: str | None = None,
    n_resamples: int = 1000,
    progress: bool = True,
) -> dict[str, Path]:
    """Evaluate on every classification test split and the segmentation test split, and
    for a model with both tasks (the models ``lstmattn predict`` runs) fit its
    out-of-distribution reference (:mod:`lstmattn.engine.feature_reference`); returns the
    paths of the files written under ``run.results``.

    ``checkpoint`` (``last`` or ``best``; ``None``: the config's
    ``train.evaluate_checkpoint``, ``last`` by default) is resolved by
    :func:`~lstmattn.engine.loading.resolve_checkpoint`; the checkpoint actually used is
    written as ``checkpoint`` into every result file's header and as
    ``evaluated_checkpoint`` into ``record.json``."""
    if not run.config_path.is_file():
        raise LstmattnError(f"{run.path}: not a run folder (no config.yaml)")
    config = run.config()
    device_ = resolve_device(device)
    data = data or build_data(config, progress=progress)
    checkpoint = resolve_checkpoint(run, checkpoint)
    model = load_trained_model(run, checkpoint, device_)
    num_classes = config.model.num_image_classes
    header: dict[str, Any] = {
        "run_id": run.run_id,
        "model": config.model_name,
        "profile": config.profile,
        "seed": config.train.seed,
        "data": data.description,
        "is_phantom": data.is_phantom,
        "checkpoint": checkpoint,
        "commit": run.record().get("git_commit", "unknown"),
    }
    written: dict[str, Path] = {}
    splits = {"test": data.classification_test, **data.extra_classification} if "classification" in model.tasks else {}
    for split, dataset in splits.items():
        predictions = predict_classification(model, dataset, device=device_, num_classes=num_classes, progress=progress)
        csv_path = run.results / f"{split}_predictions.csv"
        with atomic_write(csv_path) as tmp:
            predictions.to_csv(tmp, index=False)
        metrics = {**header, "split": split, **classification_metrics(predictions, num_classes=num_classes, n_resamples=n_resamples, seed=config.train.seed)}
        atomic_write_json(metrics, run.results / f"{split}_metrics.json")
        written[f"{split}_predictions"] = csv_path
        written[f"{split}_metrics"] = run.results / f"{split}_metrics.json"
    if "segmentation" in model.tasks:
        segmentation_header = {**header, "split": "segmentation_test"}
        slices = segmentation_slices(model, data.segmentation_test, device=device_, progress=progress)
        written["segmentation_test_slices"] = write_segmentation_slices({**segmentation_header, **slices},
                                                                        run.results / SEGMENTATION_SLICES_FILE)
        # the numbers come from the file as written: a stored run can recompute every one of them
        summary = segmentation_summary(read_segmentation_slices(written["segmentation_test_slices"]),
                                       n_resamples=n_resamples, seed=config.train.seed)
        atomic_write_json({**segmentation_header, **summary}, run.results / "segmentation_test.json")
        written["segmentation_test"] = run.results / "segmentation_test.json"
    if PREDICTED_TASKS <= model.tasks:  # the models `lstmattn predict` runs
        written["feature_reference"] = write_feature_reference(run, model=model, data=data, checkpoint=checkpoint,
                                                               device=device_, progress=progress)
    run.update_record(status="evaluated", evaluated_checkpoint=checkpoint)
    return written
