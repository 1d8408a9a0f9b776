"""companion: configs for chapters, YAML profiles, and the never-reuse-a-different-run rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmattn.companion import Chapter, ensure_run, experiment
from lstmattn.config import save_config
from lstmattn.engine.runs import RunDirectory
from lstmattn.errors import LstmattnError


def test_experiment_accepts_profile_names_and_yaml_files(tmp_path: Path):
    assert experiment("paper").model.backbone.name == "resnext101_32x8d"
    path = tmp_path / "real.yaml"
    path.write_text("profile: paper\ndata:\n  source: covidx\n  root: /data/covidx\n  segmentation_root: /data/cncb\n")
    config = experiment(str(path), "mask-rcnn", roi_order="distance")
    assert config.data.source == "covidx" and config.model_name == "mask-rcnn" and config.model.roi_order == "distance"


def test_chapter_applies_training_overrides():
    config = Chapter(profile="quick", epochs=1, max_steps=3, seed=7, data_root="/tmp/ph").config("one-shot-affinity")
    assert (config.train.epochs, config.train.max_steps, config.train.seed) == (1, 3, 7)
    assert config.data.root == "/tmp/ph" and config.model_name == "one-shot-affinity"


def test_ensure_run_refuses_a_folder_with_another_config(tmp_path: Path):
    config = experiment("quick")
    other = experiment("quick", roi_order="distance")
    run = RunDirectory(tmp_path / "quick-one-shot-lstm-attention-s0")
    run.path.mkdir()
    save_config(other, run.config_path)
    with pytest.raises(LstmattnError, match="different config"):
        ensure_run(config, root=tmp_path)
