"""Numeric precision and memory layout of forward passes (``train.amp``,
``train.channels_last``, ``lstmattn predict --precision``).

None of these is part of the paper's method: they decide how fast a pass runs, not what
it computes, up to rounding. Rounding can still steer a training run elsewhere: the Table 2
classifiers with bottleneck blocks trained worse in bfloat16 on the ``quick`` phantoms
(README, "Table 2 classifiers"), so ``train.classifiers_in_float32`` keeps them in float32
(:func:`run_precision`).

* ``amp``: the forward pass of each training step runs under bfloat16 autocast
  (convolutions and matrix products in bfloat16, weights, losses and the optimiser in
  float32) where the device computes bfloat16 natively: a CUDA GPU that supports it, or a
  CPU with AVX512-BF16 or AMX (oneDNN's bfloat16 kernels). Elsewhere bfloat16 would be
  emulated and slower than float32, so the run trains in float32 and says so once.
* ``channels_last``: the model's 4-d weights are stored channels-last (NHWC), the layout
  oneDNN's CPU convolutions run fastest in.

Evaluation runs in float32. ``lstmattn predict --precision bfloat16`` runs inference
under the same autocast (:func:`inference_precision`; float32 is its default, so that
predictions match the evaluation's). :class:`Precision` records what a run or a
prediction actually used (``record.json`` and ``predictions.json`` → ``precision``), so a
result says how it was computed.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from lstmattn.config import ExperimentConfig
from lstmattn.model.baselines import CLASSIFIERS

__all__ = ["native_bfloat16", "Precision", "training_precision", "run_precision", "inference_precision"]


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (no emulation)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(cpu, name, lambda: False)() for name in checks)
    return False


@dataclass(frozen=True)
class Precision:
    """How a model's forward passes compute: ``bfloat16`` autocast or not, on
    ``device_type``, and whether the weights are channels-last."""

    device_type: str
    bfloat16: bool
    channels_last: bool

    def autocast(self) -> AbstractContextManager:
        """The context a forward pass runs in."""
        if self.bfloat16:
            return torch.autocast(self.device_type, dtype=torch.bfloat16)
        return nullcontext()

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` with its weights in this layout (in place; before the optimiser is built)."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def describe(self) -> str:
        """One phrase for the run's record: ``"bfloat16 autocast, channels-last"``."""
        arithmetic = "bfloat16 autocast" if self.bfloat16 else "float32"
        return f"{arithmetic}, {'channels-last' if self.channels_last else 'contiguous'}"


def _bfloat16_if_native(requested: bool, device: torch.device, setting: str, fallback: str, announce: bool) -> bool:
    """``requested`` where ``device`` computes bfloat16 natively; otherwise False, and with
    ``announce`` one line on stderr naming ``setting`` and the ``fallback``."""
    native = requested and native_bfloat16(device)
    if requested and not native and announce:
        print(f"{setting}: {device.type} has no native bfloat16 (CPU: AVX512-BF16 or AMX; GPU: bf16 support); "
              f"{fallback} in float32", file=sys.stderr)
    return native


def training_precision(amp: bool, channels_last: bool, device: torch.device, *, announce: bool = True) -> Precision:
    """The precision a run with ``train.amp`` / ``train.channels_last`` trains in on ``device``.

    ``amp`` on a device without native bfloat16 falls back to float32; ``announce`` prints
    that once to stderr, naming the device."""
    return Precision(device.type, _bfloat16_if_native(amp, device, "train.amp", "training", announce), channels_last)


def run_precision(config: ExperimentConfig, device: torch.device, *, announce: bool = True) -> Precision:
    """The precision a run of ``config`` trains in: :func:`training_precision` of its
    ``train.amp`` and ``train.channels_last``, except for a Table 2 classifier under
    ``train.classifiers_in_float32``, which trains in float32 with contiguous weights."""
    if config.train.classifiers_in_float32 and config.model_name in CLASSIFIERS.values():
        return Precision(device.type, False, False)
    return training_precision(config.train.amp, config.train.channels_last, device, announce=announce)


def inference_precision(bfloat16: bool, device: torch.device, *, announce: bool = True) -> Precision:
    """The precision ``lstmattn predict`` runs in: channels-last weights, and bfloat16
    autocast when asked for and native (else float32, announced as in training)."""
    native = _bfloat16_if_native(bfloat16, device, "--precision bfloat16", "predicting", announce)
    return Precision(device.type, native, True)
