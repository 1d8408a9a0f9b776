"""The book's site: stage the sources, vendor the web assets, render with jupyter-book.

1. **Stage** the book sources: ``book/*`` (pages, ``_toc.yml``, ``references.bib``,
   ``_static/``) and the executed notebooks are copied into ``<out>/source/``, with the
   table of contents reduced to the chapters that were built. The build then fills the
   staged Results page (:mod:`lstmattn.book.results_page`), or removes it with
   :func:`drop_pages` when no chapter wrote a table.
2. **Vendor** MathJax 3 and the ipywidgets embedder from npm into
   ``<out>/source/_vendor/_static/vendor/`` (tarballs cached in ``<out>/.vendor-cache/``;
   ``html_extra_path`` in ``_config.yml`` merges the folder into the site's
   ``_static/vendor/``), so the site needs no CDN.
3. **Render**: ``jupyter-book build`` with execution off; the site is ``<out>/_build/html``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from lstmattn.errors import LstmattnError

__all__ = [
    "PROJECT_ROOT",
    "VENDORED_NPM_PACKAGES",
    "HIDDEN_CELL_TAGS",
    "BookError",
    "stage_sources",
    "drop_pages",
    "vendor_assets",
    "build_site",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]

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


class BookError(LstmattnError):
    """The book could not be built (missing tool, bad table of contents, Sphinx failure)."""


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


def _prune_toc(toc: Any, keep: set[str], drop: frozenset[str] | set[str] = frozenset()) -> Any:
    """Drop every ``notebooks/…`` entry of the TOC whose stem is not in ``keep``, every
    entry whose file is in ``drop``, and any part left without chapters."""
    children = ("parts", "chapters", "sections")
    if isinstance(toc, list):
        pruned = [_prune_toc(item, keep, drop) for item in toc
                  if not (isinstance(item, dict) and _is_dropped(item.get("file"), keep, drop))]
        return [item for item in pruned
                if not (isinstance(item, dict) and "file" not in item and not any(item.get(k) for k in children))]
    if isinstance(toc, dict):
        pruned = {key: _prune_toc(value, keep, drop) if key in children else value for key, value in toc.items()}
        return {key: value for key, value in pruned.items() if not (key in children and value == [])}
    return toc


def _is_dropped(entry: str | None, keep: set[str], drop: frozenset[str] | set[str] = frozenset()) -> bool:
    if not entry:
        return False
    if str(entry) in drop:
        return True
    return str(entry).startswith("notebooks/") and Path(str(entry)).stem not in keep


def drop_pages(source: str | Path, pages: Iterable[str]) -> None:
    """Remove ``pages`` (TOC entries such as ``"results"``) from the staged ``source``: from
    its ``_toc.yml`` (a part left empty goes too) and its files."""
    source, pages = Path(source), set(pages)
    toc_path = source / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    chapters = {Path(e["file"]).stem for e in _toc_entries(toc) if str(e["file"]).startswith("notebooks/")}
    toc_path.write_text(yaml.safe_dump(_prune_toc(toc, chapters, pages), sort_keys=False), encoding="utf-8")
    for page in pages:
        for suffix in ("", ".md", ".ipynb", ".rst"):
            path = source / f"{page}{suffix}"
            if path.is_file():
                path.unlink()


#: The line of ``book/intro.md`` that the build replaces with its build summary.
BUILD_SUMMARY_MARKER = "<!-- build-summary -->"

#: The files of a run folder offered for download (no checkpoints).
_RUN_FILES = ("config.yaml", "record.json", "log.jsonl", "results")


def stage_sources(
    executed: Mapping[int, Path],
    *,
    out: str | Path = "_build",
    book_dir: str | Path | None = None,
    build_summary: str | None = None,
    run_folders: Iterable[Path] = (),
) -> Path:
    """Copy ``book/`` and the executed notebooks into ``<out>/source``; write the TOC
    reduced to the chapters in ``executed``. Returns the staged folder.

    ``build_summary`` replaces :data:`BUILD_SUMMARY_MARKER` in ``intro.md`` (the landing
    page says how the book was built); each of ``run_folders`` becomes a download,
    ``_static/runs/<run-id>.zip``, of its config, record, log and result files."""
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
    intro = source / "intro.md"
    if build_summary is not None and intro.is_file():
        intro.write_text(intro.read_text(encoding="utf-8").replace(BUILD_SUMMARY_MARKER, build_summary), encoding="utf-8")
    for folder in run_folders:
        _zip_run(Path(folder), source / "_static" / "runs" / f"{Path(folder).name}.zip")
    return source


def _zip_run(folder: Path, target: Path) -> None:
    """``target``: a zip of the run folder's :data:`_RUN_FILES` (what its numbers came from)."""
    import zipfile

    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in _RUN_FILES:
            path = folder / name
            for file in sorted(path.rglob("*")) if path.is_dir() else [path] if path.is_file() else []:
                if file.is_file():
                    archive.write(file, f"{folder.name}/{file.relative_to(folder).as_posix()}")


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
