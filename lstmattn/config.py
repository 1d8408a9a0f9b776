"""Configuration: one dataclass per concern, named profiles, YAML round trip.

Profiles (``get_profile(name)``):

* ``paper`` – the paper as written (§4.1): ResNeXt101-32x8d + FPN, 512² images, β = 16,
  LSTM hidden 256, Adam lr 1e-5 / wd 1e-3, 50 epochs, RoIs in confidence order (§3.7.1),
  summed loss (Eq. 8), weight copy when the segmentation loss beats the best so far.
* ``reference`` – the authors' public code (``../shared/paper/REFERENCE_CODE.md``):
  ResNeXt50 with a single-level C5 "FPN", its RPN/anchor settings, 128-d box head and
  one-conv mask head, RoIs ordered by distance from the image origin, alternating loss
  steps, copy vs the previous iteration, sieve Conv→BN→ReLU→ConvT, BatchNorm in training
  mode at inference, 10 epochs.
* ``quick`` – a CPU-sized variant of ``paper`` (ResNet18, 64 FPN channels, small images)
  for the offline book build and CI.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

import yaml

from lstmattn.errors import ConfigError

__all__ = [
    "BackboneConfig",
    "ModelConfig",
    "TrainConfig",
    "DataConfig",
    "ExperimentConfig",
    "PROFILES",
    "get_profile",
    "to_dict",
    "from_dict",
    "save_config",
    "load_config",
]

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnext50_32x4d", "resnext101_32x8d")


@dataclass
class BackboneConfig:
    """Feature extractor (§3.3): a torchvision ResNet/ResNeXt with an FPN on top.

    ``fpn_levels="all"`` uses C2-C5 (+ max-pool level) as in standard Mask R-CNN;
    ``"c5"`` is the reference code's single-level "FPN" on ``layer4`` only.
    ``weights`` is ``None`` (random init), a torchvision weight-enum name such as
    ``"IMAGENET1K_V1"`` (downloaded into torch's own cache), or a local file path.
    """

    name: str = "resnext101_32x8d"
    fpn_levels: Literal["all", "c5"] = "all"
    out_channels: int = 256
    weights: Optional[str] = None
    norm: Literal["batchnorm", "frozen_batchnorm"] = "batchnorm"
    trainable_layers: int = 5

    def __post_init__(self) -> None:
        if self.name not in BACKBONES:
            raise ConfigError(f"backbone.name must be one of {BACKBONES}, got {self.name!r}")
        _check_choice("backbone.fpn_levels", self.fpn_levels, ("all", "c5"))
        _check_choice("backbone.norm", self.norm, ("batchnorm", "frozen_batchnorm"))
        if not 0 <= self.trainable_layers <= 5:
            raise ConfigError(f"backbone.trainable_layers must be in [0, 5], got {self.trainable_layers}")


@dataclass
class ModelConfig:
    """The one-shot model (Figure 1): segmentation branch, RoI classification branch,
    attention layer and image classification modules."""

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    image_size: int = 512
    num_segmentation_classes: int = 4  # background, lungs, GGO, consolidation (§3.1)
    num_image_classes: int = 3  # Normal, CP, COVID-19 (§3.8)
    # RPN (§3.4). ``None`` anchor sizes → torchvision's per-level defaults.
    anchor_sizes: Optional[tuple[int, ...]] = None
    anchor_aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_pre_nms_top_n_train: int = 2000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_test: int = 1000
    rpn_nms_thresh: float = 0.7
    rpn_batch_size_per_image: int = 256
    rpn_positive_fraction: float = 0.5
    # Segmentation RoI heads (§3.5).
    box_representation_size: int = 1024
    mask_head_layers: int = 4
    box_fg_iou_thresh: float = 0.5
    box_bg_iou_thresh: float = 0.5
    box_batch_size_per_image: int = 512
    box_positive_fraction: float = 0.25
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    box_detections_per_img: int = 100
    # RoI classification branch (§3.6).
    roi_batch_size: int = 16  # β
    roi_score_thresh: float = -0.01  # θ: accepts every box
    roi_nms_thresh: float = 0.25
    roi_order: Literal["confidence", "distance"] = "confidence"
    weight_copy_policy: Literal["best", "previous"] = "best"
    # Attention layer (§3.7) and image classification modules (§3.8).
    sieve_blocks: int = 1  # N
    sieve_order: Literal["paper", "reference"] = "paper"
    lstm_hidden_size: int = 256
    classifier_hidden_size: int = 128
    batchnorm_at_inference: Literal["eval", "train"] = "eval"
    # Baselines (lstmattn.model.baselines): A, the affinity count of the One Shot Model
    # [15] (the paper's comparison uses 8), and the Table 2 classifiers' input size
    # (None → image_size).
    affinity_count: int = 8
    classifier_image_size: Optional[int] = None

    def __post_init__(self) -> None:
        if isinstance(self.backbone, Mapping):
            self.backbone = BackboneConfig(**self.backbone)
        for name in ("image_size", "roi_batch_size", "lstm_hidden_size", "classifier_hidden_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.image_size % 32:
            raise ConfigError(f"model.image_size must be a multiple of 32, got {self.image_size}")
        if self.affinity_count < 1:
            raise ConfigError(f"model.affinity_count must be positive, got {self.affinity_count}")
        if self.classifier_image_size is not None and self.classifier_image_size < 32:
            raise ConfigError(f"model.classifier_image_size must be >= 32 (or None), got {self.classifier_image_size}")
        if self.sieve_blocks < 0:
            raise ConfigError(f"model.sieve_blocks must be >= 0, got {self.sieve_blocks}")
        if self.num_image_classes < 2:
            raise ConfigError(f"model.num_image_classes must be >= 2, got {self.num_image_classes}")
        _check_choice("model.roi_order", self.roi_order, ("confidence", "distance"))
        _check_choice("model.weight_copy_policy", self.weight_copy_policy, ("best", "previous"))
        _check_choice("model.sieve_order", self.sieve_order, ("paper", "reference"))
        _check_choice("model.batchnorm_at_inference", self.batchnorm_at_inference, ("eval", "train"))


@dataclass
class TrainConfig:
    """Optimisation (§4.1). ``loss_scheme="summed"`` is Eq. 8 (L_SEG + L_CLS, one step);
    ``"alternating"`` is the reference code's two optimiser steps per iteration."""

    epochs: int = 50
    max_steps: Optional[int] = None
    segmentation_batch_size: int = 1
    classification_batch_size: int = 1
    lr: float = 1e-5
    weight_decay: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    loss_scheme: Literal["summed", "alternating"] = "summed"
    classification_loss_reduction: Literal["sum", "mean"] = "sum"
    sampling: Literal["epoch", "reference"] = "epoch"
    seed: int = 0
    amp: bool = False
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"train.epochs must be >= 1, got {self.epochs}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")
        _check_choice("train.loss_scheme", self.loss_scheme, ("summed", "alternating"))
        _check_choice("train.classification_loss_reduction", self.classification_loss_reduction, ("sum", "mean"))
        _check_choice("train.sampling", self.sampling, ("epoch", "reference"))


@dataclass
class DataConfig:
    """Which data the run uses. ``source="phantom"`` generates the synthetic set into
    ``root`` (the offline default); the other sources read a user's copy of the real
    data laid out as ``lstmattn data verify`` documents. ``ictcf_root`` is where the
    book's two-class runs (Table 4) find iCTCF when ``source="covidx"``."""

    source: Literal["phantom", "covidx", "ictcf"] = "phantom"
    root: Optional[str] = None
    segmentation_root: Optional[str] = None
    ictcf_root: Optional[str] = None
    phantom_per_class: dict[str, int] = field(default_factory=lambda: {"train": 200, "val": 50, "test": 100, "holdout": 100})
    phantom_segmentation: dict[str, int] = field(default_factory=lambda: {"train": 120, "test": 40})
    phantom_seed: int = 0
    phantom_options: dict[str, float] = field(default_factory=dict)  # PhantomConfig difficulty knobs

    def __post_init__(self) -> None:
        _check_choice("data.source", self.source, ("phantom", "covidx", "ictcf"))


@dataclass
class ExperimentConfig:
    """Everything a run needs; written next to every run's outputs."""

    profile: str = "paper"
    model_name: str = "one-shot-lstm-attention"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {choices}, got {value!r}")


def _paper() -> ExperimentConfig:
    return ExperimentConfig(profile="paper")


def _reference() -> ExperimentConfig:
    model = ModelConfig(
        backbone=BackboneConfig(name="resnext50_32x4d", fpn_levels="c5"),
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


def _quick() -> ExperimentConfig:
    """CPU-sized ``paper``: same architecture and behaviours, smaller backbone, images and
    data; phantom lesions made a little larger and clearer (sizes of 192 px slices)."""
    model = ModelConfig(
        backbone=BackboneConfig(name="resnet18", out_channels=64),
        image_size=192,
        anchor_sizes=(8, 16, 32, 64, 128),
        rpn_pre_nms_top_n_train=600,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_train=300,
        rpn_post_nms_top_n_test=150,
        box_representation_size=256,
        mask_head_layers=2,
        box_batch_size_per_image=128,
        box_detections_per_img=30,
        classifier_image_size=128,
    )
    train = TrainConfig(epochs=4, lr=3e-4, weight_decay=1e-4, segmentation_batch_size=2, classification_batch_size=8)
    data = DataConfig(
        phantom_per_class={"train": 120, "val": 30, "test": 60, "holdout": 60},
        phantom_segmentation={"train": 80, "test": 30},
        phantom_options={"lesion_size": 1.3, "lesion_contrast": 1.3, "faint_lesion_prob": 0.1},
    )
    return ExperimentConfig(profile="quick", model=model, train=train, data=data)


PROFILES: dict[str, Any] = {"paper": _paper, "reference": _reference, "quick": _quick}


def get_profile(name: str) -> ExperimentConfig:
    """A fresh copy of the named profile (``paper``, ``reference`` or ``quick``)."""
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
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
    of a profile).
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        value, hint = values[f.name], hints[f.name]
        nested_base = getattr(base, f.name) if base is not None else None
        nested_cls = _dataclass_in(hint)
        if nested_cls is not None and isinstance(value, Mapping):
            value = from_dict(nested_cls, value, base=nested_base)
        elif _is_tuple_hint(hint) and isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return replace(base, **kwargs) if base is not None else cls(**kwargs)


def _dataclass_in(hint: Any) -> Optional[type]:
    if is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        if is_dataclass(arg):
            return arg
    return None


def _is_tuple_hint(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple_hint(arg) for arg in typing.get_args(hint))
    return origin is tuple


def save_config(config: ExperimentConfig, path: str | Path) -> None:
    """Write ``config`` as YAML (atomically: temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    tmp.replace(path)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read a YAML config. A ``profile`` key selects the base profile; every other key
    overrides it, so a file may hold only the values that differ."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read config ({error})") from error
    if not isinstance(values, Mapping):
        raise ConfigError(f"{path}: config must be a mapping at top level")
    base = get_profile(values.get("profile", "paper"))
    try:
        return from_dict(ExperimentConfig, values, base=base)
    except (ConfigError, TypeError) as error:
        raise ConfigError(f"{path}: {error}") from error

