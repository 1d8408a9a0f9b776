"""Property-based tests of the config loader: any file and any mapping give a config or a
one-line LstmattnError, never another exception, and every accepted config round-trips."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lstmattn.config import (
    BackboneConfig,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    from_dict,
    get_profile,
    load_config,
    save_config,
)
from lstmattn.errors import LstmattnError

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["1e-3", "4", "-5", "resnet18", "c5", "quick", "paper", "summed", "0.5"])
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                       max_leaves=8)


def _section(cls: type, nested: st.SearchStrategy | None = None) -> st.SearchStrategy:
    """Mappings over ``cls``'s own keys (plus the odd unknown one), values of any shape."""
    names = [f.name for f in fields(cls)]
    value = _values if nested is None else (nested | _values)
    return st.dictionaries(st.sampled_from(names) | st.text(max_size=6), value, max_size=4)


_backbone = _section(BackboneConfig)
_mappings = st.fixed_dictionaries(
    {},
    optional={
        "profile": st.sampled_from(["quick", "paper", "reference"]) | _scalars,
        "model_name": _scalars,
        "model": _section(ModelConfig, _backbone) | _scalars,
        "train": _section(TrainConfig) | _scalars,
        "data": _section(DataConfig) | _scalars,
    },
)


def _loads_or_refuses(path: Path) -> ExperimentConfig | None:
    try:
        config = load_config(path, default_profile="quick")
    except LstmattnError as error:
        assert "\n" not in str(error)
        return None
    assert isinstance(config, ExperimentConfig)
    return config


@SETTINGS
@given(data=st.binary(max_size=200))
def test_any_bytes_load_or_are_refused(tmp_path: Path, data: bytes):
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    _loads_or_refuses(path)


@SETTINGS
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_text_loads_or_is_refused(tmp_path: Path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    _loads_or_refuses(path)


@SETTINGS
@given(values=_mappings)
def test_any_mapping_loads_or_is_refused_and_round_trips(tmp_path: Path, values: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    config = _loads_or_refuses(path)
    if config is not None:
        save_config(config, tmp_path / "saved.yaml")
        assert load_config(tmp_path / "saved.yaml") == config


@SETTINGS
@given(values=_mappings)
@example(values={"model": {"\n": {}}})  # a key holding a line break: still a one-line error
def test_from_dict_builds_or_refuses(values: dict):
    try:
        config = from_dict(ExperimentConfig, values, base=get_profile("quick"))
    except LstmattnError as error:
        assert "\n" not in str(error)
    else:
        assert from_dict(ExperimentConfig, {}, base=config) == config
