"""Configuration: one dataclass per concern, named profiles, YAML round trip.

Profiles (``get_profile(name)``):

* ``paper`` – the paper as written, and where §3 and §4.1 disagree the model §4.1
  reports (model 2): ResNeXt101-32x8d + FPN with only the last backbone stage's FPN output
  feeding the RPN and RoI layers (§3.3), ImageNet backbone weights (the paper is silent;
  the authors' code starts from them), 512² images, β = 16, LSTM hidden 256, Adam lr 1e-5
  / wd 1e-3, 50 epochs, RoIs ordered by distance from the image origin (§4.1; §3.7.1's
  confidence order is the ``roi_order=confidence`` ablation), summed loss (Eq. 8), weight
  copy when the segmentation loss beats the best so far (§3.6), evaluation of the last
  checkpoint (``train.evaluate_checkpoint``).
* ``reference`` – the authors' public code (``../shared/paper/REFERENCE_CODE.md``):
  ResNeXt50 with a single-level C5 "FPN", its RPN/anchor settings, 128-d box head and
  one-conv mask head, RoIs ordered by distance from the image origin, alternating loss
  steps, copy vs the previous iteration, sieve Conv→BN→ReLU→ConvT, BatchNorm in training
  mode at inference, 10 epochs, ImageNet backbone weights.
* ``quick`` – a CPU-sized ``paper`` for the offline book build and CI: the same distance
  order and single FPN level, but ResNet18 with 64 FPN channels, 192² images and **random
  backbone initialisation** (``backbone.weights: null``), so that it never needs a download.
* ``real-quick`` – ``quick``'s model as a two-class model trained on real CT: the
  folder-per-class SARS-CoV-2 CT-scan slices and the MedSeg lesion masks of the real-data
  folder (:func:`real_data_folder`), for the book's chapter 7.

Validation: every field of every config is checked against its type hint when the
config is built (directly, by :func:`dataclasses.replace`, or from YAML), so an invalid
config never reaches training. The hints carry the allowed ranges (:class:`Bounds`);
a refusal is one :class:`~lstmattn.errors.ConfigError` line naming the field by its
dotted path, the value and what is allowed, e.g.
``train.max_steps must be an integer >= 1 or null, got -5``. Numbers written as strings
are read as the number they spell, for float and integer fields alike (YAML 1.1 reads
``lr: 1e-3`` as the string ``"1e-3"``; ``epochs: "4"`` is 4), when spelt plainly: digits
with an optional sign (and point and exponent for floats), no spaces and no ``_``
separators (``"1_000"`` and ``" 3 "`` are refused, though Python's ``int`` would read
them); booleans are never numbers, floats are never integers, and unknown keys are
errors. Checks across fields (``box_bg_iou_thresh <= box_fg_iou_thresh``, RPN post-NMS
counts no larger than the pre-NMS counts) run with the field checks. Each config class's
``section`` (a class attribute, not a field) is its dotted path in
:class:`ExperimentConfig`, used in those messages.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import re
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping, Optional, Union

import yaml

from lstmattn.errors import ConfigError
from lstmattn.io import atomic_write_text

__all__ = [
    "Bounds",
    "Count",
    "NonNegativeInt",
    "Seed",
    "PositiveFloat",
    "NonNegativeFloat",
    "Fraction",
    "PositiveFraction",
    "BackboneName",
    "BACKBONES",
    "PAPER_ANCHOR_SIZES",
    "ProfileName",
    "REAL_DATA_ENV",
    "REAL_DATA_LAYOUT",
    "BackboneConfig",
    "ModelConfig",
    "TrainConfig",
    "DataConfig",
    "ExperimentConfig",
    "PROFILES",
    "get_profile",
    "real_data_folder",
    "with_real_data",
    "to_dict",
    "from_dict",
    "save_config",
    "load_config",
]


@dataclass(frozen=True)
class Bounds:
    """The allowed range of a number, attached to a type hint with ``Annotated``.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``; ``None`` leaves
    that side unbounded. ``multiple_of`` also requires divisibility (integers).
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    multiple_of: int | None = None

    def allows(self, value: float) -> bool:
        """Whether ``value`` lies in the range."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return self.multiple_of is None or value % self.multiple_of == 0

    def describe(self) -> str:
        """The range in words: ``>= 1``, ``in [0, 1)``, ``>= 32 and a multiple of 32``."""
        low, high = _number_text(self.low), _number_text(self.high)
        if self.low is not None and self.high is not None:
            text = f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        elif self.low is not None:
            text = f"{'>' if self.low_open else '>='} {low}"
        elif self.high is not None:
            text = f"{'<' if self.high_open else '<='} {high}"
        else:
            text = ""
        if self.multiple_of is not None:
            text = f"{text} and a multiple of {self.multiple_of}" if text else f"a multiple of {self.multiple_of}"
        return text


def _number_text(value: float | None) -> str:
    """``4294967295`` for integral bounds, ``0.5`` otherwise."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


Count = Annotated[int, Bounds(low=1)]
"""An integer >= 1 (sizes, counts, steps)."""
NonNegativeInt = Annotated[int, Bounds(low=0)]
"""An integer >= 0."""
Seed = Annotated[int, Bounds(0, 2**32 - 1)]
"""A random seed: an integer in [0, 2³² − 1] (what NumPy's legacy seeding takes)."""
PositiveFloat = Annotated[float, Bounds(low=0, low_open=True)]
"""A number > 0."""
NonNegativeFloat = Annotated[float, Bounds(low=0)]
"""A number >= 0."""
Fraction = Annotated[float, Bounds(0, 1)]
"""A number in [0, 1] (IoU and NMS thresholds, scores)."""
PositiveFraction = Annotated[float, Bounds(0, 1, low_open=True)]
"""A number in (0, 1] (sampling fractions)."""
_Beta = Annotated[float, Bounds(0, 1, high_open=True)]
_ImageSide = Annotated[int, Bounds(low=32, multiple_of=32)]

BackboneName = Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnext50_32x4d", "resnext101_32x8d"]
"""The torchvision ResNet/ResNeXt bodies the backbone builds."""
BACKBONES: tuple[str, ...] = typing.get_args(BackboneName)
ProfileName = Literal["paper", "reference", "quick", "real-quick"]
"""The named profiles of :data:`PROFILES`."""
_ClassificationSplit = Literal["train", "val", "test", "holdout"]
_SegmentationSplit = Literal["train", "test"]
_DrawnSplit = Literal["train", "val", "test"]
_FPN_LEVELS = {"all": 5, "c5": 1}  # feature maps the RPN sees (C2-C5 + pool, or C5 alone)


@dataclass
class BackboneConfig:
    """Feature extractor (§3.3): a torchvision ResNet/ResNeXt with an FPN on top.

    ``fpn_levels="all"`` uses C2-C5 (+ max-pool level) as in standard Mask R-CNN;
    ``"c5"`` is §3.3's single level: only the last backbone stage (``layer4``, C5,
    stride 32) enters the FPN, as in the reference code.
    ``weights`` is ``None`` (random init), a torchvision weight-enum name such as
    ``"IMAGENET1K_V1"`` (or ``"ResNeXt50_32X4D_Weights.IMAGENET1K_V1"``), read from torch's
    hub cache (``<torch hub dir>/checkpoints``) and downloaded there when missing, or the
    path of a local ``.pth``/``.pt``/``.bin`` ImageNet state dict
    (:mod:`lstmattn.model.pretrained`).
    """

    section: ClassVar[str] = "model.backbone"

    name: BackboneName = "resnext101_32x8d"
    fpn_levels: Literal["all", "c5"] = "all"
    out_channels: Count = 256
    weights: Optional[str] = None
    norm: Literal["batchnorm", "frozen_batchnorm"] = "batchnorm"
    trainable_layers: Annotated[int, Bounds(0, 5)] = 5

    def __post_init__(self) -> None:
        _validate_fields(self)


@dataclass
class ModelConfig:
    """The one-shot model (Figure 1): segmentation branch, RoI classification branch,
    attention layer and image classification modules."""

    section: ClassVar[str] = "model"

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    image_size: _ImageSide = 512
    num_segmentation_classes: Annotated[int, Bounds(low=4)] = 4  # background, lungs, GGO, consolidation (§3.1)
    num_image_classes: Annotated[int, Bounds(low=2)] = 3  # Normal, CP, COVID-19 (§3.8)
    # RPN (§3.4). ``None`` anchor sizes → torchvision's per-level defaults; with
    # ``backbone.fpn_levels="all"`` one size per level (5).
    anchor_sizes: Optional[tuple[Count, ...]] = None
    anchor_aspect_ratios: tuple[PositiveFloat, ...] = (0.5, 1.0, 2.0)
    rpn_pre_nms_top_n_train: Count = 2000
    rpn_pre_nms_top_n_test: Count = 1000
    rpn_post_nms_top_n_train: Count = 2000
    rpn_post_nms_top_n_test: Count = 1000
    rpn_nms_thresh: Fraction = 0.7
    rpn_batch_size_per_image: Count = 256
    rpn_positive_fraction: PositiveFraction = 0.5
    # Segmentation RoI heads (§3.5); box_bg_iou_thresh <= box_fg_iou_thresh.
    box_representation_size: Count = 1024
    mask_head_layers: Count = 4
    box_fg_iou_thresh: Fraction = 0.5
    box_bg_iou_thresh: Fraction = 0.5
    box_batch_size_per_image: Count = 512
    box_positive_fraction: PositiveFraction = 0.25
    box_score_thresh: Fraction = 0.05
    box_nms_thresh: Fraction = 0.5
    box_detections_per_img: Count = 100
    # RoI classification branch (§3.6).
    roi_batch_size: Count = 16  # β
    roi_score_thresh: Annotated[float, Bounds(high=1)] = -0.01  # θ: below 0 accepts every box
    roi_nms_thresh: Fraction = 0.25
    # "shuffled" (an ablation of §3.7.1's ordering): a fresh random order on every pass.
    roi_order: Literal["confidence", "distance", "shuffled"] = "confidence"
    weight_copy_policy: Literal["best", "previous"] = "best"
    # "none": compare each step's L_SEG (the paper); "epoch_mean": the running mean of
    # L_SEG over the epoch so far against the best (or previous) completed epoch's mean.
    weight_copy_smoothing: Literal["none", "epoch_mean"] = "none"
    # Attention layer (§3.7) and image classification modules (§3.8).
    sieve_blocks: NonNegativeInt = 1  # N
    sieve_order: Literal["paper", "reference"] = "paper"
    lstm_hidden_size: Count = 256
    # Ablations of the paper's own ideas (chapter 5): "mean" replaces Eq. 4-5's attention
    # weights by 1/β (c is the mean hidden state); ``negative_branch: false`` drops the
    # negative LSTM branch and h(x_NEG), so Δ = h(x_POS) in Eq. 9.
    attention_pooling: Literal["attention", "mean"] = "attention"
    negative_branch: bool = True
    # The one-shot model's classification images while training: "flip_crop" crops (85-100 %
    # of the area) and flips each left-right at random, as the classifiers'
    # ``classifier_augmentation`` does; segmentation images are never augmented. The
    # authors' code trains without augmentation ("none").
    classification_augmentation: Literal["none", "flip_crop"] = "none"
    classifier_hidden_size: Count = 128
    batchnorm_at_inference: Literal["eval", "train"] = "eval"
    # Baselines (lstmattn.model.baselines): A, the affinity count of the One Shot Model
    # [15] (the paper's comparison uses 8), the Table 2 classifiers' input size
    # (None → image_size) and their training augmentation ("flip_crop": a random
    # horizontal flip and crop of each training image, ImageClassifier; the one-shot
    # model, like the authors' code, trains without augmentation), and whether the
    # classifiers built of bottleneck blocks (ResNet50, ResNeXt50, ResNeXt101) start each
    # residual block as the identity (its last BatchNorm scale at zero; no effect on
    # ImageNet weights, which replace it): from random weights ResNeXt101 stayed under
    # 90 % without it (README, "Table 2 classifiers").
    affinity_count: Count = 8
    classifier_image_size: Optional[Annotated[int, Bounds(low=32)]] = None
    classifier_augmentation: Literal["none", "flip_crop"] = "none"
    classifier_zero_init_bottleneck: bool = True

    def __post_init__(self) -> None:
        _validate_fields(self)
        levels = _FPN_LEVELS[self.backbone.fpn_levels]
        if self.anchor_sizes is not None and levels > 1 and len(self.anchor_sizes) != levels:
            raise ConfigError(f"model.anchor_sizes must hold one size per FPN level ({levels} with "
                              f"backbone.fpn_levels 'all') or be null, got {list(self.anchor_sizes)}")
        if self.box_bg_iou_thresh > self.box_fg_iou_thresh:
            raise ConfigError(f"model.box_bg_iou_thresh must be <= model.box_fg_iou_thresh "
                              f"({self.box_fg_iou_thresh:g}), got {self.box_bg_iou_thresh:g}")
        for phase in ("train", "test"):  # the RPN keeps at most the post-NMS count of the pre-NMS proposals
            pre, post = getattr(self, f"rpn_pre_nms_top_n_{phase}"), getattr(self, f"rpn_post_nms_top_n_{phase}")
            if post > pre:
                raise ConfigError(f"model.rpn_post_nms_top_n_{phase} must be <= model.rpn_pre_nms_top_n_{phase} "
                                  f"({pre}), got {post}")


@dataclass
class TrainConfig:
    """Optimisation (§4.1). ``loss_scheme="summed"`` is Eq. 8 (L_SEG + L_CLS, one step);
    ``"alternating"`` is the reference code's two optimiser steps per iteration.
    ``max_steps`` (``None``: no limit) stops training early, after at least one step.
    ``evaluate_checkpoint`` is the checkpoint the result files come from: ``"last"`` (the
    default: neither the paper nor the authors' code selects a checkpoint) or ``"best"``
    (the best validation F1, an option). ``lr_schedule`` is ``"constant"`` (§4.1) or
    ``"warmup_cosine"`` (linear warm-up over ``warmup_steps``, then a cosine down to
    ``lr * lr_final_fraction``; :mod:`lstmattn.engine.schedule`). ``amp`` (bfloat16
    autocast where the device computes it natively) and ``channels_last`` (NHWC weights)
    change how fast a training step runs, not the method (:mod:`lstmattn.engine.precision`);
    ``classifiers_in_float32`` trains the Table 2 classifiers in float32 with contiguous
    weights whatever those two say."""

    section: ClassVar[str] = "train"

    epochs: Count = 50
    max_steps: Optional[Count] = None
    segmentation_batch_size: Count = 1
    classification_batch_size: Count = 1
    lr: PositiveFloat = 1e-5
    lr_schedule: Literal["constant", "warmup_cosine"] = "constant"
    warmup_steps: NonNegativeInt = 0
    lr_final_fraction: Fraction = 0.0
    weight_decay: NonNegativeFloat = 1e-3
    betas: tuple[_Beta, _Beta] = (0.9, 0.999)
    loss_scheme: Literal["summed", "alternating"] = "summed"
    classification_loss_reduction: Literal["sum", "mean"] = "sum"
    sampling: Literal["epoch", "reference"] = "epoch"
    seed: Seed = 0
    amp: bool = False
    channels_last: bool = False
    classifiers_in_float32: bool = False
    num_workers: NonNegativeInt = 0
    evaluate_checkpoint: Literal["last", "best"] = "last"

    def __post_init__(self) -> None:
        _validate_fields(self)


@dataclass
class DataConfig:
    """Which data the run uses. ``source="phantom"`` generates the synthetic set into
    ``root`` (the offline default); the other sources read a user's copy of the real
    data laid out as ``lstmattn data verify`` documents. ``ictcf_root`` is where the
    book's two-class runs (Table 4) find iCTCF when ``source="covidx"``.

    ``train_list`` and ``holdout_list`` name the COVIDx CT-1 training and hold-out lists
    (``source="covidx"``), relative to ``root`` or absolute: by default the seeded lists
    ``lstmattn data prepare`` writes; ``train3000_authors_COVIDx_CT-1.txt`` and
    ``holdout_authors_COVIDx_CT-1.txt`` after ``data prepare --authors-list``;
    ``holdout_list: null`` evaluates no hold-out.

    ``source="class-folders"`` reads labelled slices in the folder-per-class layout
    (``root/<class folder>/<image>``, the folders of ``class_folders`` in label order, as
    many as ``model.num_image_classes``) and splits them once into train, val and test by
    ``split_fractions`` with ``split_seed`` (seeded, stratified by class; see
    :mod:`lstmattn.data.split_lists`). ``segmentation_source`` says what
    ``segmentation_root`` holds for the real sources: ``"cncb"`` (``imgs/``, ``masks/``
    and the 650/100 lists) or ``"medseg"`` (``Imgs/`` and ``GT/``, no lung class), whose
    slices are split by ``segmentation_split_fractions`` with ``split_seed``.

    ``phantom_per_class`` (slices per class and split) needs ``train``, ``val`` and
    ``test`` >= 1 (``holdout`` may be 0 or absent); ``phantom_segmentation`` needs
    ``train`` and ``test`` >= 1. ``phantom_options`` are
    :class:`~lstmattn.data.phantom_config.PhantomConfig` knobs (name → number)."""

    section: ClassVar[str] = "data"

    source: Literal["phantom", "covidx", "ictcf", "class-folders"] = "phantom"
    root: Optional[str] = None
    segmentation_source: Literal["cncb", "medseg"] = "cncb"
    segmentation_root: Optional[str] = None
    ictcf_root: Optional[str] = None
    train_list: str = "train3000_seed0_COVIDx_CT-1.txt"
    holdout_list: Optional[str] = "holdout_seed0_COVIDx_CT-1.txt"
    phantom_per_class: dict[_ClassificationSplit, NonNegativeInt] = field(
        default_factory=lambda: {"train": 200, "val": 50, "test": 100, "holdout": 100})
    phantom_segmentation: dict[_SegmentationSplit, NonNegativeInt] = field(default_factory=lambda: {"train": 120, "test": 40})
    phantom_seed: Seed = 0
    phantom_options: dict[str, Union[int, float]] = field(default_factory=dict)
    class_folders: tuple[str, ...] = ("non-COVID", "COVID")
    split_fractions: dict[_DrawnSplit, PositiveFraction] = field(
        default_factory=lambda: {"train": 0.7, "val": 0.1, "test": 0.2})
    segmentation_split_fractions: dict[_SegmentationSplit, PositiveFraction] = field(
        default_factory=lambda: {"train": 0.7, "test": 0.3})
    split_seed: Seed = 0

    def __post_init__(self) -> None:
        _validate_fields(self)
        for name, required in (("phantom_per_class", ("train", "val", "test")), ("phantom_segmentation", ("train", "test"))):
            counts = getattr(self, name)
            if any(counts.get(split, 0) < 1 for split in required):
                raise ConfigError(f"data.{name} must give {', '.join(required)} at least 1 slice each, got {_show(counts)}")
        for name, required in (("split_fractions", ("train", "val", "test")), ("segmentation_split_fractions", ("train", "test"))):
            shares = getattr(self, name)
            if set(shares) != set(required) or abs(sum(shares.values()) - 1) > 1e-6:
                raise ConfigError(f"data.{name} must give {', '.join(required)} shares that sum to 1, got {_show(shares)}")


@dataclass
class ExperimentConfig:
    """Everything a run needs; written next to every run's outputs."""

    section: ClassVar[str] = ""

    profile: ProfileName = "paper"
    model_name: str = "one-shot-lstm-attention"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        _validate_fields(self)


class _Invalid(Exception):
    """A value does not fit a type hint (turned into a ConfigError naming the field)."""


def _join(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _validate_fields(config: Any) -> None:
    """Check (and normalise) every field of ``config`` against its type hint, in place.

    Mappings given for a nested config are built with :func:`from_dict`; lists given for
    tuples become tuples; numbers written as strings become numbers.
    """
    cls = type(config)
    for f in fields(cls):
        path, value, hint = _join(cls.section, f.name), getattr(config, f.name), _hints(cls)[f.name]
        if is_dataclass(hint):
            if isinstance(value, Mapping):
                value = from_dict(hint, value)
            elif not isinstance(value, hint):
                raise ConfigError(f"{path} must be a mapping of {path} settings, got {_show(value)}")
        else:
            try:
                value = _convert(value, hint)
            except _Invalid:
                raise ConfigError(f"{path} must be {_describe(hint)}, got {_show(value)}") from None
        setattr(config, f.name, value)


def _convert(value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` describes, or :class:`_Invalid`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        value = _convert(value, args[0])
        if any(isinstance(meta, Bounds) and not meta.allows(value) for meta in hint.__metadata__):
            raise _Invalid
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is not type(None):
                try:
                    return _convert(value, option)
                except _Invalid:
                    continue
        raise _Invalid
    if origin is Literal:
        if isinstance(value, str) and value in args:
            return value
        raise _Invalid
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Invalid
        if len(args) == 2 and args[1] is Ellipsis:
            if not value:
                raise _Invalid
            return tuple(_convert(item, args[0]) for item in value)
        if len(value) != len(args):
            raise _Invalid
        return tuple(_convert(item, arg) for item, arg in zip(value, args))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Invalid
        return {_convert(key, args[0]): _convert(item, args[1]) for key, item in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Invalid
    if hint is int:
        return _integer(value)
    if hint is float:
        return _real(value)
    if hint is str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str) and value:
            return value
        raise _Invalid
    raise TypeError(f"config type hint {hint!r} is not supported")


#: How a number written as a string must be spelt: ASCII digits, an optional sign, and
#: for floats a point and an exponent; no spaces or ``_`` separators, which ``int`` and
#: ``float`` would otherwise take.
_PLAIN_INTEGER = re.compile(r"[+-]?[0-9]+")
_PLAIN_REAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _integer(value: Any) -> int:
    """An int, or a string plainly spelling one (``"3"``); never a bool or a float."""
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str) and _PLAIN_INTEGER.fullmatch(value):
        return int(value)
    raise _Invalid


def _real(value: Any) -> float:
    """A finite float from a number or a string plainly spelling one (``"1e-3"``); never a bool."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise _Invalid
    if isinstance(value, str) and not _PLAIN_REAL.fullmatch(value):
        raise _Invalid
    try:
        number = float(value)
    except OverflowError:
        raise _Invalid from None
    if not math.isfinite(number):
        raise _Invalid
    return number


def _describe(hint: Any, *, plural: bool = False) -> str:
    """What ``hint`` allows, in words (``an integer >= 1 or null``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        ranges = " ".join(meta.describe() for meta in hint.__metadata__ if isinstance(meta, Bounds))
        return f"{_describe(args[0], plural=plural)} {ranges}".strip()
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None) and not (a is int and float in args)]
        text = " or ".join(_describe(option, plural=plural) for option in options)
        return f"{text} or null" if type(None) in args else text
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"{'non-empty lists' if plural else 'a non-empty list'} of {_describe(args[0], plural=True)}"
        return f"{'lists' if plural else 'a list'} of {len(args)} {_describe(args[0], plural=True)}"
    if origin is dict:
        keys = ", ".join(map(repr, typing.get_args(args[0]))) if typing.get_origin(args[0]) is Literal else _describe(args[0], plural=True)
        return f"{'mappings' if plural else 'a mapping'} from {keys} to {_describe(args[1], plural=True)}"
    nouns = {bool: ("true or false", "true or false"), int: ("an integer", "integers"), float: ("a number", "numbers"),
             str: ("a non-empty string", "non-empty strings")}
    return nouns[hint][plural]


PAPER_ANCHOR_SIZES: tuple[int, ...] = (32, 64, 128, 256, 512)
"""Anchor sizes (px at 512²) of the ``paper`` profile's single stride-32 level.

The paper gives no anchors. §3.5 says the segmentation branch is Mask R-CNN's [7]; these
are the five sizes torchvision's Mask R-CNN spreads over its five FPN levels (one each),
placed together on the one level §3.3 keeps, as a single-level RPN does (Faster R-CNN's
RPN puts all its scales on one map), with the aspect ratios 0.5, 1, 2 of the same model.
The smallest equals the stride, so every cell is covered (the reference code's 2–32 px
anchors are mostly smaller than a cell)."""


def _paper() -> ExperimentConfig:
    """§3-§4.1 as written; the reported model (§4.1, model 2) where they disagree."""
    model = ModelConfig(
        backbone=BackboneConfig(fpn_levels="c5", weights="IMAGENET1K_V1"),
        anchor_sizes=PAPER_ANCHOR_SIZES,
        roi_order="distance",
    )
    return ExperimentConfig(profile="paper", model=model)


def _reference() -> ExperimentConfig:
    model = ModelConfig(
        backbone=BackboneConfig(name="resnext50_32x4d", fpn_levels="c5", weights="IMAGENET1K_V1"),
        anchor_sizes=(2, 4, 8, 16, 32),
        anchor_aspect_ratios=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0),
        rpn_pre_nms_top_n_train=400,
        rpn_pre_nms_top_n_test=400,
        rpn_post_nms_top_n_train=200,
        rpn_post_nms_top_n_test=200,
        rpn_nms_thresh=0.75,
        rpn_positive_fraction=0.75,
        box_representation_size=128,
        mask_head_layers=1,
        box_fg_iou_thresh=0.75,
        box_bg_iou_thresh=0.5,
        box_batch_size_per_image=256,
        box_positive_fraction=0.5,
        box_score_thresh=0.75,
        box_detections_per_img=4,
        roi_order="distance",
        weight_copy_policy="previous",
        sieve_order="reference",
        batchnorm_at_inference="train",
    )
    train = TrainConfig(
        epochs=10, loss_scheme="alternating", classification_loss_reduction="mean", sampling="reference"
    )
    return ExperimentConfig(profile="reference", model=model, train=train)


QUICK_ANCHOR_SIZES: tuple[int, ...] = tuple(size * 192 // 512 for size in PAPER_ANCHOR_SIZES)
"""Anchor sizes (px at 192²) of the ``quick`` profile: :data:`PAPER_ANCHOR_SIZES` scaled by
192/512 (the same physical sizes), one per FPN level."""


def _quick() -> ExperimentConfig:
    """CPU-sized ``paper``: the same model (distance order, sieve, two LSTM branches, Δσ
    loss), a smaller backbone (ResNet18, 64 FPN channels), 192² slices, phantom data, and
    training settings that let a CPU run converge (measured in README, "What the quick
    profile gives"):

    * every FPN level feeds the RPN and the RoI layers (standard Mask R-CNN). §3.3's single
      C5 level is a 16 × 16 map at the paper's 512², but 6 × 6 at 192²: too coarse for the
      lesion masks (GGO Dice 0.00 and F1 59 % measured with it), so the quick model keeps
      the paper's resolution per lesion rather than its level count; the ``paper`` profile
      keeps C5 alone;
    * anchors :data:`QUICK_ANCHOR_SIZES`, one size per level;
    * Adam at 5e-4 with a 30-step warm-up and a cosine decay (``lr_schedule``), over more
      phantom slices (360 per class) rather than more epochs over few (unique slices
      generalise better at the same cost);
    * phantom lesions a little larger and clearer, and fewer faint or atypical slices;
    * a test split of 200 slices per class and 100 segmentation slices (validation and
      hold-out: 60 per class): on 60 per class one slice moved a run's F1 by 0.6 points
      and six runs' F1 spread over 3.4 points, on 200 the same six trained models spread
      over 2.7 (README, "Stability");
    * the Table 2 classifiers train with a random crop and left-right flip of each image
      (``classifier_augmentation: flip_crop``): without it ResNet50 and ResNeXt50 fit the
      1,080 training slices exactly and reached 84 and 77 % F1 on the test split (README,
      "Table 2 classifiers");
    * training steps in bfloat16 autocast with channels-last weights where the CPU computes
      bfloat16 natively (``amp``, ``channels_last``: a one-shot step 1.64 instead of 2.94 s),
      but the Table 2 classifiers in float32 (``classifiers_in_float32``): in bfloat16
      ResNet50, ResNeXt50 and ResNeXt101 reached 85.5, 75.0 and 84.6 % F1 instead of 94.1,
      90.0 and 86.6 % (README, "Table 2 classifiers");
    * like every profile, the bottleneck classifiers start each residual block as the
      identity (``classifier_zero_init_bottleneck``): ResNeXt101 86.6 → 95.4 %, ResNeXt50
      90.0 → 95.0 %, ResNet50 94.1 → 93.8 % (README, "Table 2 classifiers").

    The backbone starts from random weights (``backbone.weights: null``): ImageNet weights
    would need a download, and the quick book build runs offline."""
    model = ModelConfig(
        backbone=BackboneConfig(name="resnet18", fpn_levels="all", out_channels=64, weights=None),
        image_size=192,
        anchor_sizes=QUICK_ANCHOR_SIZES,
        roi_order="distance",
        rpn_pre_nms_top_n_train=600,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_train=300,
        rpn_post_nms_top_n_test=150,
        box_representation_size=256,
        mask_head_layers=2,
        box_batch_size_per_image=128,
        box_detections_per_img=30,
        classifier_image_size=128,
        classifier_augmentation="flip_crop",
    )
    train = TrainConfig(epochs=5, lr=5e-4, lr_schedule="warmup_cosine", warmup_steps=30, weight_decay=1e-4,
                        segmentation_batch_size=2, classification_batch_size=8, amp=True, channels_last=True,
                        classifiers_in_float32=True)
    data = DataConfig(
        phantom_per_class={"train": 360, "val": 60, "test": 200, "holdout": 60},
        phantom_segmentation={"train": 240, "test": 100},
        phantom_options={"lesion_size": 1.3, "lesion_contrast": 1.3, "faint_lesion_prob": 0.05, "overlap_prob": 0.05},
    )
    return ExperimentConfig(profile="quick", model=model, train=train, data=data)


REAL_DATA_ENV = "LSTMATTN_SAMPLE_DATA"
"""Environment variable naming the real-data folder (default: ``../shared/data`` beside
the project)."""

REAL_DATA_LAYOUT: dict[str, str] = {"root": "sarscov2-ct", "segmentation_root": "medseg-semiseg/train"}
"""Where the ``real-quick`` profile finds its data under the real-data folder: the
two-class slices (``COVID/``, ``non-COVID/``) and the MedSeg slices (``Imgs/``, ``GT/``)."""


def real_data_folder() -> Path:
    """``$LSTMATTN_SAMPLE_DATA``, else ``../shared/data`` beside the project (it may not exist)."""
    override = os.environ.get(REAL_DATA_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def with_real_data(config: ExperimentConfig, folder: str | Path) -> ExperimentConfig:
    """``config`` reading its data from the real-data ``folder`` (:data:`REAL_DATA_LAYOUT`)."""
    folder = Path(folder).resolve()
    paths = {key: str(folder / relative) for key, relative in REAL_DATA_LAYOUT.items()}
    return replace(config, data=replace(config.data, **paths))


def _real_quick() -> ExperimentConfig:
    """``quick``'s ResNet18 model as a two-class model on real CT slices: the SARS-CoV-2
    CT-scan slices (70/10/20 split) and the MedSeg lesion masks (35/15 slices) of the
    real-data folder, for chapter 7.

    It departs from ``quick`` where the real data asks for it, chosen on the validation
    split only (every FPN level feeds the RPN and RoI layers, as in ``quick``; at 128² the
    single stride-32 level is a 4 × 4 map, too coarse for MedSeg's lesions, and it learned
    the two classes more slowly): anchors 8-128 px, one size per level; 128² inputs for
    every model (the classifiers' size in ``quick``: cheaper steps, no worse on the
    validation split than 192²); Adam at a constant 3e-4 for 5 epochs, so that chapter
    7's five runs train in CPU minutes; and the result files come from the checkpoint
    with the best validation F1. Its classifiers train without ``quick``'s augmentation
    (chapter 7's results were measured so; ``flip_crop`` was not tried on the real data)."""
    quick = _quick()
    model = replace(quick.model, anchor_sizes=(8, 16, 32, 64, 128), image_size=128,
                    classifier_image_size=128, classifier_augmentation="none", num_image_classes=2)
    train = TrainConfig(epochs=5, lr=3e-4, weight_decay=1e-4, segmentation_batch_size=2, classification_batch_size=8,
                        evaluate_checkpoint="best")
    data = DataConfig(source="class-folders", segmentation_source="medseg")
    return with_real_data(ExperimentConfig(profile="real-quick", model=model, train=train, data=data), real_data_folder())


PROFILES: dict[str, Any] = {"paper": _paper, "reference": _reference, "quick": _quick, "real-quick": _real_quick}


def get_profile(name: str) -> ExperimentConfig:
    """A fresh copy of the named profile (``paper``, ``reference``, ``quick`` or ``real-quick``)."""
    if not isinstance(name, str) or name not in PROFILES:
        raise ConfigError(f"unknown profile {_show(name)}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]()


def to_dict(config: Any) -> dict[str, Any]:
    """Plain-Python view of a config dataclass (tuples become lists, for YAML)."""

    def plain(value: Any) -> Any:
        if is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def from_dict(cls: type, values: Mapping[str, Any], *, base: Any = None) -> Any:
    """Build dataclass ``cls`` from a mapping, recursively; unknown keys are errors.

    With ``base``, missing keys keep the values of ``base`` (used for overrides on top
    of a profile); a nested section given as ``null`` (``train:`` with nothing under it)
    changes nothing. Every value is validated (see the module docstring).
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{cls.section or 'a config'} must be a mapping of settings, got {_show(values)}")
    known = [f.name for f in fields(cls)]
    for key in values:
        if key not in known:
            name = str(key) if str(key).isprintable() else repr(str(key))  # one line, whatever the key holds
            raise ConfigError(f"{_join(cls.section, name)} is not a setting ({_suggestion(cls, str(key))})")
    kwargs: dict[str, Any] = {}
    for name in known:
        if name not in values:
            continue
        value, hint = values[name], _hints(cls)[name]
        if is_dataclass(hint) and (value is None or isinstance(value, Mapping)):
            nested_base = getattr(base, name) if base is not None else None
            value = from_dict(hint, value or {}, base=nested_base)
        kwargs[name] = value
    return replace(base, **kwargs) if base is not None else cls(**kwargs)


def _suggestion(cls: type, key: str) -> str:
    """``did you mean train.lr?`` for a misspelt or misplaced key, else the known keys."""
    known = [f.name for f in fields(cls)]
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"did you mean {_join(cls.section, close[0])}?"
    for name in known:
        nested = _hints(cls)[name]
        if is_dataclass(nested) and key in {f.name for f in fields(nested)}:
            return f"did you mean {_join(nested.section, key)}?"
    return "known: " + ", ".join(known)


def save_config(config: ExperimentConfig, path: str | Path) -> None:
    """Write ``config`` as YAML, atomically."""
    atomic_write_text(yaml.safe_dump(to_dict(config), sort_keys=False), path)


def load_config(path: str | Path, *, base_profile: str | None = None, default_profile: str = "paper") -> ExperimentConfig:
    """Read a YAML config: a base profile plus the values that differ from it.

    The base is the file's ``profile`` key; without one, ``base_profile`` (a profile
    asked for explicitly, e.g. ``--profile``) or else ``default_profile``. A file that
    names a profile other than ``base_profile`` is refused. Every error is one
    :class:`ConfigError` line starting with ``path``.
    """
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_bytes())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config ({error.strerror or error})") from None
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        raise ConfigError(f"{path}: not a valid YAML file ({_yaml_problem(error)})") from None
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{path}: a config file must be a mapping of settings (profile, model, train, data), got {_show(values)}")
    try:
        profile = base_profile or default_profile
        if "profile" in values:
            profile = _convert_profile(values["profile"])
            if base_profile is not None and profile != base_profile:
                raise ConfigError(f"profile {profile!r} in the file contradicts the profile asked for ({base_profile!r}); "
                                  "drop one of the two")
        return from_dict(ExperimentConfig, values, base=get_profile(profile))
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def _convert_profile(value: Any) -> str:
    """The ``profile`` key of a config file, validated like the field."""
    try:
        return _convert(value, _hints(ExperimentConfig)["profile"])
    except _Invalid:
        raise ConfigError(f"profile must be {_describe(_hints(ExperimentConfig)['profile'])}, got {_show(value)}") from None


def _yaml_problem(error: Exception) -> str:
    """One line saying where and why YAML parsing failed."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or (str(error).splitlines() or [type(error).__name__])[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem
