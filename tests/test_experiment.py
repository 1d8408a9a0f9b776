"""The experiment layer: resolving profiles, run identity, never reusing a different run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lstmattn.config import save_config
from lstmattn.engine import experiment as experiment_module
from lstmattn.engine.experiment import Experiment, ensure_run, resolve_experiment, with_training
from lstmattn.engine.runs import RunDirectory
from lstmattn.errors import ConfigError, LstmattnError


def test_resolve_experiment_accepts_profile_names_yaml_files_and_configs(tmp_path: Path):
    assert resolve_experiment("paper").model.backbone.name == "resnext101_32x8d"
    path = tmp_path / "real.yaml"
    path.write_text("profile: paper\ndata:\n  source: covidx\n  root: /data/covidx\n  segmentation_root: /data/cncb\n")
    config = resolve_experiment(path)
    assert (config.profile, config.data.source) == ("paper", "covidx")
    assert resolve_experiment(config) is config
    with pytest.raises(ConfigError, match="neither a profile"):
        resolve_experiment("quickk")
    with pytest.raises(ConfigError, match="not found"):
        resolve_experiment(tmp_path / "missing.yaml")


def test_with_training_overrides_only_what_is_given():
    config = with_training(resolve_experiment("quick"), epochs=1, max_steps=3, seed=7, data_root="/tmp/ph")
    assert (config.train.epochs, config.train.max_steps, config.train.seed, config.data.root) == (1, 3, 7, "/tmp/ph")
    assert with_training(config) == config


def test_run_id_names_the_variant_but_identity_is_recorded(tmp_path: Path):
    config = resolve_experiment("quick")
    assert Experiment(config).run_id == "quick-one-shot-lstm-attention-s0"
    assert Experiment(config, "roi_order=confidence").run_id == "quick-one-shot-lstm-attention-roi_order=confidence-s0"
    run = Experiment(config, "two-class").folder(tmp_path)
    import torch

    run.start(config, device=torch.device("cpu"), data={"description": "phantoms"}, variant="two-class")
    identity = json.loads(run.record_path.read_text())["identity"]
    assert identity == {"model": "one-shot-lstm-attention", "variant": "two-class", "profile": "quick", "seed": 0,
                        "data": "phantoms", "is_phantom": True, "source": "phantom", "segmentation_source": "phantom"}
    real = replace(config, data=replace(config.data, source="covidx", segmentation_source="medseg"))
    run.start(real, device=torch.device("cpu"), data={"description": "COVIDx CT-1, MedSeg"})
    identity = json.loads(run.record_path.read_text())["identity"]  # each task's data, for the tables' Δ
    assert (identity["source"], identity["segmentation_source"], identity["is_phantom"]) == ("covidx", "medseg", False)


def test_ensure_run_refuses_a_folder_with_another_config(tmp_path: Path):
    config = resolve_experiment("quick")
    other = replace(config, model=replace(config.model, roi_order="confidence"))
    run = RunDirectory(tmp_path / "quick-one-shot-lstm-attention-s0")
    run.path.mkdir()
    save_config(other, run.config_path)
    with pytest.raises(LstmattnError, match="different config"):
        ensure_run(Experiment(config), root=tmp_path)


def test_ensure_run_refuses_a_folder_recorded_as_another_variant(tmp_path: Path):
    config = resolve_experiment("quick")
    run = Experiment(config, "a").folder(tmp_path)
    run.path.mkdir()
    save_config(config, run.config_path)
    run.update_record(identity={"variant": "b"})
    with pytest.raises(LstmattnError, match="variant 'b'"):
        ensure_run(Experiment(config, "a"), root=tmp_path)


def test_ensure_run_evaluates_again_from_the_configured_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A run evaluated from ``best`` is not "finished" for a config that evaluates ``last``."""
    config = resolve_experiment("quick")
    run = Experiment(config).folder(tmp_path)
    run.path.mkdir()
    save_config(config, run.config_path)
    run.update_record(status="evaluated", evaluated_checkpoint="best", identity={"variant": None})
    evaluated: list[str] = []

    def evaluate(run: RunDirectory, **options) -> dict:
        evaluated.append(run.run_id)
        run.update_record(status="evaluated", evaluated_checkpoint="last")
        return {}

    monkeypatch.setattr(experiment_module, "evaluate_run", evaluate)
    assert not Experiment(config).is_evaluated(tmp_path)
    ensure_run(Experiment(config), root=tmp_path)
    assert evaluated == [run.run_id] and Experiment(config).is_evaluated(tmp_path)
    ensure_run(Experiment(config), root=tmp_path)
    assert evaluated == [run.run_id]  # evaluated from "last" now: reused
