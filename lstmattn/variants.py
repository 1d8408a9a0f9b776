"""Named run variants: the config changes the book trains beside each default run.

A variant is part of a run's identity (``record.json`` → ``identity.variant``), never
parsed back from a folder name. Two kinds exist:

* :data:`ABLATIONS`: one paper-vs-code difference each (``REFERENCE_CODE.md`` §6), or
  the other reading where the paper contradicts itself (§3.7.1 vs §4.1), run as a
  one-shot model variant (chapter 5's ablation table);
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
    """A setting of the default run changed to another reading, run as a one-shot model
    variant.

    ``variant`` names the run (``"roi_order=confidence"``); ``overrides`` are the config
    values it changes (``section`` says whether they are model or train fields).
    ``paper`` is what the paper says, ``code`` what the authors' code does, ``default``
    what the default run does when that is neither the paper's §3 text nor the code's
    difference (empty otherwise), and ``item`` the ``REFERENCE_CODE.md`` §6 item.
    """

    variant: str
    section: str  # "model" or "train"
    overrides: Mapping[str, object] = field(default_factory=dict)
    paper: str = ""
    code: str = ""
    item: int = 0  # REFERENCE_CODE.md §6 item
    default: str = ""


ABLATIONS: tuple[Ablation, ...] = (
    Ablation("roi_order=confidence", "model", {"roi_order": "confidence"},
             paper="§3.7.1 first describes decreasing-confidence order",
             code="RoIs sorted by distance of the box's top-left corner from the image origin",
             default="§4.1's reported model (model 2) orders the RoIs by distance from the image origin", item=3),
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
