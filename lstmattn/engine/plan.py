"""The run plan: every run the book's chapters read, declared once.

:data:`CHAPTER_RUNS` maps a chapter number to the :class:`PlannedRun`-s it shows: the
one-shot model, its baselines, the ablation variants of :mod:`lstmattn.variants` (the
paper-vs-code differences and the paper's ideas taken out) and the
two-class runs of Table 4 (under the ``paper`` profile with Table 4's ResNeXt50+FPN
backbone, :data:`TABLE4_BACKBONE`) and chapter 7's runs on real CT slices
(:data:`REAL_DATA_RUNS`, under their own profile :data:`REAL_DATA_PROFILE` and the book's
real-data folder). :func:`plan_experiment` turns a planned run and the book's
resolved base config into the :class:`~lstmattn.engine.experiment.Experiment` that
``ensure_run`` trains, so the chapters and the up-front trainer
(:mod:`lstmattn.engine.parallel`) always agree on what a run is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from lstmattn.config import ExperimentConfig, get_profile, with_real_data
from lstmattn.engine.experiment import Experiment, with_training
from lstmattn.model.baselines import AFFINITY, CLASSIFIERS, MASK_RCNN, MASK_RCNN_HEADS_ONLY
from lstmattn.labels import ONE_SHOT
from lstmattn.variants import ABLATIONS, IDEAS, TWO_CLASS

__all__ = [
    "PlannedRun",
    "CLASSIFIER_RUNS",
    "TABLE4_BACKBONE",
    "REAL_DATA_PROFILE",
    "on_real_data",
    "MEDSEG_ALONE_EPOCH_SCALE",
    "REAL_DATA_RUNS",
    "ABLATION_SEEDS",
    "CHAPTER_RUNS",
    "LIVE_RUNS",
    "FIGURE_RUNS",
    "planned_runs",
    "seed_repeats",
    "needs_real_data",
    "plan_experiment",
]

#: The seven torchvision classifiers of Table 2, in the paper's order.
CLASSIFIER_RUNS: tuple[str, ...] = tuple(CLASSIFIERS.values())

#: Table 4's caption: "Our models were trained with ResNeXt50+FPN backbone".
TABLE4_BACKBONE = "resnext50_32x4d"

#: The profile of chapter 7's runs on real CT slices, whatever the book's profile is.
REAL_DATA_PROFILE = "real-quick"


@dataclass(frozen=True)
class PlannedRun:
    """One run a chapter needs: a registered model, an optional variant name, the
    ``ModelConfig``/``TrainConfig`` values the variant changes, and ``paper_backbone``,
    the backbone the paper states for this run, used only under the ``paper`` profile
    (the CPU-sized ``quick`` keeps its own small backbone; ``reference`` is the code's).

    ``profile`` (``None``: the book's) gives the run a profile of its own, run on the
    book's real-data folder (:func:`lstmattn.config.with_real_data`) with the book's
    seed, ``max_steps`` and ``epochs`` override: chapter 7's runs on real CT slices.

    ``epochs_scale`` trains the run for that multiple of its profile's epochs (after any
    override), so that ``--epochs`` shortens it in proportion to the others.

    ``seed_offset`` trains the run with the book's seed plus the offset: the repeats that
    let chapter 5 tell an ablation's effect from seed noise (:data:`ABLATION_SEEDS`)."""

    model_name: str
    variant: str | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    paper_backbone: str | None = None
    profile: str | None = None
    seed_offset: int = 0
    epochs_scale: int = 1

    @property
    def label(self) -> str:
        """``model`` or ``model-variant``, after ``<profile>/`` for a run on a profile of its
        own and before ``@seed+k`` for a repeat with another seed: how chapters name the run."""
        name = self.model_name if self.variant is None else f"{self.model_name}-{self.variant}"
        name = name if self.seed_offset == 0 else f"{name}@seed+{self.seed_offset}"
        return name if self.profile is None else f"{self.profile}/{name}"


def on_real_data(model_name: str) -> PlannedRun:
    """The planned run of ``model_name`` on the real-data folder under :data:`REAL_DATA_PROFILE`."""
    return PlannedRun(model_name, profile=REAL_DATA_PROFILE)


#: Epochs of Mask R-CNN on the 35 MedSeg training slices alone, as a multiple of the
#: real-data profile's epochs: as many segmentation slices as the one-shot model sees in
#: its one-shot training (per epoch 88 steps × 2 slices = 176 ≈ 5 × 35).
MEDSEG_ALONE_EPOCH_SCALE = 5

#: Chapter 7's runs on real CT slices: the two-class one-shot model, the affinity model,
#: Mask R-CNN on the MedSeg masks, and ResNet18 and DenseNet121 of Table 2.
REAL_DATA_RUNS: tuple[PlannedRun, ...] = (
    on_real_data(ONE_SHOT),
    on_real_data(AFFINITY),
    PlannedRun(MASK_RCNN, profile=REAL_DATA_PROFILE, epochs_scale=MEDSEG_ALONE_EPOCH_SCALE),
    on_real_data(CLASSIFIERS["resnet18"]),
    on_real_data(CLASSIFIERS["densenet121"]),
)


#: Seeds per arm of chapter 5's ablation (the default and each variant): the book's seed
#: and the next ones, so that the chapter can compare each effect with the seed noise.
ABLATION_SEEDS = 3

_ONE_SHOT = PlannedRun(ONE_SHOT)
_AFFINITY = PlannedRun(AFFINITY)
_ABLATIONS = tuple(PlannedRun(ONE_SHOT, a.variant, **{a.section: dict(a.overrides)}, seed_offset=offset)
                   for offset in range(ABLATION_SEEDS) for a in (*ABLATIONS, *IDEAS))
_DEFAULT_REPEATS = tuple(PlannedRun(ONE_SHOT, seed_offset=offset) for offset in range(1, ABLATION_SEEDS))
_TWO_CLASS = tuple(PlannedRun(name, TWO_CLASS, model={"num_image_classes": 2}, paper_backbone=TABLE4_BACKBONE)
                   for name in (ONE_SHOT, AFFINITY))

#: Chapter number → the runs it reads (chapters not listed train nothing).
CHAPTER_RUNS: dict[int, tuple[PlannedRun, ...]] = {
    2: (_ONE_SHOT,),
    3: (_ONE_SHOT, _AFFINITY, PlannedRun(MASK_RCNN), PlannedRun(MASK_RCNN_HEADS_ONLY)),
    4: (_ONE_SHOT, _AFFINITY, *(PlannedRun(name) for name in CLASSIFIER_RUNS)),
    5: (_ONE_SHOT, _AFFINITY, *_DEFAULT_REPEATS, *_ABLATIONS, *_TWO_CLASS),
    6: (_ONE_SHOT,),
    7: REAL_DATA_RUNS,
}


#: The live sample: labels of the runs every book build retrains, even when the result
#: store holds them, and compares with their stored twins (chapters 2 and 6 explore the
#: headline one-shot model, so it is trained where the book is built).
LIVE_RUNS: tuple[str, ...] = (_ONE_SHOT.label,)


#: Labels of the runs whose trained model a chapter loads to draw figures (chapter 7's
#: segmentation examples, attention gallery and `lstmattn predict` on a scan): a stored
#: copy serves them only with its weights (``lstmattn store add --with-weights``). The
#: headline run's figures come from the live sample, which is trained in every build.
FIGURE_RUNS: tuple[str, ...] = (on_real_data(ONE_SHOT).label,)


def seed_repeats(planned: PlannedRun) -> list[PlannedRun]:
    """The planned runs of ``planned``'s arm under every seed the plan has (itself
    included): same model, variant, settings and profile, any ``seed_offset``."""
    arm = replace(planned, seed_offset=0)
    found = {run.label: run for runs in CHAPTER_RUNS.values() for run in runs if replace(run, seed_offset=0) == arm}
    return sorted(found.values(), key=lambda run: run.seed_offset)


def planned_runs(chapters: Iterable[int]) -> list[PlannedRun]:
    """The runs of ``chapters``, each once (by label), in chapter order."""
    unique: dict[str, PlannedRun] = {}
    for number in chapters:
        for run in CHAPTER_RUNS.get(number, ()):
            unique.setdefault(run.label, run)
    return list(unique.values())


def needs_real_data(chapter: int) -> bool:
    """Whether chapter ``chapter`` reads runs on the real-data folder (a profile of their own)."""
    return any(planned.profile is not None for planned in CHAPTER_RUNS.get(chapter, ()))


def plan_experiment(base: ExperimentConfig, planned: PlannedRun, *, real_data: str | Path | None = None,
                    epochs: int | None = None) -> Experiment | None:
    """The experiment of ``planned`` on top of the resolved ``base`` config, or ``None``
    when the base's data cannot serve it: a two-class run on real COVIDx-CT data needs
    iCTCF (``data.ictcf_root``); on phantoms it uses the two-class phantom view. A run
    with a profile of its own starts from that profile on the real-data folder
    ``real_data`` with ``base``'s seed and ``max_steps`` and the book's ``epochs``
    override, if any (``None`` without a folder). Under the ``paper`` profile a run's
    ``paper_backbone`` replaces the backbone (its ``config.yaml`` records the one used)."""
    if planned.profile is not None:
        if real_data is None:
            return None
        base = with_training(with_real_data(get_profile(planned.profile), real_data), seed=base.train.seed,
                             max_steps=base.train.max_steps, epochs=epochs)
    config = replace(base, model_name=planned.model_name)
    if planned.seed_offset:
        config = with_training(config, seed=config.train.seed + planned.seed_offset)
    if planned.model:
        config = replace(config, model=replace(config.model, **planned.model))
    if planned.paper_backbone is not None and config.profile == "paper":
        backbone = replace(config.model.backbone, name=planned.paper_backbone)
        config = replace(config, model=replace(config.model, backbone=backbone))
    if planned.train:
        config = replace(config, train=replace(config.train, **planned.train))
    if planned.epochs_scale != 1:
        config = with_training(config, epochs=planned.epochs_scale * config.train.epochs)
    if config.model.num_image_classes == 2 and config.data.source == "covidx":
        if not config.data.ictcf_root:
            return None
        config = replace(config, data=replace(config.data, source="ictcf", root=config.data.ictcf_root))
    return Experiment(config, planned.variant)
