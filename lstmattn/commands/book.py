"""``lstmattn book build`` and ``lstmattn chapter N``: the companion book."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmattn.config import PROFILES
from lstmattn.errors import LstmattnError

if TYPE_CHECKING:
    from lstmattn.book.build import StoreOptions
    from lstmattn.book.parameters import ChapterParameters

__all__ = ["register", "parse_parameter"]


def _add_chapter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="quick", type=_profile,
                        help=f"one of {sorted(PROFILES)} or a YAML config file (e.g. the paper profile on real data)")
    parser.add_argument("--max-steps", type=int, help="cap training steps of every run the chapters train (tiny test builds)")
    parser.add_argument("--epochs", type=int, help="override the profile's epochs")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    parser.add_argument("--data-root", help="data folder (phantom cache or real data root)")
    parser.add_argument("--output-dir", help="runs folder the chapters train into and reuse (default: runs)")
    parser.add_argument("--real-data", metavar="DIR",
                        help="real-data folder of chapter 7 (sarscov2-ct/, medseg-semiseg/train/; see `lstmattn data "
                             "verify`); without it chapter 7 says what data it needs")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a chapter parameter, papermill style (VALUE is parsed as YAML: 2, null, cpu)")


def _profile(value: str) -> str:
    """The ``--profile`` value, checked by resolving it (the build resolves it once more,
    into the config file every chapter reads)."""
    from lstmattn.engine.experiment import resolve_experiment

    try:
        resolve_experiment(value)
    except LstmattnError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    book = subparsers.add_parser("book", help="the companion book (jupyter-book site)")
    book_sub = book.add_subparsers(dest="book_command", required=True)
    build = book_sub.add_parser("build", help="run the chapters with papermill, then build the offline site")
    _add_chapter_options(build)
    build.add_argument("--chapters", type=int, nargs="+", metavar="N", help="only these chapters (default: all)")
    build.add_argument("--out", type=Path, default=Path("_build"), help="build folder (default: _build)")
    build.add_argument("--no-site", action="store_true", help="only execute the chapters")
    build.add_argument("--quiet", action="store_true",
                       help="no progress bar during up-front training, only a line per finished run (CI logs)")
    build.add_argument("--jobs", type=int, default=None,
                       help="train the chapters' runs first, this many at a time (default: one worker per CPU "
                            "core, at most 4, the cores shared out as torch threads; 1 on a GPU); 1 trains "
                            "inside the notebooks")
    build.add_argument("--store", choices=("auto", "use", "retrain", "off"), default="auto",
                       help="the result store (store/): 'use' reads its fresh runs and trains the live sample and "
                            "what it lacks; 'retrain' trains every run here and only compares (make reproduce); "
                            "'off' ignores it; 'auto' (default): 'retrain' on a GPU, else 'use'")
    build.add_argument("--store-miss", choices=("train", "error"), default="train",
                       help="a run the store lacks or holds stale: train it (default) or fail (CI)")
    build.add_argument("--canary", choices=("changed", "all"), default="changed",
                       help="re-run the first training steps of the stored runs whose training modules changed "
                            "(default), or of every stored run (CI)")
    build.add_argument("--allow-stale", action="store_true",
                       help="show stale store entries, marked STALE, instead of retraining them")
    build.set_defaults(func=_book_build)

    chapter = subparsers.add_parser("chapter", help="execute one chapter notebook with papermill")
    chapter.add_argument("number", type=int, help="chapter number (the NN of notebooks/NN_*.ipynb)")
    _add_chapter_options(chapter)
    chapter.add_argument("--out", type=Path, default=Path("_build"), help="the executed copy goes to OUT/notebooks/")
    chapter.set_defaults(func=_chapter)


def parse_parameter(name: str, value: str) -> tuple[str, Any]:
    """``-p name value``: the value is read as YAML (``2`` → int, ``null`` → None)."""
    import yaml

    try:
        return name, yaml.safe_load(value)
    except yaml.YAMLError:
        return name, value


def _parameters(args: argparse.Namespace) -> "ChapterParameters":
    """The chapter parameters the options and ``-p NAME VALUE`` pairs give."""
    from lstmattn.book.parameters import ChapterParameters

    values: dict[str, Any] = {"profile": args.profile}
    for option in ("max_steps", "epochs", "seed", "device", "data_root", "output_dir", "real_data"):
        if getattr(args, option) is not None:
            values[option] = getattr(args, option)
    if "real_data" in values:  # the chapters and the training workers may run elsewhere
        values["real_data"] = str(Path(values["real_data"]).resolve())
    values.update(parse_parameter(name, value) for name, value in args.parameter)
    return ChapterParameters.from_mapping(values)


def _store_options(args: argparse.Namespace) -> "StoreOptions | None":
    """The ``--store`` options; ``auto`` retrains everything where CUDA is present."""
    from lstmattn.book.build import StoreOptions

    if args.store == "off":
        return None
    mode = args.store
    if mode == "auto":
        import torch

        mode = "retrain" if torch.cuda.is_available() else "use"
    return StoreOptions(mode=mode, on_miss=args.store_miss, canary=args.canary, allow_stale=args.allow_stale)


def _book_build(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lstmattn.book.build import build_book
    from lstmattn.engine.parallel import default_jobs

    start = time.perf_counter()
    jobs = args.jobs if args.jobs is not None else default_jobs()
    parameters, store = _parameters(args), _store_options(args)
    if store is not None and store.mode == "use" and args.output_dir is None:
        parameters = replace(parameters, output_dir=str(args.out / "runs"))  # store copies stay out of runs/
    build = build_book(parameters=parameters, chapters=args.chapters, out=args.out, site=not args.no_site,
                       jobs=jobs, progress=not args.quiet, store=store)
    print(f"book built in {time.perf_counter() - start:.0f} s"
          + (f"; open {build.index}" if build.index else f"; executed notebooks in {args.out / 'notebooks'}"))
    return 0


def _chapter(args: argparse.Namespace) -> int:
    from lstmattn.book.build import find_chapters, pin_config, run_chapter

    chapters = find_chapters()
    if args.number not in chapters:
        known = ", ".join(f"{n} ({p.name})" for n, p in sorted(chapters.items())) or "none"
        raise LstmattnError(f"unknown chapter {args.number}; the chapters are: {known}")
    start = time.perf_counter()
    target = run_chapter(args.number, parameters=pin_config(_parameters(args), args.out), out=args.out)
    print(f"chapter {args.number} executed in {time.perf_counter() - start:.0f} s: {target}")
    return 0
