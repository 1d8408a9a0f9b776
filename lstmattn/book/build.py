"""Build the companion book: train what the chapters need, run them, render the site.

``build_book`` resolves the profile once (:meth:`ChapterParameters.resolve`) into
``<out>/experiment.yaml`` and passes that file to every chapter, then:

1. **Trains** (with ``jobs > 1``) every run the selected chapters read
   (:data:`lstmattn.engine.plan.CHAPTER_RUNS`), ``jobs`` at a time, so the notebooks only
   find finished runs.
2. **Executes** each chapter notebook ``notebooks/NN_*.ipynb`` with papermill, injecting
   ``chapter_parameters``. The executed copy goes to ``<out>/notebooks/NN_*.ipynb``. A
   chapter that raises keeps its executed notebook (with the traceback in it) there and
   stops the build with a :class:`ChapterFailed` naming the chapter and that path.
   Chapter 7 runs on the real-data folder (``ChapterParameters.real_data``); without
   one it becomes a page saying what data it needs and how to get it.
3. **Renders** the site (:mod:`lstmattn.book.site`), with the Results page generated from
   the tables the chapters wrote, ``provenance.json`` and the run folders
   (:mod:`lstmattn.book.results_page`).

With a :class:`StoreOptions` (the command line's default), step 1 first consults the
result store (:mod:`lstmattn.store.resolution`): fresh stored runs are copied into the
runs folder, the live sample (:data:`~lstmattn.engine.plan.LIVE_RUNS`) and the missing or
stale runs are trained (always up front), the live runs are compared with their stored
twins, and ``<out>/provenance.json`` records it all (:mod:`lstmattn.book.provenance`);
a live run outside its twin's seed noise fails the build before any chapter runs.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lstmattn.book.missing_data import write_missing_data_page
from lstmattn.book.parameters import ChapterParameters
from lstmattn.book.provenance import (PROVENANCE_FILE, LiveRunInconsistent, build_summary, live_comparisons,
                                     read_provenance, write_provenance)
from lstmattn.book.results_page import write_results_page
from lstmattn.book.site import PROJECT_ROOT, BookError, build_site, stage_sources, vendor_assets
from lstmattn.config import save_config
from lstmattn.engine.parallel import train_experiments
from lstmattn.engine.plan import FIGURE_RUNS, LIVE_RUNS, needs_real_data, planned_runs
from lstmattn.io import remove_stale_temporaries, temporary_path
from lstmattn.store.resolution import RunSource, mark_live_runs, resolve_sources

__all__ = ["ChapterFailed", "StoreOptions", "BookBuild", "find_chapters", "run_chapter", "pin_config", "build_book"]

_CHAPTER_NAME = re.compile(r"^(\d\d)_[A-Za-z0-9_\-]+\.ipynb$")


class ChapterFailed(BookError):
    """A chapter notebook raised; ``notebook`` is the executed copy holding the error.
    The command line exits with 1 (an item of the build failed)."""

    exit_status = 1

    def __init__(self, number: int, source: Path, notebook: Path, reason: str) -> None:
        self.number, self.source, self.notebook, self.reason = number, source, notebook, reason
        super().__init__(
            f"chapter {number} ({source.name}) failed: {reason}\n"
            f"  the executed notebook with the error is kept at {notebook}"
        )


@dataclass(frozen=True)
class StoreOptions:
    """How a build uses the result store (:func:`lstmattn.store.resolution.resolve_sources`).

    ``mode``: ``use`` (fresh stored runs are read, the live sample and the misses
    trained) or ``retrain`` (every run trained here; the store is only compared with);
    ``on_miss``: ``train`` or ``error`` (CI); ``canary``: ``changed`` (only entries whose
    training modules changed) or ``all``; ``allow_stale`` shows stale entries with a badge
    instead of retraining them; ``root``: the store folder (default ``store/``)."""

    mode: str = "use"
    on_miss: str = "train"
    canary: str = "changed"
    allow_stale: bool = False
    root: str | None = None


@dataclass
class BookBuild:
    """What ``build_book`` produced and how long each part took (seconds)."""

    out: Path
    html: Path | None
    executed: dict[int, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    sources: list[RunSource] = field(default_factory=list)

    @property
    def index(self) -> Path | None:
        return None if self.html is None else self.html / "index.html"


# --------------------------------------------------------------------- chapters
def find_chapters(notebooks_dir: str | Path | None = None) -> dict[int, Path]:
    """Chapter number → notebook, for every ``NN_name.ipynb`` in ``notebooks_dir``
    (default: the project's ``notebooks/``)."""
    folder = Path(notebooks_dir) if notebooks_dir else PROJECT_ROOT / "notebooks"
    chapters: dict[int, Path] = {}
    for path in sorted(folder.glob("*.ipynb")):
        match = _CHAPTER_NAME.match(path.name)
        if not match:
            continue
        number = int(match.group(1))
        if number in chapters:
            raise BookError(f"{path}: chapter {number} is also {chapters[number].name}")
        chapters[number] = path
    return chapters


def _select(chapters: Mapping[int, Path], wanted: Iterable[int] | None) -> dict[int, Path]:
    if wanted is None:
        return dict(chapters)
    selected: dict[int, Path] = {}
    for number in wanted:
        if number not in chapters:
            known = ", ".join(f"{n} ({p.name})" for n, p in sorted(chapters.items())) or "none"
            raise BookError(f"unknown chapter {number}; the chapters are: {known}")
        selected[number] = chapters[number]
    return dict(sorted(selected.items()))


def _local_kernel_manager() -> type:
    """A kernel manager whose kernels talk to papermill over local IPC sockets: over TCP
    without CurveZMQ keys every chapter kernel prints a warning that its traffic is not
    encrypted (issue 33, item 5)."""
    from jupyter_client import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class LocalKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    return LocalKernelManager


def run_chapter(
    number: int,
    *,
    parameters: ChapterParameters | None = None,
    out: str | Path = "_build",
    notebooks_dir: str | Path | None = None,
    cwd: str | Path | None = None,
    kernel_name: str = "python3",
    log_output: bool = False,
) -> Path:
    """Execute chapter ``number`` with papermill, its ``chapter_parameters`` set to
    ``parameters``; returns ``<out>/notebooks/<name>``.

    The notebook runs with ``cwd`` (default: the current directory) as its working
    directory, so ``output_dir="runs"`` shares runs with ``lstmattn train``. On an error
    the executed notebook is kept and :class:`ChapterFailed` is raised.

    Papermill writes the notebook as it executes into a temporary file beside the
    target, renamed onto it at the end: a killed build never leaves a half-executed
    notebook under the chapter's name, and the next run removes the temporary file.

    A chapter on real data (:func:`~lstmattn.engine.plan.needs_real_data`) without
    ``parameters.real_data`` is not executed: its target is the page saying what data it
    needs (:func:`~lstmattn.book.missing_data.write_missing_data_page`).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = _select(find_chapters(notebooks_dir), [number])[number]
    target = Path(out) / "notebooks" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent)
    partial = temporary_path(target)
    parameters = parameters or ChapterParameters()
    if parameters.real_data is None and needs_real_data(number):
        return write_missing_data_page(source, target)
    values = parameters.as_dict()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"The specified file .* does not end in")  # the .tmp name
            papermill.execute_notebook(
                str(source),
                str(partial),
                parameters={"chapter_parameters": values},
                cwd=str(cwd or Path.cwd()),
                kernel_name=kernel_name,
                progress_bar=False,
                log_output=log_output,
                report_mode=False,
                kernel_manager_class=_local_kernel_manager(),
            )
    except PapermillExecutionError as error:
        os.replace(partial, target)
        raise ChapterFailed(number, source, target, f"{error.ename}: {error.evalue}") from None
    except Exception as error:  # kernel death, bad notebook JSON, missing parameters cell ...
        if partial.exists():
            os.replace(partial, target)
        elif not target.exists():
            shutil.copyfile(source, target)
        raise ChapterFailed(number, source, target, f"{type(error).__name__}: {error}") from error
    except BaseException:  # interrupted (Ctrl-C): nothing half-written stays
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target


def pin_config(parameters: ChapterParameters, out: str | Path) -> ChapterParameters:
    """Resolve ``parameters`` once into ``<out>/experiment.yaml`` and return them with
    ``config`` pointing at that file, so every chapter reads the same resolved config."""
    config_file = (Path(out) / "experiment.yaml").resolve()
    save_config(parameters.resolve(), config_file)
    return replace(parameters, config=str(config_file), provenance=str((Path(out) / PROVENANCE_FILE).resolve()))


def _check_live_sample(build: BookBuild, planned: Mapping[str, Any], runs_at: Path, plan: Any, *, out: Path,
                       store: StoreOptions, device: str | None, profile: str, echo: Any) -> None:
    """Compare the live runs with their stored twins, write ``provenance.json``, and raise
    :class:`LiveRunInconsistent` when one falls outside its arm's seed noise."""
    from lstmattn.engine.loading import resolve_device
    from lstmattn.engine.runs import device_description

    comparisons = live_comparisons(build.sources, planned, runs_at, plan, store.root)
    write_provenance(out, sources=build.sources, comparisons=comparisons, profile=profile, mode=store.mode,
                     device=device_description(resolve_device(device)))
    for comparison in comparisons:
        echo(f"  live sample: {comparison.summary()}")
    failed = [c for c in comparisons if c.compared and not c.consistent]
    if failed:
        raise LiveRunInconsistent("the live run(s) " + ", ".join(c.live_run for c in failed) + " fell outside the "
                                  f"seed noise of their stored twins (details in {out / PROVENANCE_FILE})")


def build_book(
    *,
    parameters: ChapterParameters | None = None,
    chapters: Sequence[int] | None = None,
    out: str | Path = "_build",
    notebooks_dir: str | Path | None = None,
    book_dir: str | Path | None = None,
    config: str | Path | None = None,
    cwd: str | Path | None = None,
    site: bool = True,
    vendor_cache: str | Path | None = None,
    jobs: int = 1,
    echo: Any = print,
    progress: bool = True,
    store: StoreOptions | None = None,
) -> BookBuild:
    """Run the chapters (all, or the numbers in ``chapters``) with papermill, then build
    the site. ``parameters`` are the chapter parameters (default: the ``quick``
    profile); ``cwd`` is the chapters' working directory (default: the current one),
    ``config`` the jupyter-book config and ``vendor_cache`` the npm tarball cache
    (default: ``<out>/.vendor-cache``). With ``jobs > 1`` every run the selected chapters
    read is trained first, ``jobs`` at a time, under one overall progress bar
    (``progress=False``: only a line per finished run, for CI logs), and the notebooks
    then reuse the runs. With ``store`` the result store is consulted first (module
    docstring) and training is always up front.

    Raises :class:`ChapterFailed` at the first failing chapter (its executed notebook
    is left in ``<out>/notebooks/``) and :class:`BookError` for any other failure.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    selected = _select(find_chapters(notebooks_dir), chapters)
    if not selected:
        raise BookError(f"no chapter notebooks (NN_name.ipynb) in {notebooks_dir or PROJECT_ROOT / 'notebooks'}")
    parameters = pin_config(parameters or ChapterParameters(), out)
    resolved = parameters.resolve()
    build = BookBuild(out=out, html=None)
    defaults = ChapterParameters().as_dict()
    shown = ", ".join(f"{k}={v!r}" for k, v in parameters.as_dict().items() if k != "config" and v != defaults[k])
    echo(f"lstmattn book: {len(selected)} chapter(s), profile {resolved.profile}, parameters: {shown or 'defaults'}")
    if jobs > 1 or store is not None:
        planned = {p.label: p for p in planned_runs(selected)}
        experiments = {label: e for label, e in ((label, parameters.plan(resolved, p)) for label, p in planned.items())
                       if e is not None}
        runs_at = Path(cwd or ".") / parameters.output_dir
        start = time.perf_counter()
        if store is not None:
            build.sources = resolve_sources(
                experiments, runs_root=runs_at, live=set(LIVE_RUNS), needs_weights=set(FIGURE_RUNS), store=store.root,
                retrain_all=store.mode == "retrain", on_miss=store.on_miss, canary=store.canary,
                allow_stale=store.allow_stale, cache_dir=out, device=parameters.device, echo=echo)
            counts = {a: sum(1 for s in build.sources if s.action == a) for a in ("stored", "live", "train")}
            echo(f"  result store: {counts['stored']} run(s) read, {counts['live']} live, {counts['train']} to train")
            to_train = [s.experiment for s in build.sources if s.action != "stored"]
        else:
            to_train = list(experiments.values())
        try:
            train_experiments(to_train, root=parameters.output_dir, jobs=max(1, jobs), device=parameters.device,
                              cwd=cwd, echo=echo, progress=progress)
        finally:
            build.timings["training"] = time.perf_counter() - start
        echo(f"  training: done in {build.timings['training']:.0f} s")
        if store is not None:
            mark_live_runs(build.sources, runs_at)
            _check_live_sample(build, planned, runs_at, lambda p: parameters.plan(resolved, p), out=out,
                               store=store, device=parameters.device, profile=resolved.profile, echo=echo)
    for position, (number, path) in enumerate(selected.items(), start=1):
        start = time.perf_counter()
        echo(f"  chapter {number} ({position} of {len(selected)}): running {path.name}")
        try:
            build.executed[number] = run_chapter(number, parameters=parameters, out=out, notebooks_dir=notebooks_dir,
                                                 cwd=cwd)
        finally:
            build.timings[f"chapter {number}"] = time.perf_counter() - start
        echo(f"  chapter {number}: done in {build.timings[f'chapter {number}']:.0f} s -> {build.executed[number]}")
    if not site:
        return build
    start = time.perf_counter()
    provenance_path = out / PROVENANCE_FILE
    record = read_provenance(provenance_path) if build.sources and provenance_path.is_file() else None
    runs_at = Path(cwd or ".") / parameters.output_dir
    source = stage_sources(build.executed, out=out, book_dir=book_dir,
                           build_summary=None if record is None else build_summary(record),
                           run_folders=[s.experiment.folder(runs_at).path for s in build.sources])
    write_results_page(source, executed=build.executed, tables_dir=runs_at / "tables", runs_root=runs_at,
                       provenance=record)
    vendor_assets(source / "_vendor" / "_static", cache_dir=vendor_cache or out / ".vendor-cache")
    build.timings["vendor"] = time.perf_counter() - start
    start = time.perf_counter()
    build.html = build_site(source, out=out, config=config)
    build.timings["jupyter-book"] = time.perf_counter() - start
    echo(f"  site: {build.index}  ({build.timings['jupyter-book']:.0f} s)")
    return build
