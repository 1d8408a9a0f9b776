"""The out-of-distribution check of ``lstmattn predict``: pooled features, the fitted
reference (lstmattn.engine.features, lstmattn.engine.feature_reference) and the flag in
every output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from conftest import tiny_model_config
from engine_fixtures import toy_bundle, toy_config
from lstmattn.cli import main
from lstmattn.config import get_profile
from lstmattn.engine.datasets import DataBundle
from lstmattn.engine.feature_reference import (
    FALSE_ALARM_RATE,
    REFERENCE_FILE,
    FeatureReference,
    compute_feature_reference,
    fit_reference,
    read_feature_reference,
    write_feature_reference,
)
from lstmattn.engine.features import FeatureTap, dataset_features
from lstmattn.engine.predict import UNLIKE_TRAINING, TrainingData, predict_slices
from lstmattn.engine.results import evaluate_run
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.trainer import train
from lstmattn.errors import LstmattnError
from lstmattn.labels import class_names_for
from lstmattn.model import create


class _Slices(Dataset):
    """``n`` 64 px slices of one kind: ``smooth`` (low-frequency grey, like a body) or
    ``noise`` (independent uniform pixels)."""

    def __init__(self, kind: str, n: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        if kind == "smooth":
            coarse = torch.rand(n, 1, 6, 6, generator=generator)
            grey = F.interpolate(coarse, size=(64, 64), mode="bicubic", align_corners=False).clamp(0, 1)
        else:
            grey = torch.rand(n, 1, 64, 64, generator=generator)
        self.images = grey.expand(-1, 3, -1, -1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], {"image_label": torch.tensor(0), "file": f"{index}.png"}


def _bundle(kind: str) -> DataBundle:
    return DataBundle(description=f"{kind} slices (tests)", is_phantom=False, segmentation_train=_Slices(kind, 1, 0),
                      segmentation_test=_Slices(kind, 1, 0), classification_train=_Slices(kind, 60, 1),
                      classification_val=_Slices(kind, 100, 2), classification_test=_Slices(kind, 60, 3))


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    config = get_profile("quick")
    from dataclasses import replace

    return create(config.model_name, replace(config, model=tiny_model_config())).eval()


def test_fit_reference_flags_the_calibrated_share_and_shifted_features() -> None:
    generator = np.random.default_rng(0)
    fit, calibration, held_out = (generator.normal(size=(n, 20)) for n in (400, 400, 2000))
    reference = fit_reference(fit, calibration, metadata={"features": "test"})
    flagged = np.mean([check.out_of_distribution for check in reference.checks(held_out)])
    assert abs(flagged - FALSE_ALARM_RATE) < 0.03
    assert all(check.out_of_distribution for check in reference.checks(held_out[:100] + 3.0))
    assert reference.metadata["n_fitted"] == 400 and reference.metadata["n_calibrated"] == 400
    assert reference.precision.dtype == np.float32 and reference.metadata["features"] == "test"


def test_reference_is_saved_atomically_and_loaded_back(tmp_path: Path) -> None:
    generator = np.random.default_rng(1)
    reference = fit_reference(generator.normal(size=(50, 8)), generator.normal(size=(20, 8)), metadata={"features": "x"})
    path = reference.save(tmp_path / "results" / REFERENCE_FILE)
    assert [p.name for p in path.parent.iterdir()] == [REFERENCE_FILE]
    loaded = FeatureReference.load(path)
    assert loaded.threshold == reference.threshold and loaded.metadata == reference.metadata
    assert np.array_equal(loaded.mean, reference.mean) and np.array_equal(loaded.precision, reference.precision)
    (tmp_path / "bad.npz").write_text("not an npz\n")
    with pytest.raises(LstmattnError, match="bad.npz: not a feature reference"):
        FeatureReference.load(tmp_path / "bad.npz")


def test_tap_takes_the_features_of_the_predicting_pass(tiny_model: torch.nn.Module) -> None:
    images = [_Slices("smooth", 2, 5)[i][0] for i in range(2)]
    features = dataset_features(tiny_model, _Slices("smooth", 2, 5))
    with torch.no_grad(), FeatureTap(tiny_model) as tap:
        tiny_model(images)
        during_prediction = tap.take()
    assert features.shape == (2, 5 * 32)  # five FPN levels of 32 channels
    assert np.allclose(during_prediction, features, atol=1e-5)


@pytest.mark.parametrize("trained, other", [("smooth", "noise"), ("noise", "smooth")])
def test_tiny_model_passes_its_own_kind_and_flags_the_other(tiny_model: torch.nn.Module, trained: str, other: str) -> None:
    reference = compute_feature_reference(tiny_model, _bundle(trained))
    own = reference.distances(dataset_features(tiny_model, _bundle(trained).classification_test))
    foreign = reference.distances(dataset_features(tiny_model, _bundle(other).classification_test))
    assert np.mean(own > reference.threshold) <= 0.2  # 5 % expected; a 100-slice calibration is noisy
    assert np.mean(foreign > reference.threshold) >= 0.95


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-step toy run (noise slices), evaluated: its results hold the reference."""
    run = RunDirectory(tmp_path_factory.mktemp("runs") / "toy")
    train(toy_config(max_steps=1), run, data=toy_bundle(), progress=False, device="cpu")
    evaluate_run(run, data=toy_bundle(), device="cpu", n_resamples=10, progress=False)
    return run.path


def test_evaluation_writes_the_reference(evaluated_run: Path) -> None:
    reference = read_feature_reference(RunDirectory(evaluated_run))
    assert reference is not None and reference.metadata["checkpoint"] == "last"
    assert reference.metadata["calibration_split"] == "classification val" and reference.false_alarm_rate == FALSE_ALARM_RATE


def test_cli_flags_real_ct_for_a_noise_trained_model_in_every_output(evaluated_run: Path, sample_data: Path,
                                                                     tmp_path: Path, capsys) -> None:
    real = tmp_path / "real"
    real.mkdir()
    for path in sorted((sample_data / "covidx-ct-sample" / "images").glob("COVIDCTMD-normal001-*.png"))[:3]:
        shutil.copy(path, real / path.name)
    out = tmp_path / "out"
    assert main(["predict", str(real), "--run", str(evaluated_run), "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    document = json.loads((out / "predictions.json").read_text())
    check = document["out_of_distribution_check"]
    assert check["false_alarm_rate"] == FALSE_ALARM_RATE and check["threshold"] > 0
    for record in document["slices"]:
        assert record["out_of_distribution"] is True
        assert record["feature_check"]["feature_distance"] > record["feature_check"]["threshold"]
        assert any(UNLIKE_TRAINING in warning for warning in record["warnings"])  # the overlay caption's line
    (summary,) = document["series_summaries"]
    assert summary["out_of_distribution_slices"] == 3
    assert f"3 of 3 slices {UNLIKE_TRAINING}; treat the result as unreliable" in summary["warnings"]
    lines = [line for line in err.splitlines() if f"3 of 3 slices {UNLIKE_TRAINING}" in line]
    assert len(lines) == 2 and lines[0].startswith("lstmattn: warning: series ")  # the series, then the total
    assert "unavailable" not in err


def test_predict_without_a_reference_says_so_in_one_line(evaluated_run: Path, sample_data: Path, tmp_path: Path,
                                                         capsys) -> None:
    run = tmp_path / "old-run"
    shutil.copytree(evaluated_run, run)
    (run / "results" / REFERENCE_FILE).unlink()
    png = sorted((sample_data / "covidx-ct-sample" / "images").glob("*.png"))[0]
    out = tmp_path / "out"
    assert main(["predict", str(png), "--run", str(run), "--out", str(out), "--no-overlays", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("the out-of-distribution check is unavailable for this run") == 1
    document = json.loads((out / "predictions.json").read_text())
    assert document["out_of_distribution_check"]["method"] is None
    assert document["slices"][0]["feature_check"] is None


def test_an_existing_run_gets_its_reference_afterwards(evaluated_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "old-run"
    shutil.copytree(evaluated_run, run)
    (run / "results" / REFERENCE_FILE).unlink()
    path = write_feature_reference(RunDirectory(run), data=toy_bundle())  # the model loaded from its checkpoint
    assert path == run / "results" / REFERENCE_FILE
    assert FeatureReference.load(path).threshold == read_feature_reference(RunDirectory(evaluated_run)).threshold
    assert main(["evaluate", str(run), "--feature-reference", "--data", str(tmp_path)]) == 2
    assert "does not go with --data" in capsys.readouterr().err


def test_predict_slices_checks_each_slice_against_the_reference(tiny_model: torch.nn.Module) -> None:
    reference = compute_feature_reference(tiny_model, _bundle("smooth"))
    training = TrainingData("smooth slices (tests)", False, features=reference)
    noise = [np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)]
    (prediction,) = predict_slices(tiny_model, noise, class_names=class_names_for(3), training=training)
    assert prediction.out_of_distribution and prediction.features.threshold == reference.threshold
    assert prediction.to_json()["out_of_distribution"] is True
