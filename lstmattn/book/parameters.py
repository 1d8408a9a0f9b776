"""Chapter parameters, declared once, and the :class:`Chapter` every notebook opens.

Every chapter notebook has one papermill parameter, ``chapter_parameters`` (a dict of
:class:`ChapterParameters` fields), and opens itself with
``chapter = open_chapter(chapter_parameters)``. The book build resolves the profile once
into a config file and passes its path as ``config``, so every chapter of one build
works on exactly the same resolved :class:`~lstmattn.config.ExperimentConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from lstmattn import __version__
from lstmattn.config import ExperimentConfig, load_config
from lstmattn.engine.experiment import Experiment, ensure_run, resolve_experiment, with_training
from lstmattn.engine.plan import CHAPTER_RUNS, PlannedRun, plan_experiment
from lstmattn.engine.runs import RunDirectory, git_commit
from lstmattn.errors import LstmattnError
from lstmattn.labels import ONE_SHOT
from lstmattn.results import RunResults, read_run

__all__ = ["ChapterParameters", "Chapter", "open_chapter", "ONE_SHOT", "PHANTOM_WARNING"]

PHANTOM_WARNING = (
    "> **Synthetic phantoms, not patient data.** This build uses the package's generated CT phantoms "
    "({description}). Nothing here reproduces the paper; see the introduction for running on real data."
)
"""The note every chapter shows above results computed on phantoms (``{description}``: the data)."""


@dataclass(frozen=True)
class ChapterParameters:
    """The parameters of every chapter, with their defaults (the ``quick`` profile).

    ``profile`` is a profile name or a YAML config file; ``config``, when set, is the
    config file the book build resolved once (it wins over ``profile`` and the training
    overrides). ``epochs``/``max_steps``/``seed``/``data_root`` override the profile;
    ``output_dir`` is the runs folder the chapters train into and reuse. ``real_data``
    is the real-data folder of chapter 7 (``sarscov2-ct/`` and ``medseg-semiseg/train/``
    under it; see :data:`lstmattn.config.REAL_DATA_LAYOUT`), whose runs use their own
    profile (:data:`lstmattn.engine.plan.REAL_DATA_PROFILE`) with this seed and
    ``max_steps``; ``None``: chapter 7 says what data it needs instead. ``provenance``
    is the build's ``provenance.json`` (:mod:`lstmattn.book.provenance`), set by the book
    build: where each run came from and how the live sample compared.
    """

    profile: str = "quick"
    config: str | None = None
    data_root: str | None = None
    device: str | None = None
    epochs: int | None = None
    max_steps: int | None = None
    output_dir: str = "runs"
    seed: int = 0
    real_data: str | None = None
    provenance: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "ChapterParameters":
        """Parameters from a mapping (a notebook's ``chapter_parameters``, ``-p`` options);
        unknown names are an error that lists the known ones."""
        values = dict(values or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise LstmattnError(f"unknown chapter parameter(s) {unknown}; known: {known}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The papermill value of ``chapter_parameters``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def resolve(self) -> ExperimentConfig:
        """The chapters' base config: ``config`` if set, else ``profile`` with the
        training overrides applied."""
        if self.config is not None:
            return load_config(self.config)
        return with_training(resolve_experiment(self.profile), epochs=self.epochs, max_steps=self.max_steps,
                             seed=self.seed, data_root=self.data_root)

    def plan(self, base: ExperimentConfig, planned: PlannedRun) -> Experiment | None:
        """``planned`` on top of ``base`` (the resolved config) with this book's real-data
        folder and ``epochs`` override (:func:`~lstmattn.engine.plan.plan_experiment`)."""
        return plan_experiment(base, planned, real_data=self.real_data, epochs=self.epochs)


def _planned(label: str) -> PlannedRun:
    for runs in CHAPTER_RUNS.values():
        for planned in runs:
            if planned.label == label:
                return planned
    known = sorted({p.label for runs in CHAPTER_RUNS.values() for p in runs})
    raise LstmattnError(f"no planned run {label!r}; the run plan has: {known}")


class Chapter:
    """One chapter's view of the book: its resolved config, its runs and their results.

    ``chapter.run(label)`` returns the finished run of a planned run (trained now when the
    build did not train it up front); ``chapter.runs(n)`` those of chapter ``n``.
    """

    def __init__(self, parameters: ChapterParameters, *, progress: bool = False) -> None:
        self.parameters = parameters
        self.config = parameters.resolve()
        self.progress = progress

    @property
    def output_dir(self) -> Path:
        return Path(self.parameters.output_dir)

    @property
    def profile(self) -> str:
        """The resolved profile's name (the runs and tables are filed under it)."""
        return self.config.profile

    @property
    def seed(self) -> int:
        return self.config.train.seed

    @property
    def ablation_seeds(self) -> list[int]:
        """The seeds of chapter 5's ablation arms: the chapter's seed plus each seed
        offset chapter 5's planned runs carry (:data:`~lstmattn.engine.plan.ABLATION_SEEDS`
        of them)."""
        return sorted({self.seed + run.seed_offset for run in CHAPTER_RUNS[5]})

    def experiment(self, label: str = ONE_SHOT) -> Experiment:
        """The experiment of planned run ``label`` (``model`` or ``model-variant``)."""
        experiment = self.parameters.plan(self.config, _planned(label))
        if experiment is None:
            raise LstmattnError(f"{label}: the data of profile {self.profile!r} cannot serve this run "
                                "(a two-class run on COVIDx-CT needs data.ictcf_root; a run on real CT slices "
                                "needs the real_data parameter)")
        return experiment

    def run(self, label: str = ONE_SHOT) -> RunDirectory:
        """The finished, evaluated run of ``label`` (trained now if needed)."""
        return ensure_run(self.experiment(label), root=self.output_dir, device=self.parameters.device,
                          progress=self.progress)

    def runs(self, number: int) -> dict[str, RunDirectory]:
        """Label → finished run, for every run of chapter ``number`` its data can serve."""
        return {p.label: self.run(p.label) for p in CHAPTER_RUNS.get(number, ())
                if self.parameters.plan(self.config, p) is not None}

    def results(self, label: str = ONE_SHOT) -> RunResults:
        """The result files of ``label``'s run, read (the run is trained first if needed)."""
        run = self.run(label)
        results = read_run(run.path)
        if results is None:
            raise LstmattnError(f"{run.path}: the run has no result files")
        return results

    def provenance(self) -> dict[str, Any] | None:
        """The build's provenance record, or ``None`` outside a store-backed book build."""
        from lstmattn.book.provenance import read_provenance

        path = self.parameters.provenance
        return read_provenance(path) if path and Path(path).is_file() else None

    def live_check(self, label: str = ONE_SHOT) -> str | None:
        """The comparison line of ``label``'s run if the build retrained it live beside a
        stored twin ("recomputed here: F1 …; stored: …; seed range …: consistent"), else
        ``None``."""
        record = self.provenance()
        run_id = self.experiment(label).run_id
        for comparison in (record or {}).get("live", []):
            if comparison["live_run"] == run_id:
                return comparison["summary"]
        return None

    def live_note(self, label: str = ONE_SHOT) -> str:
        """The Markdown line a chapter prints under a run it explores: whether the run was
        recomputed in this build and, if so, how it compared with its stored twin."""
        check = self.live_check(label)
        if check is not None:
            return f"**Recomputed in this build and checked against the result store.** {check}."
        results = self.results(label)
        return f"**Where this run comes from:** {results.source_label} (the provenance chapter lists every run)."

    def banner(self) -> str:
        """The line every chapter prints: package version, profile, seed, commit."""
        return f"lstmattn {__version__} · profile {self.profile} · seed {self.seed} · commit {git_commit()[:12]}"

    def data_warning(self, description: str) -> str | None:
        """:data:`PHANTOM_WARNING` when the chapter's data are phantoms, else ``None``."""
        return PHANTOM_WARNING.format(description=description) if self.config.data.source == "phantom" else None


def open_chapter(chapter_parameters: Mapping[str, Any] | None = None) -> Chapter:
    """The chapter a notebook's ``chapter_parameters`` describe (``{}``: the defaults)."""
    return Chapter(ChapterParameters.from_mapping(chapter_parameters))
