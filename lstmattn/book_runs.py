"""The runs each book chapter needs, and training them up front in parallel.

:data:`CHAPTER_RUNS` is the one list of what every chapter trains: the chapters read
their runs from it (``chapter_runs(chapter, 3)``), and ``lstmattn book build --jobs N`` trains
the union of the selected chapters' runs in ``N`` worker processes *before* the
notebooks execute, so the notebooks then only find finished runs and read their
results. On a CPU, two single-threaded workers get through about 1.27× more training
steps per second than one two-threaded process (measured on the 2-core build machine:
0.77 vs 0.98 s per quick one-shot step), because small convolutions do not split well
across threads.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from lstmattn.companion import Chapter, ensure_run, run_folder
from lstmattn.config import ExperimentConfig
from lstmattn.engine.runs import RunDirectory
from lstmattn.errors import LstmattnError
from lstmattn.model.baselines import AFFINITY, CLASSIFIERS, MASK_RCNN, MASK_RCNN_HEADS_ONLY
from lstmattn.model.registry import ONE_SHOT
from lstmattn.paper_tables import ABLATIONS, TWO_CLASS_VARIANT

__all__ = [
    "PlannedRun",
    "CLASSIFIER_RUNS",
    "CHAPTER_RUNS",
    "planned_runs",
    "planned_config",
    "run_planned",
    "chapter_runs",
    "default_jobs",
    "train_planned_runs",
    "PretrainFailed",
]

#: The seven torchvision classifiers of Table 2, in the paper's order.
CLASSIFIER_RUNS: tuple[str, ...] = tuple(CLASSIFIERS.values())


@dataclass(frozen=True)
class PlannedRun:
    """One run a chapter needs: a registered model, an optional variant name (part of
    the run id) and the ``ModelConfig``/``TrainConfig`` values the variant changes."""

    model_name: str
    variant: str | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``model`` or ``model-variant``: the run id without profile and seed."""
        return self.model_name if self.variant is None else f"{self.model_name}-{self.variant}"


def _ablation_runs() -> tuple[PlannedRun, ...]:
    return tuple(PlannedRun(ONE_SHOT, a.variant, **{a.section: dict(a.overrides)}) for a in ABLATIONS)


_ONE_SHOT = PlannedRun(ONE_SHOT)
_TWO_CLASS = tuple(PlannedRun(name, TWO_CLASS_VARIANT, model={"num_image_classes": 2}) for name in (ONE_SHOT, AFFINITY))

#: Chapter number → the runs it reads (chapters not listed train nothing).
CHAPTER_RUNS: dict[int, tuple[PlannedRun, ...]] = {
    2: (_ONE_SHOT,),
    3: (_ONE_SHOT, PlannedRun(AFFINITY), PlannedRun(MASK_RCNN), PlannedRun(MASK_RCNN_HEADS_ONLY)),
    4: (_ONE_SHOT, PlannedRun(AFFINITY), *(PlannedRun(name) for name in CLASSIFIER_RUNS)),
    5: (_ONE_SHOT, PlannedRun(AFFINITY), *_ablation_runs(), *_TWO_CLASS),
    6: (_ONE_SHOT,),
}


def planned_runs(chapters: Iterable[int]) -> list[PlannedRun]:
    """The runs of ``chapters``, each once (by label), in chapter order."""
    unique: dict[str, PlannedRun] = {}
    for number in chapters:
        for run in CHAPTER_RUNS.get(number, ()):
            unique.setdefault(run.label, run)
    return list(unique.values())


def planned_config(chapter: Chapter, planned: PlannedRun) -> ExperimentConfig | None:
    """The chapter's config for ``planned`` (profile, seed, overrides, data root), or
    ``None`` when the chapter's data cannot serve the run: a two-class run on real
    COVIDx-CT data needs iCTCF (``data.ictcf_root``); on phantoms it uses the two-class
    phantom view."""
    config = chapter.config(planned.model_name, **planned.model)
    if planned.train:
        config = replace(config, train=replace(config.train, **planned.train))
    if config.model.num_image_classes == 2 and config.data.source == "covidx":
        if not config.data.ictcf_root:
            return None
        config = replace(config, data=replace(config.data, source="ictcf", root=config.data.ictcf_root))
    return config


def run_planned(chapter: Chapter, planned: PlannedRun) -> RunDirectory:
    """The finished, evaluated run of ``planned`` (trained now if needed)."""
    config = planned_config(chapter, planned)
    if config is None:
        raise LstmattnError(f"{planned.label}: the data of profile {chapter.profile!r} cannot serve this run "
                            "(a two-class run on COVIDx-CT needs data.ictcf_root)")
    return ensure_run(config, variant=planned.variant, root=Path(chapter.output_dir),
                      device=chapter.device, progress=chapter.progress)


def chapter_runs(chapter: Chapter, number: int) -> dict[str, RunDirectory]:
    """Label → finished run, for every run of chapter ``number`` that its data can serve."""
    return {p.label: run_planned(chapter, p) for p in CHAPTER_RUNS.get(number, ()) if planned_config(chapter, p) is not None}


def default_jobs() -> int:
    """Worker processes for up-front training: one on a GPU (runs share the device), else
    one per CPU core, at most four (the cores are then shared out as torch threads)."""
    import torch

    if torch.cuda.is_available():
        return 1
    return max(1, min(4, os.cpu_count() or 1))


class PretrainFailed(LstmattnError):
    """Some planned runs failed to train or evaluate; ``failures`` maps label → error."""

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        listed = "\n".join(f"  {label}: {error}" for label, error in self.failures.items())
        super().__init__(f"{len(self.failures)} planned run(s) failed:\n{listed}")


def _in_folder(cwd: str | None) -> None:
    if cwd is not None:
        os.chdir(cwd)


def _build_data_in_worker(chapter_fields: dict[str, Any], planned: list[PlannedRun], cwd: str | None) -> None:
    """Write every data set ``planned`` needs (phantoms), each once, before training starts."""
    from lstmattn.engine.datasets import build_data

    _in_folder(cwd)
    chapter, built = Chapter(**chapter_fields), []
    for p in planned:
        config = planned_config(chapter, p)
        if (config.data, config.model.image_size) not in built:
            built.append((config.data, config.model.image_size))
            build_data(config, progress=False)


def _train_in_worker(chapter_fields: dict[str, Any], planned: PlannedRun, threads: int, cwd: str | None) -> float:
    """Worker entry point: limit torch's threads, then train and evaluate ``planned``."""
    import torch

    _in_folder(cwd)
    torch.set_num_threads(threads)
    start = time.perf_counter()
    run_planned(Chapter(**chapter_fields), planned)
    return time.perf_counter() - start


def _is_evaluated(chapter: Chapter, planned: PlannedRun, cwd: str | None) -> bool:
    root = Path(cwd or ".") / chapter.output_dir
    return run_folder(planned_config(chapter, planned), planned.variant, root).record().get("status") == "evaluated"


def train_planned_runs(
    chapter: Chapter,
    planned: Sequence[PlannedRun],
    *,
    jobs: int,
    cwd: str | Path | None = None,
    echo: Callable[[str], Any] = print,
) -> dict[str, float]:
    """Train and evaluate every run of ``planned`` that is not evaluated yet, ``jobs`` at
    a time, in worker processes working in ``cwd`` (default: the current folder), each
    with ``cpu_count // jobs`` torch threads; returns label → seconds.

    The data sets are written first, by one worker, so workers never generate the same
    phantom set concurrently. Every run is attempted; failures are collected and
    raised together as :class:`PretrainFailed`.
    """
    folder = None if cwd is None else str(cwd)
    todo = [p for p in planned if planned_config(chapter, p) is not None and not _is_evaluated(chapter, p, folder)]
    if not todo:
        return {}
    jobs = max(1, min(jobs, len(todo)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    fields = {**asdict(chapter), "progress": False}
    echo(f"  training {len(todo)} run(s) in {jobs} worker(s), {threads} thread(s) each")
    seconds: dict[str, float] = {}
    failures: dict[str, str] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        pool.submit(_build_data_in_worker, fields, todo, folder).result()
        pending = {pool.submit(_train_in_worker, fields, p, threads, folder): p for p in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                p = pending.pop(future)
                try:
                    seconds[p.label] = future.result()
                    echo(f"    {p.label}: {seconds[p.label]:.0f} s")
                except Exception as error:  # every run is attempted; all failures are reported
                    failures[p.label] = f"{type(error).__name__}: {error}"
                    echo(f"    {p.label}: FAILED ({failures[p.label]})")
    if failures:
        raise PretrainFailed(failures)
    return seconds
