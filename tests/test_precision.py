"""Training precision (``train.amp``, ``train.channels_last``, ``train.classifiers_in_float32``):
what a step computes in, the float32 fallback where bfloat16 would be emulated, and what the
run records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from engine_fixtures import toy_bundle, toy_config
from lstmattn.engine import precision as precision_module
from lstmattn.engine.checkpoint import load_checkpoint
from lstmattn.config import get_profile
from lstmattn.engine.precision import run_precision, training_precision
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.trainer import train

CPU = torch.device("cpu")


def _conv() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())


def test_amp_computes_convolutions_in_bfloat16_where_native(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda device: True)
    precision = training_precision(True, False, CPU)
    with precision.autocast():
        out = _conv()(torch.rand(1, 3, 8, 8))
    assert out.dtype == torch.bfloat16
    assert precision.describe() == "bfloat16 autocast, contiguous"


def test_amp_without_native_bfloat16_trains_in_float32_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda device: False)
    precision = training_precision(True, False, CPU)
    with precision.autocast():
        out = _conv()(torch.rand(1, 3, 8, 8))
    assert out.dtype == torch.float32 and not precision.bfloat16
    err = capsys.readouterr().err
    assert "no native bfloat16" in err and "training in float32" in err
    training_precision(True, False, CPU, announce=False)
    assert capsys.readouterr().err == ""


def test_amp_off_is_float32_whatever_the_device(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda device: True)
    precision = training_precision(False, False, CPU)
    assert not precision.bfloat16 and precision.describe() == "float32, contiguous"


def test_channels_last_stores_the_convolution_weights_nhwc():
    model = training_precision(False, True, CPU).prepare(_conv())
    weight = model[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    assert training_precision(False, False, CPU).prepare(_conv())[0].weight.is_contiguous()


@pytest.mark.parametrize("amp", [False, True])
def test_a_run_records_its_precision_and_keeps_float32_weights(tmp_path: Path, amp: bool,
                                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda device: True)  # emulated where not native
    config = toy_config(max_steps=2, amp=amp, channels_last=True)
    run = RunDirectory(tmp_path / "run")
    train(config, run, data=toy_bundle(), progress=False, device="cpu")
    expected = "bfloat16 autocast, channels-last" if amp else "float32, channels-last"
    assert run.record()["precision"] == expected
    weights = load_checkpoint(run.checkpoint("last"))["model"]
    assert all(torch.isfinite(value).all() for value in weights.values() if value.is_floating_point())
    assert all(value.dtype != torch.bfloat16 for value in weights.values())  # autocast never casts the weights


@pytest.mark.parametrize("in_float32", [False, True])
def test_classifiers_in_float32_exempts_the_table2_classifiers_only(monkeypatch: pytest.MonkeyPatch, in_float32: bool):
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda device: True)
    quick = get_profile("quick")
    assert quick.train.amp and quick.train.channels_last and quick.train.classifiers_in_float32
    quick = replace(quick, train=replace(quick.train, classifiers_in_float32=in_float32))
    one_shot = run_precision(quick, CPU)
    assert one_shot.describe() == "bfloat16 autocast, channels-last"
    for name in ("classifier-resnet50", "classifier-densenet121"):
        classifier = run_precision(replace(quick, model_name=name), CPU)
        expected = "float32, contiguous" if in_float32 else "bfloat16 autocast, channels-last"
        assert classifier.describe() == expected
