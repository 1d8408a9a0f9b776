"""Configuration dataclasses, profiles and the YAML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmattn.config import PAPER_ANCHOR_SIZES, PROFILES, ModelConfig, get_profile, load_config, save_config, to_dict
from lstmattn.errors import ConfigError


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_round_trip_through_yaml(name: str, tmp_path: Path):
    config = get_profile(name)
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


def test_profile_values_follow_paper_and_reference():
    paper = get_profile("paper")
    assert paper.model.backbone.name == "resnext101_32x8d" and paper.model.image_size == 512
    assert paper.model.roi_batch_size == 16 and paper.model.lstm_hidden_size == 256
    assert (paper.train.lr, paper.train.weight_decay, paper.train.epochs) == (1e-5, 1e-3, 50)
    # §4.1's reported model orders RoIs by distance; §3.3 keeps one FPN level (C5).
    assert paper.model.roi_order == "distance" and paper.train.loss_scheme == "summed"
    assert paper.model.backbone.fpn_levels == "c5" and paper.model.anchor_sizes == PAPER_ANCHOR_SIZES
    assert paper.model.backbone.weights == "IMAGENET1K_V1" and paper.train.evaluate_checkpoint == "last"
    assert paper.model.weight_copy_policy == "best" and paper.model.weight_copy_smoothing == "none"
    reference = get_profile("reference")
    assert reference.model.backbone.fpn_levels == "c5" and reference.model.roi_order == "distance"
    assert reference.train.loss_scheme == "alternating" and reference.model.weight_copy_policy == "previous"
    assert reference.model.anchor_sizes == (2, 4, 8, 16, 32) and reference.model.backbone.weights == "IMAGENET1K_V1"
    # CPU-sized paper: same order, every FPN level at 192² (C5 alone is a 6 × 6 map there),
    # random init, a warm-up + cosine schedule; the paper's schedule stays constant.
    quick = get_profile("quick")
    assert (quick.model.roi_order, quick.model.backbone.fpn_levels, quick.model.backbone.weights) == ("distance", "all", None)
    assert quick.model.anchor_sizes == (12, 24, 48, 96, 192) and quick.train.evaluate_checkpoint == "last"
    assert quick.train.lr_schedule == "warmup_cosine" and paper.train.lr_schedule == "constant"
    real = get_profile("real-quick")
    assert (real.train.lr, real.train.lr_schedule, real.model.image_size) == (3e-4, "constant", 128)


def test_partial_yaml_overrides_profile(tmp_path: Path):
    path = tmp_path / "override.yaml"
    path.write_text("profile: quick\nmodel:\n  roi_order: confidence\ntrain:\n  epochs: 2\n")
    config = load_config(path)
    assert config.profile == "quick" and config.model.roi_order == "confidence" and config.train.epochs == 2
    assert config.model.backbone == get_profile("quick").model.backbone


def test_invalid_values_are_named(tmp_path: Path):
    with pytest.raises(ConfigError, match="roi_order"):
        ModelConfig(roi_order="random")
    with pytest.raises(ConfigError, match="unknown profile"):
        get_profile("fast")
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  lstm_size: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*lstm_size"):
        load_config(path)


def test_get_profile_returns_an_independent_copy():
    pristine = to_dict(get_profile("paper"))
    changed = get_profile("paper")
    changed.train.lr = 0.5
    changed.data.phantom_per_class["train"] = 1
    changed.model.backbone.weights = None
    fresh = get_profile("paper")
    assert fresh.train.lr == 1e-5 and fresh.data.phantom_per_class["train"] == 200
    assert to_dict(fresh) == pristine and fresh is not changed
