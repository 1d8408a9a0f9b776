"""Named run variants: the config changes the book trains beside each default run.

A variant is part of a run's identity (``record.json`` → ``identity.variant``), never
parsed back from a folder name. Three kinds exist:

* :data:`ABLATIONS`: one paper-vs-code difference each (``REFERENCE_CODE.md`` §6), or
  the other reading where the paper contradicts itself (§3.7.1 vs §4.1), run as a
  one-shot model variant (chapter 5's first ablation table);
* :data:`IDEAS`: one of the paper's own ideas taken out of the model (attention, the
  negative branch, the RoI order, the mask sieve): chapter 5's second ablation table;
* :data:`TWO_CLASS`: the two-class runs of Table 4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["Ablation", "ABLATIONS", "IdeaAblation", "IDEAS", "ablation", "TWO_CLASS"]

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


@dataclass(frozen=True)
class IdeaAblation:
    """One of the paper's own ideas taken out of the default run, run as a one-shot model
    variant: does the idea move the result beyond the seed noise?

    ``variant``, ``section`` and ``overrides`` as in :class:`Ablation`; ``idea`` is what the
    paper proposes (with its section or equation), ``instead`` what the variant does.
    """

    variant: str
    section: str  # "model" or "train"
    overrides: Mapping[str, object] = field(default_factory=dict)
    idea: str = ""
    instead: str = ""


IDEAS: tuple[IdeaAblation, ...] = (
    IdeaAblation("attention_pooling=mean", "model", {"attention_pooling": "mean"},
                 idea="attention weights α over the RoI sequence (§3.7.2, Eq. 4-5)",
                 instead="α = 1/β: the context c is the mean of the LSTM's hidden states"),
    IdeaAblation("negative_branch=false", "model", {"negative_branch": False},
                 idea="two LSTM+attention branches, class-positive and class-negative, Δ = h(x_POS) − h(x_NEG) "
                      "(§3.7.2, Eq. 9)",
                 instead="the positive branch alone: Δ = h(x_POS)"),
    IdeaAblation("roi_order=shuffled", "model", {"roi_order": "shuffled"},
                 idea="the RoIs as an ordered sequence (§3.7.1; the reported model orders them by distance from the "
                      "image origin, §4.1)",
                 instead="a fresh random order on every pass"),
    IdeaAblation("sieve_blocks=0", "model", {"sieve_blocks": 0},
                 idea="the mask sieve on the RoI mask features (§3.7.1)",
                 instead="no sieve: the RoI mask features go straight to the vectoriser"),
)


def ablation(variant: str) -> Ablation | IdeaAblation | None:
    """The ablation (of :data:`ABLATIONS` or :data:`IDEAS`) named ``variant``, or ``None``."""
    return next((a for a in (*ABLATIONS, *IDEAS) if a.variant == variant), None)
