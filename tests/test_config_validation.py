"""Config validation (issue 15, "Configs"): every bad value is one ConfigError line naming
the field, the value and what is allowed, raised before any run folder exists; values
the user plainly meant are accepted as meant."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lstmattn.cli import main
from lstmattn.config import DataConfig, ModelConfig, TrainConfig, get_profile, load_config
from lstmattn.errors import ConfigError


def _load(tmp_path: Path, text: str, **options: str | None):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, **options)


def _refused(tmp_path: Path, text: str) -> str:
    """The one-line message a config file ``text`` is refused with."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "config.yaml"))
    return message


# -------------------------------------------------------------- accepted as meant
def test_yaml_1_1_exponent_without_dot_is_the_number_meant(tmp_path: Path):
    assert _load(tmp_path, "train:\n  lr: 1e-3\n").train.lr == 1e-3


def test_integer_written_as_string_is_the_integer(tmp_path: Path):
    config = _load(tmp_path, 'train:\n  max_steps: "3"\n  epochs: "4"\n')
    assert (config.train.max_steps, config.train.epochs) == (3, 4)
    assert isinstance(config.train.max_steps, int) and isinstance(config.train.epochs, int)


def test_lists_become_tuples_and_ints_become_floats(tmp_path: Path):
    config = _load(tmp_path, "train:\n  betas: [0, 0.5]\n  weight_decay: 0\n")
    assert config.train.betas == (0.0, 0.5) and isinstance(config.train.weight_decay, float)


def test_empty_section_changes_nothing(tmp_path: Path):
    assert _load(tmp_path, "profile: quick\ntrain:\n") == get_profile("quick")


# -------------------------------------------------------------------- refused
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train: 5\n", "train must be a mapping of train settings, got 5"),
        ("train:\n  betas: 0.9\n", "train.betas must be a list of 2 numbers in [0, 1), got 0.9"),
        ("train:\n  betas: [0.9, 1.5]\n", "train.betas must be a list of 2 numbers in [0, 1), got [0.9, 1.5]"),
        ("train:\n  weight_decay: -1\n", "train.weight_decay must be a number >= 0, got -1"),
        ("train:\n  seed: abc\n", "train.seed must be an integer in [0, 4294967295], got 'abc'"),
        ("train:\n  max_steps: -5\n", "train.max_steps must be an integer >= 1 or null, got -5"),
        ("train:\n  max_steps: 0\n", "train.max_steps must be an integer >= 1 or null, got 0"),
        ("train:\n  segmentation_batch_size: 0\n", "train.segmentation_batch_size must be an integer >= 1, got 0"),
        ("train:\n  epochs: true\n", "train.epochs must be an integer >= 1, got True"),
        ("train:\n  epochs: 2.5\n", "train.epochs must be an integer >= 1, got 2.5"),
        ("train:\n  amp: 1\n", "train.amp must be true or false, got 1"),
        ("train:\n  lr: .nan\n", "train.lr must be a number > 0, got nan"),
        ("model:\n  backbone: resnet18\n", "model.backbone must be a mapping of model.backbone settings, got 'resnet18'"),
        ("model:\n  backbone:\n    trainable_layers: 9\n", "model.backbone.trainable_layers must be an integer in [0, 5], got 9"),
        ("model:\n  image_size: 100\n", "model.image_size must be an integer >= 32 and a multiple of 32, got 100"),
        ("model:\n  anchor_sizes: [8, -16]\n", "model.anchor_sizes must be a non-empty list of integers >= 1 or null, got [8, -16]"),
        ("data:\n  phantom_per_class: {train: 3}\n", "data.phantom_per_class must give train, val, test at least 1 slice each"),
        ("data:\n  source: nih\n", "data.source must be one of 'phantom', 'covidx', 'ictcf', 'class-folders', got 'nih'"),
        ("model_name: 7\n", "model_name must be a non-empty string, got 7"),
        ('train:\n  max_steps: "1_000"\n', "train.max_steps must be an integer >= 1 or null, got '1_000'"),
        ('train:\n  epochs: " 3 "\n', "train.epochs must be an integer >= 1, got ' 3 '"),
        ('train:\n  lr: " 1e-3"\n', "train.lr must be a number > 0, got ' 1e-3'"),
        ("model:\n  rpn_post_nms_top_n_train: 2500\n",
         "model.rpn_post_nms_top_n_train must be <= model.rpn_pre_nms_top_n_train (2000), got 2500"),
        ("model:\n  rpn_pre_nms_top_n_test: 500\n",
         "model.rpn_post_nms_top_n_test must be <= model.rpn_pre_nms_top_n_test (500), got 1000"),
    ],
)
def test_bad_value_is_named_with_what_is_allowed(tmp_path: Path, text: str, expected: str):
    assert expected in _refused(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train:\n  lrr: 0.1\n", "train.lrr is not a setting (did you mean train.lr?)"),
        ("lr: 0.1\n", "lr is not a setting (did you mean train.lr?)"),
        ("model:\n  backbone:\n    depth: 3\n", "model.backbone.depth is not a setting"),
    ],
)
def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path, text: str, expected: str):
    assert expected in _refused(tmp_path, text)


@pytest.mark.parametrize("data", [b"- 1\n- 2\n", b"0\n", b"train: [\n", b"train:\n  lr: 2001-99-99\n", b"\xff\xfe\x00\xd8"])
def test_a_file_that_is_not_a_config_mapping_is_one_line(tmp_path: Path, data: bytes):
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(path))


def test_direct_construction_and_replace_validate_too():
    with pytest.raises(ConfigError, match=r"^train\.max_steps must be an integer >= 1 or null, got -5$"):
        replace(get_profile("quick").train, max_steps=-5)
    with pytest.raises(ConfigError, match=r"^model\.box_bg_iou_thresh must be <= model\.box_fg_iou_thresh"):
        ModelConfig(box_bg_iou_thresh=0.6, box_fg_iou_thresh=0.5)
    assert TrainConfig(lr="3e-4").lr == 3e-4
    assert DataConfig(root=Path("/data")).root == "/data"


# ------------------------------------------------------------ base profile
def test_file_without_profile_takes_the_profile_asked_for(tmp_path: Path):
    config = _load(tmp_path, "train:\n  epochs: 2\n", base_profile="quick")
    assert config.profile == "quick" and config.model == get_profile("quick").model and config.train.epochs == 2
    assert _load(tmp_path, "train:\n  epochs: 2\n", default_profile="reference").profile == "reference"


def test_file_naming_another_profile_than_asked_is_refused(tmp_path: Path):
    assert _load(tmp_path, "profile: quick\n", base_profile="quick") == get_profile("quick")
    with pytest.raises(ConfigError, match=r"profile 'paper' in the file contradicts the profile asked for \('quick'\)"):
        _load(tmp_path, "profile: paper\n", base_profile="quick")


def test_cli_uses_profile_flag_as_base_and_quick_by_default(tmp_path: Path, monkeypatch):
    """``--profile`` reaches load_config as the base; without it the file decides, then ``quick``."""
    import lstmattn.engine.experiment as experiment

    calls: list[dict] = []

    def spy(path: Path, **options: str | None):
        calls.append(options)
        raise ConfigError("stop here")

    monkeypatch.setattr(experiment, "load_config", spy)
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 2\n")
    assert main(["train", "--config", str(path)]) == 2
    assert main(["train", "--profile", "paper", "--config", str(path)]) == 2
    assert calls == [{"base_profile": None, "default_profile": "quick"}, {"base_profile": "paper", "default_profile": "quick"}]
    monkeypatch.undo()
    assert experiment.resolve_experiment("reference", config_file=path).profile == "reference"
    assert experiment.resolve_experiment(None, config_file=path).profile == "quick"


def test_cli_refuses_bad_configs_before_training_starts(tmp_path: Path, monkeypatch, capsys):
    import lstmattn.engine.trainer as trainer

    def training_started(*args, **kwargs):
        raise AssertionError("training started with an invalid config")

    monkeypatch.setattr(trainer, "train", training_started)
    runs = tmp_path / "runs"
    monkeypatch.setenv("LSTMATTN_RUNS", str(runs))
    monkeypatch.setenv("LSTMATTN_DATA_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "c.yaml"
    path.write_text("profile: paper\n")
    assert main(["train", "--profile", "quick", "--config", str(path)]) == 2
    path.write_text("train:\n  max_steps: 2x\n")
    assert main(["train", "--config", str(path)]) == 2
    assert main(["train", "--max-steps", "-5"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("lstmattn: error: ") for line in errors)
    assert "train.max_steps must be an integer >= 1 or null, got -5" in errors[2]
    assert not runs.exists() and not (tmp_path / "cache").exists()
