"""Chapter 5's ablation question, trained as the book trains it and answered as the chapter answers it.

    python benchmarks/ablations.py [--variants roi_order=confidence ...] [--jobs 1]
                                   [--output-dir runs] [--profile quick] [--seed 0] [--quiet]
                                   [--report-only]

Trains the default one-shot arm and each chosen ablation variant (default: all of
``lstmattn/variants.py``) under chapter 5's seeds — exactly the planned runs of
``CHAPTER_RUNS[5]`` that ``lstmattn book build`` trains, with the same identities, into the
same runs folder (``--output-dir``, the book's ``runs`` by default), so a book build
afterwards reuses them and a benchmark run reuses the book's. Finished runs are reused and
killed ones resumed, so an interrupted benchmark continues where it stopped. Runs start
seed by seed (every arm of the first seed, then the second…), so that an interrupted
benchmark leaves matched seed pairs behind. ``--jobs``: runs trained at once, the cores
shared out as torch threads (on a 2-core CPU without native bfloat16 one two-thread run
at a time gets through the steps faster than two one-thread runs; README, "Where a quick
training step goes").

Then prints chapter 5's own tables over the arms that have runs: the ablation table (one
row per run, Δ against the default of the same seed), the seed-noise summary (mean and
range per arm; an effect counts when the variant's range and the default's are
disjoint) and the effects beyond the seed noise, plus the default arm's segmentation
figures per seed (GGO and consolidation Dice, lesion mask AP@0.5). ``--report-only``
trains nothing and prints the tables over the runs there are (an arm without any
run is a row marked not run).

A script that reports numbers, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stability import run_metrics  # noqa: E402  (the benchmarks folder is not a package)

from lstmattn.book.parameters import ChapterParameters  # noqa: E402
from lstmattn.engine.parallel import train_experiments  # noqa: E402
from lstmattn.engine.plan import CHAPTER_RUNS, PlannedRun  # noqa: E402
from lstmattn.labels import ONE_SHOT  # noqa: E402
from lstmattn.tables import TableResult, ablation_table, effects_beyond_noise, seed_noise_summary  # noqa: E402
from lstmattn.variants import ABLATIONS, IDEAS  # noqa: E402


def _arm_runs(variants: list[str]) -> list[PlannedRun]:
    """Chapter 5's planned one-shot runs of the default arm and of ``variants``, seed by seed."""
    wanted = {None, *variants}
    runs = [p for p in CHAPTER_RUNS[5] if p.model_name == ONE_SHOT and p.variant in wanted]
    return sorted(runs, key=lambda p: p.seed_offset)


def _report(table: TableResult) -> None:
    """Print one ablation table, its seed-noise summary and the effects beyond the noise."""
    columns = [c for c in table.frame.columns
               if c in ("row", "seed", "status") or c.endswith("ours") or c.startswith("Δ")]
    print(f"\n{table.title}")
    print(table.frame[columns].round(3).to_markdown(index=False))
    summary = seed_noise_summary(table)
    print()
    print(summary.T.to_markdown())
    exceeding = effects_beyond_noise(summary)
    print("\neffects beyond the seed noise:", ", ".join(exceeding) if exceeding else "none")


def main(argv: list[str] | None = None) -> None:
    names = [a.variant for a in (*ABLATIONS, *IDEAS)]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=names, default=names, help="ablation arms (default: all)")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0, help="the chapter's seed; the arms train under it and the next ones")
    parser.add_argument("--output-dir", default="runs", help="the runs folder (the book's: runs)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    parser.add_argument("--quiet", action="store_true", help="a line per finished run instead of the progress bar")
    parser.add_argument("--report-only", action="store_true", help="train nothing: print the tables over the runs there are")
    args = parser.parse_args(argv)

    parameters = ChapterParameters(profile=args.profile, seed=args.seed, output_dir=args.output_dir)
    base = parameters.resolve()
    experiments = [parameters.plan(base, planned) for planned in _arm_runs(args.variants)]
    if not args.report_only:
        train_experiments(experiments, root=args.output_dir, jobs=args.jobs, progress=not args.quiet)

    root = Path(args.output_dir)
    seeds = sorted({e.config.train.seed for e in experiments})
    for family in (ABLATIONS, IDEAS):  # paper vs code, then the paper's ideas taken out: a table each
        arms = [a for a in family if a.variant in args.variants]
        if arms:
            _report(ablation_table(root, base.profile, arms, seed=seeds))

    defaults = [e for e in experiments if e.variant is None and e.is_evaluated(root)]
    rows = [{"seed": e.config.train.seed, **run_metrics(e.folder(root).path)} for e in defaults]
    if rows:
        frame = pd.DataFrame(rows)
        print("\nthe default arm's runs:")
        print(frame.round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
