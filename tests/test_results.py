"""The typed results reader (lstmattn.results) over hand-written run folders."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lstmattn.errors import DataError, LstmattnError
from lstmattn.io import atomic_write_json
from lstmattn.results import AP_VARIANTS, Estimate, read_run, read_runs
from result_fixtures import COMMIT, PHANTOM, THREE, TWO, classification, make_run, segmentation, with_intervals

ONE_SHOT = "one-shot-lstm-attention"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path, ONE_SHOT, test=classification(THREE, {"Normal": 0.9, "CP": 0.8, "COVID-19": 0.75}, 0.81),
                    holdout=classification(THREE, {"Normal": 0.95, "CP": 0.85, "COVID-19": 0.7}, 0.85),
                    segmentation=segmentation(0.4))


def test_read_run_types_every_result_file(run: Path) -> None:
    results = read_run(run)
    assert results is not None and results.path == run and results.run_id == "quick-one-shot-lstm-attention-s0"
    assert (results.commit, results.checkpoint, results.created) == (COMMIT, "best", "2025-01-01T00:00:00")
    assert results.identity.model == ONE_SHOT and results.identity.variant is None
    assert (results.identity.profile, results.identity.seed, results.identity.data) == ("quick", 0, PHANTOM)
    assert results.identity.is_phantom
    assert sorted(results.classification) == ["holdout", "test"]
    test = results.classification["test"]
    assert test.split == "test" and test.n == 36 and test.class_names == THREE and not test.is_two_class
    assert test.metric("f1") == Estimate(0.81, 0.81 - 0.02, 0.81 + 0.02, 0.95)
    assert test.sensitivity("COVID-19").estimate == pytest.approx(0.75)
    assert test.sensitivity("COVID-19").scaled(100).low == pytest.approx(73.0)
    assert test.metric("no such metric") is None
    assert test.support == (12, 12, 12) and test.confusion[1] == (1, 10, 1)
    assert test.confusion_frame().loc["CP", "CP"] == 10
    segmentation_result = results.segmentation
    assert segmentation_result is not None and segmentation_result.n == 30
    assert set(segmentation_result.ap) == set(AP_VARIANTS)
    assert segmentation_result.ap_of("per_image/lesions")["AP@0.5"] == pytest.approx(0.2)
    assert segmentation_result.dice["dataset"]["any lesion"] == pytest.approx(0.5)
    with pytest.raises(LstmattnError, match="segmentation_test.json.*no AP variant 'lungs'"):
        segmentation_result.ap_of("lungs")
    with pytest.raises(TypeError):
        results.classification["ictcf"] = test  # read-only


def test_segmentation_intervals_are_read_and_older_files_read_without_them(tmp_path: Path) -> None:
    old = read_run(make_run(tmp_path, ONE_SHOT, segmentation=segmentation(0.4))).segmentation
    assert old is not None and not old.has_intervals and old.n_resamples is None
    estimate = old.ap_estimate("per_image/all_classes", "AP@0.5")
    assert estimate.estimate == pytest.approx(0.4) and math.isnan(estimate.low) and math.isnan(estimate.high)
    assert math.isnan(old.dice_estimate("mean_per_image", "GGO").estimate)  # the file has no GGO Dice
    new = read_run(make_run(tmp_path, "mask-rcnn", segmentation=with_intervals(segmentation(0.4), n_resamples=200)))
    result = new.segmentation
    assert result.has_intervals and result.n_resamples == 200
    lesions = result.ap_estimate("per_image/lesions", "AP@0.5")
    assert (lesions.estimate, lesions.low, lesions.high, lesions.confidence) == pytest.approx((0.2, 0.18, 0.22, 0.95))
    assert result.dice_estimate("dataset", "any lesion") == Estimate(0.5, 0.48, 0.52, 0.95)
    assert result.ap_of("per_image/lesions")["AP@0.5"] == pytest.approx(0.2)  # the point values as before
    broken = {**with_intervals(segmentation(0.4)), "intervals": {"ap": {"per_image/lesions": {"AP@0.5": 0.2}}}}
    make_run(tmp_path, "one-shot-affinity", segmentation=broken)
    with pytest.raises(DataError, match="segmentation_test.json: interval of ap per_image/lesions AP@0.5"):
        read_run(tmp_path / "quick-one-shot-affinity-s0")


def test_unevaluated_run_is_none(tmp_path: Path) -> None:
    atomic_write_json({"run_id": "training", "identity": {}}, tmp_path / "training" / "record.json")
    assert read_run(tmp_path / "training") is None
    assert read_run(tmp_path / "no-such-run") is None


def test_identity_comes_from_the_record_not_the_folder_name(tmp_path: Path) -> None:
    path = make_run(tmp_path, ONE_SHOT, profile="paper", seed=3, variant="roi_order=confidence", folder="whatever",
                    test=classification(THREE, {"COVID-19": 0.9}, 0.9))
    results = read_run(path)
    assert results.run_id == "whatever"
    assert (results.identity.model, results.identity.variant) == (ONE_SHOT, "roi_order=confidence")
    assert (results.identity.profile, results.identity.seed) == ("paper", 3)
    assert [r.run_id for r in read_runs(tmp_path, profile="paper", seed=3)] == ["whatever"]


def test_read_runs_filters_and_sorts(tmp_path: Path) -> None:
    make_run(tmp_path, "mask-rcnn", seed=1, segmentation=segmentation(0.3))
    make_run(tmp_path, "mask-rcnn", seed=0, segmentation=segmentation(0.3))
    make_run(tmp_path, "classifier-resnet18", test=classification(THREE, {"CP": 0.5}, 0.5))
    make_run(tmp_path, ONE_SHOT, profile="paper", test=classification(TWO, {"COVID-19": 0.5}, 0.5))
    (tmp_path / "_data").mkdir()
    assert [r.run_id for r in read_runs(tmp_path)] == [
        "quick-classifier-resnet18-s0", "quick-mask-rcnn-s0", "quick-mask-rcnn-s1", "paper-one-shot-lstm-attention-s0"]
    assert [r.run_id for r in read_runs(tmp_path, profile="quick", seed=1)] == ["quick-mask-rcnn-s1"]
    assert read_runs(tmp_path, profile="paper")[0].classification["test"].is_two_class
    assert read_runs(tmp_path / "missing") == []


@pytest.mark.parametrize("corrupt, message", [
    (lambda run: (run / "results" / "test_metrics.json").write_text("{not json"), "test_metrics.json: cannot read"),
    (lambda run: (run / "results" / "segmentation_test.json").write_text("[1, 2]"), "segmentation_test.json: .*JSON object"),
    (lambda run: (run / "record.json").write_text(""), "record.json: cannot read"),
    (lambda run: atomic_write_json({"run_id": "x"}, run / "record.json"), "record.json: run record has no 'identity'"),
    (lambda run: atomic_write_json({"identity": {"model": "m", "variant": None, "profile": "quick", "seed": "0",
                                                 "data": "d", "is_phantom": True}}, run / "record.json"),
     "record.json: 'seed' must be int"),
    (lambda run: atomic_write_json({"n": 3, "class_names": ["a"], "metrics": {}, "confusion": [[1, 2]]},
                                   run / "results" / "holdout_metrics.json"), "holdout_metrics.json: 'confusion' must be"),
    (lambda run: atomic_write_json({"n": 3, "class_names": ["a"], "metrics": {"f1": {"estimate": "high"}},
                                    "confusion": [[1]]}, run / "results" / "holdout_metrics.json"),
     "holdout_metrics.json: metric 'f1' estimate must be a number"),
])
def test_corrupt_run_is_skipped_with_a_warning_naming_the_file(run: Path, corrupt, message: str) -> None:
    make_run(run.parent, "mask-rcnn", segmentation=segmentation(0.3))
    corrupt(run)
    with pytest.raises(DataError, match=message):
        read_run(run)
    with pytest.warns(UserWarning, match=f"skipped run {run.name}: .*{message}"):
        runs = read_runs(run.parent)
    assert [r.identity.model for r in runs] == ["mask-rcnn"]


def test_null_metrics_read_as_nan(run: Path) -> None:
    atomic_write_json({"n": 3, "class_names": list(TWO), "confusion": [[1, 0], [0, 2]],
                       "metrics": {"f1": {"estimate": None, "low": None, "high": None}}},
                      run / "results" / "ictcf_metrics.json")
    f1 = read_run(run).classification["ictcf"].metric("f1")
    assert math.isnan(f1.estimate) and f1.confidence == 0.95


def test_predictions_and_config(run: Path) -> None:
    from lstmattn.config import get_profile, save_config

    results = read_run(run)
    with pytest.raises(DataError, match="test_predictions.csv"):
        results.predictions("test")
    pd.DataFrame({"file": ["a.png"], "label": [2], "predicted": [1], "prob_COVID-19": [0.4]}).to_csv(
        run / "results" / "test_predictions.csv", index=False)
    assert results.predictions("test").loc[0, "prob_COVID-19"] == pytest.approx(0.4)
    pd.DataFrame({"file": ["a.png"]}).to_csv(run / "results" / "holdout_predictions.csv", index=False)
    with pytest.raises(DataError, match="lack the column"):
        results.predictions("holdout")
    with pytest.raises(LstmattnError, match="config.yaml"):
        results.config()
    save_config(get_profile("quick"), results.config_path)
    assert results.config() == get_profile("quick")


def test_reader_imports_no_torch_engine_or_presentation() -> None:
    code = ("import sys, lstmattn.results; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('lstmattn.engine', 'lstmattn.model', "
            "'lstmattn.tables', 'lstmattn.viz', 'lstmattn.book'))))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_epochs_read_the_weight_copies_from_the_log(run: Path) -> None:
    lines = ['{"kind": "step", "step": 1, "loss": 1.0}',
             '{"kind": "epoch", "epoch": 0, "step": 45, "steps": 45, "complete": true, "copies": 7}',
             '{"kind": "validation", "step": 45, "val_f1": 0.5}',
             '{"kind": "epoch", "epoch": 1, "step": 50, "steps": 5, "complete": false, "copies": 1}']
    (run / "log.jsonl").write_text("\n".join(lines) + "\n")
    epochs = read_run(run).epochs()
    assert epochs.to_dict("records") == [
        {"epoch": 0, "step": 45, "steps": 45, "complete": True, "copies": 7},
        {"epoch": 1, "step": 50, "steps": 5, "complete": False, "copies": 1},
    ]
    (run / "log.jsonl").write_text("{broken\n")
    with pytest.raises(DataError, match="log.jsonl.*line 1 is not JSON"):
        read_run(run).epochs()
