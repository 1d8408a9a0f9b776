"""The run plan: every run the book's chapters read, declared once.

:data:`CHAPTER_RUNS` maps a chapter number to the :class:`PlannedRun`-s it shows: the
one-shot model, its baselines, the ablation variants of :mod:`lstmattn.variants` and the
two-class runs of Table 4. :func:`plan_experiment` turns a planned run and the book's
resolved base config into the :class:`~lstmattn.engine.experiment.Experiment` that
``ensure_run`` trains, so the chapters and the up-front trainer
(:mod:`lstmattn.engine.parallel`) always agree on what a run is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from lstmattn.config import ExperimentConfig
from lstmattn.engine.experiment import Experiment
from lstmattn.model.baselines import AFFINITY, CLASSIFIERS, MASK_RCNN, MASK_RCNN_HEADS_ONLY
from lstmattn.labels import ONE_SHOT
from lstmattn.variants import ABLATIONS, TWO_CLASS

__all__ = ["PlannedRun", "CLASSIFIER_RUNS", "CHAPTER_RUNS", "planned_runs", "plan_experiment"]

#: The seven torchvision classifiers of Table 2, in the paper's order.
CLASSIFIER_RUNS: tuple[str, ...] = tuple(CLASSIFIERS.values())


@dataclass(frozen=True)
class PlannedRun:
    """One run a chapter needs: a registered model, an optional variant name and the
    ``ModelConfig``/``TrainConfig`` values the variant changes."""

    model_name: str
    variant: str | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``model`` or ``model-variant``: how chapters name the run."""
        return self.model_name if self.variant is None else f"{self.model_name}-{self.variant}"


_ONE_SHOT = PlannedRun(ONE_SHOT)
_AFFINITY = PlannedRun(AFFINITY)
_ABLATIONS = tuple(PlannedRun(ONE_SHOT, a.variant, **{a.section: dict(a.overrides)}) for a in ABLATIONS)
_TWO_CLASS = tuple(PlannedRun(name, TWO_CLASS, model={"num_image_classes": 2}) for name in (ONE_SHOT, AFFINITY))

#: Chapter number → the runs it reads (chapters not listed train nothing).
CHAPTER_RUNS: dict[int, tuple[PlannedRun, ...]] = {
    2: (_ONE_SHOT,),
    3: (_ONE_SHOT, _AFFINITY, PlannedRun(MASK_RCNN), PlannedRun(MASK_RCNN_HEADS_ONLY)),
    4: (_ONE_SHOT, _AFFINITY, *(PlannedRun(name) for name in CLASSIFIER_RUNS)),
    5: (_ONE_SHOT, _AFFINITY, *_ABLATIONS, *_TWO_CLASS),
    6: (_ONE_SHOT,),
}


def planned_runs(chapters: Iterable[int]) -> list[PlannedRun]:
    """The runs of ``chapters``, each once (by label), in chapter order."""
    unique: dict[str, PlannedRun] = {}
    for number in chapters:
        for run in CHAPTER_RUNS.get(number, ()):
            unique.setdefault(run.label, run)
    return list(unique.values())


def plan_experiment(base: ExperimentConfig, planned: PlannedRun) -> Experiment | None:
    """The experiment of ``planned`` on top of the resolved ``base`` config, or ``None``
    when the base's data cannot serve it: a two-class run on real COVIDx-CT data needs
    iCTCF (``data.ictcf_root``); on phantoms it uses the two-class phantom view."""
    config = replace(base, model_name=planned.model_name)
    if planned.model:
        config = replace(config, model=replace(config.model, **planned.model))
    if planned.train:
        config = replace(config, train=replace(config.train, **planned.train))
    if config.model.num_image_classes == 2 and config.data.source == "covidx":
        if not config.data.ictcf_root:
            return None
        config = replace(config, data=replace(config.data, source="ictcf", root=config.data.ictcf_root))
    return Experiment(config, planned.variant)
