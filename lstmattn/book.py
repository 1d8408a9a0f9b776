"""Build the companion book: run every chapter with papermill, then render the site.

``build_book`` does three things, in order (after an optional first step: with
``jobs > 1`` it trains every run the selected chapters read, ``jobs`` at a time, see
:mod:`lstmattn.book_runs`):

1. **Execute** each chapter notebook ``notebooks/NN_*.ipynb`` with papermill, injecting
   the chapter parameters (``profile``, ``data_root``, ``device``, ``epochs``,
   ``max_steps``, ``output_dir``, ``seed``) into its ``parameters`` cell. The executed
   copy goes to ``<out>/notebooks/NN_*.ipynb``. A chapter that raises keeps its
   executed notebook (with the traceback in it) there and stops the build with a
   :class:`ChapterFailed` naming the chapter and that path.
2. **Stage** the book sources: ``book/*`` (pages, ``_toc.yml``, ``references.bib``,
   ``_static/``) and the executed notebooks are copied into ``<out>/source/``, with the
   table of contents reduced to the chapters that were built.
3. **Vendor** MathJax 3 and the ipywidgets embedder from npm into
   ``<out>/source/_vendor/_static/vendor/`` (tarballs cached in ``<out>/.vendor-cache/``;
   ``html_extra_path`` in ``_config.yml`` merges the folder into the site's
   ``_static/vendor/``), then run ``jupyter-book build`` with execution off. The site is
   ``<out>/_build/html``.

Nothing here is imported by the model code; the chapters themselves only call
:class:`lstmattn.companion.Chapter` and the plotting helpers in :mod:`lstmattn.plots`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from lstmattn.errors import LstmattnError

__all__ = [
    "PROJECT_ROOT",
    "CHAPTER_PARAMETERS",
    "VENDORED_NPM_PACKAGES",
    "BookError",
    "ChapterFailed",
    "BookBuild",
    "find_chapters",
    "chapter_parameters",
    "run_chapter",
    "stage_sources",
    "vendor_assets",
    "build_site",
    "build_book",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: The parameters cell of every chapter, with its defaults (the ``quick`` profile).
CHAPTER_PARAMETERS: dict[str, Any] = {
    "profile": "quick",
    "data_root": None,
    "device": None,
    "epochs": None,
    "max_steps": None,
    "output_dir": "runs",
    "seed": 0,
}

#: npm packages copied into the site so that it needs no CDN: spec → (folder in the
#: tarball, folder under ``_static/vendor``, entries of that folder to keep or None for all).
VENDORED_NPM_PACKAGES: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "mathjax@3.2.2": (
        "package/es5",
        "mathjax",
        ("tex-chtml.js", "input", "output", "a11y", "ui", "adaptors", "sre"),
    ),
    "@jupyter-widgets/html-manager@1.0.15": ("package/dist", "html-manager", None),
}

_CHAPTER_NAME = re.compile(r"^(\d\d)_[A-Za-z0-9_\-]+\.ipynb$")


class BookError(LstmattnError):
    """The book could not be built (missing tool, bad table of contents, Sphinx failure)."""


class ChapterFailed(BookError):
    """A chapter notebook raised; ``notebook`` is the executed copy holding the error."""

    def __init__(self, number: int, source: Path, notebook: Path, reason: str) -> None:
        self.number, self.source, self.notebook, self.reason = number, source, notebook, reason
        super().__init__(
            f"chapter {number} ({source.name}) failed: {reason}\n"
            f"  the executed notebook with the error is kept at {notebook}"
        )


@dataclass
class BookBuild:
    """What ``build_book`` produced and how long each part took (seconds)."""

    out: Path
    html: Path | None
    executed: dict[int, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

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


def chapter_parameters(overrides: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """The papermill parameters: the defaults of :data:`CHAPTER_PARAMETERS` updated
    with ``overrides``/``kwargs``; ``None`` values in ``kwargs`` keep the default."""
    parameters = dict(CHAPTER_PARAMETERS)
    given = {**(overrides or {}), **{k: v for k, v in kwargs.items() if v is not None}}
    unknown = sorted(set(given) - set(parameters))
    if unknown:
        raise BookError(f"unknown chapter parameter(s) {unknown}; known: {sorted(parameters)}")
    parameters.update(given)
    return parameters


def run_chapter(
    number: int,
    *,
    parameters: Mapping[str, Any] | None = None,
    out: str | Path = "_build",
    notebooks_dir: str | Path | None = None,
    cwd: str | Path | None = None,
    kernel_name: str = "python3",
    log_output: bool = False,
) -> Path:
    """Execute chapter ``number`` with papermill; returns ``<out>/notebooks/<name>``.

    The notebook runs with ``cwd`` (default: the current directory) as its working
    directory, so ``output_dir="runs"`` shares runs with ``lstmattn train``. On an error
    the executed notebook is kept and :class:`ChapterFailed` is raised.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = _select(find_chapters(notebooks_dir), [number])[number]
    target = Path(out) / "notebooks" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    parameters = chapter_parameters(parameters)
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            cwd=str(cwd or Path.cwd()),
            kernel_name=kernel_name,
            progress_bar=False,
            log_output=log_output,
            report_mode=False,
        )
    except PapermillExecutionError as error:
        raise ChapterFailed(number, source, target, f"{error.ename}: {error.evalue}") from None
    except Exception as error:  # kernel death, bad notebook JSON, missing parameters cell ...
        if not target.exists():
            shutil.copyfile(source, target)
        raise ChapterFailed(number, source, target, f"{type(error).__name__}: {error}") from error
    return target


# ---------------------------------------------------------------------- staging
def _toc_entries(toc: Any) -> Iterable[dict[str, Any]]:
    if isinstance(toc, dict):
        if "file" in toc:
            yield toc
        for key in ("parts", "chapters", "sections"):
            for item in toc.get(key, []) or []:
                yield from _toc_entries(item)
    elif isinstance(toc, list):
        for item in toc:
            yield from _toc_entries(item)


def _prune_toc(toc: Any, keep: set[str]) -> Any:
    """Drop every ``notebooks/…`` entry of the TOC whose stem is not in ``keep``, and any
    part left without chapters."""
    children = ("parts", "chapters", "sections")
    if isinstance(toc, list):
        pruned = [_prune_toc(item, keep) for item in toc
                  if not (isinstance(item, dict) and _is_dropped(item.get("file"), keep))]
        return [item for item in pruned
                if not (isinstance(item, dict) and "file" not in item and not any(item.get(k) for k in children))]
    if isinstance(toc, dict):
        pruned = {key: _prune_toc(value, keep) if key in children else value for key, value in toc.items()}
        return {key: value for key, value in pruned.items() if not (key in children and value == [])}
    return toc


def _is_dropped(entry: str | None, keep: set[str]) -> bool:
    return bool(entry) and str(entry).startswith("notebooks/") and Path(str(entry)).stem not in keep


def stage_sources(
    executed: Mapping[int, Path],
    *,
    out: str | Path = "_build",
    book_dir: str | Path | None = None,
) -> Path:
    """Copy ``book/`` and the executed notebooks into ``<out>/source``; write the TOC
    reduced to the chapters in ``executed``. Returns the staged folder."""
    book_dir = Path(book_dir) if book_dir else PROJECT_ROOT / "book"
    toc_path = book_dir / "_toc.yml"
    if not toc_path.is_file():
        raise BookError(f"{toc_path}: table of contents not found")
    source = Path(out) / "source"
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(book_dir, source, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__"))
    (source / "notebooks").mkdir(exist_ok=True)
    for path in executed.values():
        _stage_notebook(path, source / "notebooks" / path.name)
    try:
        toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise BookError(f"{toc_path}: invalid YAML ({error})") from None
    toc = _prune_toc(toc, {p.stem for p in executed.values()})
    (source / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    missing = [e["file"] for e in _toc_entries(toc) if not _page_exists(source, e["file"])]
    if missing:
        raise BookError(f"{toc_path}: pages listed but not found in {book_dir}: {missing}")
    return source


#: Cells the site leaves out: the ``parameters`` cell and the one papermill injects after
#: it; every chapter prints the values that matter in its banner.
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters")


def _stage_notebook(executed: Path, target: Path) -> None:
    """Copy an executed chapter, tagging its parameter cells ``remove-cell``."""
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if any(tag in HIDDEN_CELL_TAGS for tag in tags) and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(notebook, target)


def _page_exists(source: Path, entry: str) -> bool:
    return any((source / f"{entry}{suffix}").is_file() for suffix in ("", ".md", ".ipynb", ".rst"))


# ----------------------------------------------------------------- vendoring
def _npm() -> str:
    npm = shutil.which("npm")
    if not npm:
        raise BookError("npm not found: it is needed once to vendor MathJax and the ipywidgets embedder "
                        "(install Node.js/npm, or copy a filled <out>/.vendor-cache from another machine)")
    return npm


def _tarball_name(spec: str) -> str:
    name, version = spec.rsplit("@", 1)
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def vendor_assets(static_dir: str | Path, *, cache_dir: str | Path) -> dict[str, Path]:
    """Fetch the :data:`VENDORED_NPM_PACKAGES` tarballs (``npm pack``, cached in
    ``cache_dir``) and unpack the needed files into ``<static_dir>/vendor/``."""
    cache, vendor = Path(cache_dir), Path(static_dir) / "vendor"
    cache.mkdir(parents=True, exist_ok=True)
    vendored: dict[str, Path] = {}
    for spec, (inner, target_name, keep) in VENDORED_NPM_PACKAGES.items():
        tarball = cache / _tarball_name(spec)
        if not tarball.is_file():
            result = subprocess.run([_npm(), "pack", spec, "--silent"], cwd=cache, capture_output=True, text=True)
            if result.returncode or not tarball.is_file():
                raise BookError(f"npm pack {spec} failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
        target = vendor / target_name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        prefix = inner.rstrip("/") + "/"
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                if not member.isfile() or not member.name.startswith(prefix):
                    continue
                relative = member.name[len(prefix):]
                if relative.endswith(".map") or (keep is not None and relative.split("/", 1)[0] not in keep):
                    continue
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as data, destination.open("wb") as handle:  # type: ignore[union-attr]
                    shutil.copyfileobj(data, handle)
        vendored[spec] = target
    return vendored


# ------------------------------------------------------------------ rendering
def _jupyter_book() -> list[str]:
    local = Path(sys.executable).with_name("jupyter-book")
    if local.is_file():
        return [str(local)]
    found = shutil.which("jupyter-book")
    if not found:
        raise BookError("jupyter-book not found: install the book extra (pip install -e '.[book]')")
    return [found]


def build_site(source: str | Path, *, out: str | Path = "_build", config: str | Path | None = None, quiet: bool = True) -> Path:
    """``jupyter-book build`` of the staged ``source`` (execution is off in the config);
    returns the HTML folder ``<out>/_build/html``."""
    source, out = Path(source).resolve(), Path(out).resolve()
    config = Path(config).resolve() if config else PROJECT_ROOT / "_config.yml"
    command = [*_jupyter_book(), "build", str(source), "--path-output", str(out),
               "--config", str(config), "--toc", str(source / "_toc.yml")]
    if quiet:
        command.append("-q")
    result = subprocess.run(command, capture_output=True, text=True)
    log = out / "jupyter-book.log"
    log.write_text(result.stdout + "\n--- stderr ---\n" + result.stderr, encoding="utf-8")
    html = out / "_build" / "html"
    if result.returncode or not (html / "index.html").is_file():
        tail = (result.stdout + result.stderr).strip()[-2000:]
        raise BookError(f"jupyter-book build failed (exit {result.returncode}); full log in {log}\n{tail}")
    return html


def build_book(
    *,
    profile: str = "quick",
    chapters: Sequence[int] | None = None,
    out: str | Path = "_build",
    parameters: Mapping[str, Any] | None = None,
    notebooks_dir: str | Path | None = None,
    book_dir: str | Path | None = None,
    config: str | Path | None = None,
    cwd: str | Path | None = None,
    site: bool = True,
    vendor_cache: str | Path | None = None,
    jobs: int = 1,
    echo: Any = print,
) -> BookBuild:
    """Run the chapters (all, or the numbers in ``chapters``) with papermill, then build
    the site. ``parameters`` override the chapter parameters (e.g. ``{"max_steps": 2}``);
    ``cwd`` is the chapters' working directory (default: the current one) and
    ``vendor_cache`` the npm tarball cache (default: ``<out>/.vendor-cache``).
    With ``jobs > 1`` every run the selected chapters read
    (:data:`lstmattn.book_runs.CHAPTER_RUNS`) is trained first, ``jobs`` at a time, and
    the notebooks then reuse the finished runs.

    Raises :class:`ChapterFailed` at the first failing chapter (its executed notebook
    is left in ``<out>/notebooks/``) and :class:`BookError` for any other failure.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    selected = _select(find_chapters(notebooks_dir), chapters)
    if not selected:
        raise BookError(f"no chapter notebooks (NN_name.ipynb) in {notebooks_dir or PROJECT_ROOT / 'notebooks'}")
    values = chapter_parameters(parameters, profile=profile)
    build = BookBuild(out=out, html=None)
    shown = ", ".join(f"{k}={v!r}" for k, v in values.items() if v != CHAPTER_PARAMETERS[k]) or "defaults"
    echo(f"lstmattn book: {len(selected)} chapter(s), parameters: {shown}")
    if jobs > 1:
        from lstmattn.book_runs import planned_runs, train_planned_runs
        from lstmattn.companion import Chapter

        start = time.perf_counter()
        try:
            train_planned_runs(Chapter(**values, progress=False), planned_runs(selected), jobs=jobs, cwd=cwd, echo=echo)
        finally:
            build.timings["training"] = time.perf_counter() - start
        echo(f"  training: done in {build.timings['training']:.0f} s")
    for number, path in selected.items():
        start = time.perf_counter()
        echo(f"  chapter {number}: running {path.name}")
        try:
            build.executed[number] = run_chapter(number, parameters=values, out=out, notebooks_dir=notebooks_dir, cwd=cwd)
        finally:
            build.timings[f"chapter {number}"] = time.perf_counter() - start
        echo(f"  chapter {number}: done in {build.timings[f'chapter {number}']:.0f} s -> {build.executed[number]}")
    if not site:
        return build
    start = time.perf_counter()
    source = stage_sources(build.executed, out=out, book_dir=book_dir)
    vendor_assets(source / "_vendor" / "_static", cache_dir=vendor_cache or out / ".vendor-cache")
    build.timings["vendor"] = time.perf_counter() - start
    start = time.perf_counter()
    build.html = build_site(source, out=out, config=config)
    build.timings["jupyter-book"] = time.perf_counter() - start
    echo(f"  site: {build.index}  ({build.timings['jupyter-book']:.0f} s)")
    return build
