"""Are the quick profile's results learned and stable? Trains, evaluates, prints a table.

    python benchmarks/stability.py [--profile quick] [--seeds 0 1 2] [--threads 1 2]
                                   [--classifiers] [--runs DIR] [--jobs 2]

Trains the one-shot model once per seed × torch thread count (``OMP_NUM_THREADS``; a
different thread count changes the floating-point summation order, so it is a second
source of run-to-run noise besides the seed) with ``lstmattn train`` and ``lstmattn
evaluate`` in a scratch runs folder (``--runs``, default ``runs/_stability``; finished
runs are reused, so an interrupted benchmark resumes), then prints per run: test F1,
COVID-19 sensitivity, the segmentation branch's Dice for GGO and consolidation (data set
level) and lesion mask AP@0.5 (per image, Table 1's reading, and data-set level), and the
training time; then min, max, mean and spread (max − min) of each column. The targets of
the book's quick profile (issue 14) are printed beside them.

``--classifiers`` also trains the seven Table 2 classifiers (first seed, first thread
count), largest first so that the longest run does not start last, and prints their F1.

A script that reports numbers, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from lstmattn.config import get_profile
from lstmattn.engine.experiment import Experiment
from lstmattn.engine.parallel import expected_cost
from lstmattn.engine.plan import CLASSIFIER_RUNS
from lstmattn.labels import ONE_SHOT
from lstmattn.results import read_run

TARGETS = {"F1 %": ">= 95", "COVID-19 sens. %": ">= 90", "GGO Dice": ">= 0.6", "cons. Dice": ">= 0.7",
           "lesion AP@0.5 per image": ">= 0.5", "lesion AP@0.5 data set": ">= 0.5"}


def _train_and_evaluate(profile: str, model: str, seed: int, threads: int, runs: Path) -> Path:
    """``runs/<id>`` trained and evaluated (reused when its test metrics exist); returns it."""
    run_id = f"{profile}-{model}-s{seed}-t{threads}"
    folder = runs / run_id
    if (folder / "results" / "test_metrics.json").is_file():
        return folder
    env = {**os.environ, "LSTMATTN_RUNS": str(runs), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cli = [sys.executable, "-m", "lstmattn.cli"]
    resume = ["--resume"] if (folder / "checkpoints" / "last.pt").is_file() else []
    started = time.perf_counter()
    with (runs / f"{run_id}.log").open("w") as log:
        subprocess.run([*cli, "train", "--profile", profile, "--model", model, "--seed", str(seed), "--run-id", run_id,
                        "--no-progress", *resume], env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
        (folder / "train_seconds.json").write_text(json.dumps(time.perf_counter() - started))
        subprocess.run([*cli, "evaluate", str(folder), "--no-progress"], env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
    print(f"  done: {run_id} ({time.perf_counter() - started:.0f} s)", flush=True)
    return folder


def _largest_first(profile: str, models: tuple[str, ...]) -> list[str]:
    """``models`` in the order the book's up-front trainer starts them: largest first."""
    def cost(name: str) -> float:
        return expected_cost(Experiment(dataclasses.replace(get_profile(profile), model_name=name)))

    return sorted(models, key=cost, reverse=True)


def run_metrics(folder: Path) -> dict[str, float]:
    """The headline figures of an evaluated run: test F1 and COVID-19 sensitivity, and GGO /
    consolidation Dice and lesion mask AP@0.5 when it has segmentation results."""
    results = read_run(folder)
    test = results.classification["test"]
    covid = test.sensitivity("COVID-19")
    row = {"F1 %": 100 * test.metric("f1").estimate,
           "COVID-19 sens. %": 100 * covid.estimate if covid else float("nan")}
    segmentation = results.segmentation
    if segmentation is not None:
        dice = segmentation.dice.get("dataset", {})
        row.update({"GGO Dice": dice.get("GGO", float("nan")), "cons. Dice": dice.get("consolidation", float("nan")),
                    "lesion AP@0.5 per image": segmentation.ap_of("per_image/lesions")["AP@0.5"],
                    "lesion AP@0.5 data set": segmentation.ap_of("dataset/lesions")["AP@0.5"]})
    return row


def _row(folder: Path, seed: int, threads: int) -> dict[str, float]:
    """One table row: seed, threads, :func:`run_metrics` and the training time (``nan``
    unless this script trained the run)."""
    seconds = folder / "train_seconds.json"
    return {"seed": seed, "threads": threads, **run_metrics(folder),
            "train s": json.loads(seconds.read_text()) if seconds.is_file() else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--classifiers", action="store_true", help="also train the seven Table 2 classifiers")
    parser.add_argument("--runs", type=Path, default=Path("runs/_stability"))
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once (each with its own thread count)")
    args = parser.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)

    grid = [(seed, threads) for seed in args.seeds for threads in args.threads]
    print(f"training {len(grid)} one-shot run(s) of profile {args.profile} into {args.runs}", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        folders = list(pool.map(lambda key: _train_and_evaluate(args.profile, ONE_SHOT, *key, args.runs), grid))
    table = pd.DataFrame([_row(folder, seed, threads) for folder, (seed, threads) in zip(folders, grid)])
    numbers = table.drop(columns=["seed", "threads"])
    summary = pd.DataFrame({"min": numbers.min(), "max": numbers.max(), "mean": numbers.mean(),
                            "spread": numbers.max() - numbers.min(), "target": pd.Series(TARGETS)})
    print(f"\none-shot model, profile {args.profile}, phantom test split")
    print(table.to_markdown(index=False, floatfmt=".3g"))
    print()
    print(summary.to_markdown(floatfmt=".3g"))

    if args.classifiers:
        seed, threads = args.seeds[0], args.threads[0]
        order = _largest_first(args.profile, CLASSIFIER_RUNS)
        with ThreadPoolExecutor(args.jobs) as pool:
            trained = dict(zip(order, pool.map(lambda name: _train_and_evaluate(args.profile, name, seed, threads, args.runs), order)))
        rows = [{"classifier": name, **_row(trained[name], seed, threads)} for name in CLASSIFIER_RUNS]
        print(f"\nTable 2 classifiers (seed {seed}, {threads} thread(s)); target F1 >= 90 %")
        print(pd.DataFrame(rows)[["classifier", "F1 %", "COVID-19 sens. %", "train s"]].to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
