"""Named run variants: the config changes the book trains beside each default run.

A variant is part of a run's identity (``record.json`` → ``identity.variant``), never
parsed back from a folder name. Two kinds exist:

* :data:`ABLATIONS`: one paper-vs-code difference each (``REFERENCE_CODE.md`` §6), run
  as a one-shot model variant (chapter 5's ablation table);
* :data:`TWO_CLASS`: the two-class runs of Table 4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["Ablation", "ABLATIONS", "ablation", "TWO_CLASS"]

TWO_CLASS = "two-class"
"""Variant name of the two-class runs of Table 4 (``model.num_image_classes = 2``)."""


@dataclass(frozen=True)
class Ablation:
    """A 'paper vs reference code' difference run as a one-shot model variant.

    ``variant`` names the run (``"roi_order=distance"``); ``overrides`` are the config
    values it changes (``section`` says whether they are model or train fields).
    """

    variant: str
    section: str  # "model" or "train"
    overrides: Mapping[str, object] = field(default_factory=dict)
    paper: str = ""
    code: str = ""
    item: int = 0  # REFERENCE_CODE.md §6 item


ABLATIONS: tuple[Ablation, ...] = (
    Ablation("roi_order=distance", "model", {"roi_order": "distance"},
             paper="RoIs enter the LSTM in confidence order (§3.7.1)",
             code="RoIs sorted by distance of the box from the image origin", item=3),
    Ablation("loss_scheme=alternating", "train", {"loss_scheme": "alternating"},
             paper="one step on L_SEG + L_CLS (Eq. 8)",
             code="two optimiser steps per iteration with gradient masking; losses never added", item=5),
    Ablation("sieve_order=reference", "model", {"sieve_order": "reference"},
             paper="sieve Conv→BN→ConvT→ReLU",
             code="sieve Conv→BN→ReLU→ConvT", item=1),
    Ablation("weight_copy_policy=previous", "model", {"weight_copy_policy": "previous"},
             paper="copy segmentation weights when the loss beats the best so far",
             code="copy when the loss beats the previous iteration's loss", item=6),
)


def ablation(variant: str) -> Ablation | None:
    """The ablation named ``variant``, or ``None``."""
    return next((a for a in ABLATIONS if a.variant == variant), None)
