"""book_runs: the chapters' run plan, and training it up front in worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmattn.book_runs import (
    CHAPTER_RUNS,
    CLASSIFIER_RUNS,
    PlannedRun,
    PretrainFailed,
    planned_config,
    planned_runs,
    train_planned_runs,
)
from lstmattn.companion import Chapter
from lstmattn.model import available_models
from lstmattn.paper_tables import ABLATIONS, TABLE2, TWO_CLASS_VARIANT


def test_plan_covers_every_table_row_and_ablation() -> None:
    registered = set(available_models())
    for runs in CHAPTER_RUNS.values():
        assert all(run.model_name in registered for run in runs)
        assert len({run.label for run in runs}) == len(runs)
    table2_models = {row.model for row in TABLE2.rows if row.model}
    assert table2_models == {run.model_name for run in CHAPTER_RUNS[4]}
    assert set(CLASSIFIER_RUNS) <= table2_models
    chapter5 = {run.label: run for run in CHAPTER_RUNS[5]}
    assert {f"one-shot-lstm-attention-{a.variant}" for a in ABLATIONS} <= set(chapter5)
    assert {run.model_name for run in CHAPTER_RUNS[5] if run.variant == TWO_CLASS_VARIANT} == {
        "one-shot-lstm-attention", "one-shot-affinity"}
    # The default one-shot run is planned by several chapters but trained once.
    assert [run.label for run in planned_runs([2, 3, 6])].count("one-shot-lstm-attention") == 1


def test_planned_config_applies_model_and_train_overrides() -> None:
    chapter = Chapter(profile="quick", max_steps=5, seed=3)
    alternating = next(run for run in CHAPTER_RUNS[5] if run.variant == "loss_scheme=alternating")
    config = planned_config(chapter, alternating)
    assert config.train.loss_scheme == "alternating" and (config.train.max_steps, config.train.seed) == (5, 3)
    two_class = planned_config(chapter, PlannedRun("one-shot-affinity", TWO_CLASS_VARIANT, model={"num_image_classes": 2}))
    assert two_class.model.num_image_classes == 2 and two_class.model_name == "one-shot-affinity"


@pytest.fixture
def tiny_profile(tmp_path: Path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "profile: quick\n"
        "model: {image_size: 64, classifier_image_size: 64, backbone: {name: resnet18, out_channels: 16}}\n"
        "train: {epochs: 1, max_steps: 1, classification_batch_size: 2, segmentation_batch_size: 1}\n"
        "data:\n"
        "  phantom_per_class: {train: 2, val: 1, test: 1, holdout: 1}\n"
        "  phantom_segmentation: {train: 2, test: 1}\n"
    )
    return str(path)


def test_runs_train_in_parallel_workers_once(tmp_path: Path, tiny_profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSTMATTN_DATA_CACHE", str(tmp_path / "cache"))
    chapter = Chapter(profile=tiny_profile, output_dir=str(tmp_path / "runs"), progress=False)
    plan = [PlannedRun("classifier-resnet18"), PlannedRun("mask-rcnn"),
            PlannedRun("classifier-resnet18", TWO_CLASS_VARIANT, model={"num_image_classes": 2})]
    lines: list[str] = []
    seconds = train_planned_runs(chapter, plan, jobs=2, echo=lines.append)
    assert set(seconds) == {run.label for run in plan}
    assert "2 worker(s)" in lines[0]
    for label in seconds:
        results = tmp_path / "runs" / f"quick-{label}-s0" / "results"
        assert (results / ("segmentation_test.json" if label == "mask-rcnn" else "test_metrics.json")).is_file()
    assert (tmp_path / "runs" / "quick-classifier-resnet18-s0" / "results" / "holdout_metrics.json").is_file()
    assert train_planned_runs(chapter, plan, jobs=2, echo=lines.append) == {}  # finished runs are reused


def test_every_failure_is_reported(tmp_path: Path, tiny_profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSTMATTN_DATA_CACHE", str(tmp_path / "cache"))
    chapter = Chapter(profile=tiny_profile, output_dir=str(tmp_path / "runs"), progress=False)
    plan = [PlannedRun("no-such-model"),
            PlannedRun("mask-rcnn", "bad-b", train={"loss_scheme": "alternating"}),
            PlannedRun("classifier-resnet18")]
    with pytest.raises(PretrainFailed) as failed:
        train_planned_runs(chapter, plan, jobs=2, echo=lambda line: None)
    assert set(failed.value.failures) == {"no-such-model", "mask-rcnn-bad-b"}
    assert "no-such-model" in failed.value.failures["no-such-model"]
    assert "alternating" in failed.value.failures["mask-rcnn-bad-b"]
    assert (tmp_path / "runs" / "quick-classifier-resnet18-s0" / "results" / "test_metrics.json").is_file()


def test_two_class_runs_on_real_data_need_ictcf(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("profile: paper\ndata: {source: covidx, root: /d/CT1, segmentation_root: /d/SEG}\n")
    two_class = next(run for run in CHAPTER_RUNS[5] if run.variant == TWO_CLASS_VARIANT)
    assert planned_config(Chapter(profile=str(real)), two_class) is None
    assert planned_config(Chapter(profile=str(real)), CHAPTER_RUNS[5][0]).data.source == "covidx"
    real.write_text("profile: paper\ndata: {source: covidx, root: /d/CT1, segmentation_root: /d/SEG, ictcf_root: /d/ictcf}\n")
    config = planned_config(Chapter(profile=str(real)), two_class)
    assert (config.data.source, config.data.root, config.data.segmentation_root) == ("ictcf", "/d/ictcf", "/d/SEG")
