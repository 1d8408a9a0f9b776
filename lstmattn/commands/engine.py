"""``lstmattn train``, ``lstmattn evaluate`` and ``lstmattn runs list``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lstmattn.config import PROFILES
from lstmattn.errors import LstmattnError

__all__ = ["register"]

_PROFILE_HELP = "base profile (default: the --config file's profile, else quick)"


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train the one-shot model (§4.1)")
    train.add_argument("--profile", choices=sorted(PROFILES), help=_PROFILE_HELP)
    train.add_argument("--config", type=Path, help="YAML file overriding the profile")
    train.add_argument("--run-id", help="run folder name under runs/ (default: <profile>-<model>-s<seed>)")
    train.add_argument("--model", help="registered model name (default: the one-shot LSTM-attention model)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--max-steps", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--data-root", help="data folder (phantom cache or real data root)")
    train.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    train.add_argument("--resume", action="store_true", help="continue the run from checkpoints/last.pt")
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(func=_train)

    evaluate = subparsers.add_parser("evaluate", help="write result files for a trained run")
    evaluate.add_argument("run", type=Path, help="run folder (runs/<run-id>) or a checkpoint inside one")
    evaluate.add_argument("--checkpoint", choices=["last", "best"],
                          help="last, or best validation F1 (default: the run config's train.evaluate_checkpoint, last)")
    evaluate.add_argument("--device")
    evaluate.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    evaluate.add_argument("--data", type=Path, metavar="FOLDER",
                          help="score the run on this labelled folder instead of its own test splits: class folders "
                               "(e.g. COVID/ and non-COVID/), a COVIDx list beside images/, or MedSeg Imgs/ + GT/")
    evaluate.add_argument("--split", help="split name of the --data result files (default: from the folder's name)")
    evaluate.add_argument("--out", type=Path, help="where the --data result files go (default: the run's results/)")
    evaluate.add_argument("--crop", choices=["auto", "body", "none"], default="auto",
                          help="--data classification slices: crop around the lungs (or body) before resizing, as "
                               "lstmattn predict --crop does (default auto: when the run trained on cropped slices)")
    evaluate.add_argument("--feature-reference", action="store_true",
                          help="only fit the out-of-distribution reference of lstmattn predict "
                               "(results/feature_reference.npz), e.g. for a run evaluated before it existed")
    evaluate.add_argument("--no-progress", action="store_true")
    evaluate.set_defaults(func=_evaluate)

    run_all = subparsers.add_parser("run-all", help="train (or reuse) and evaluate the one-shot model end to end")
    run_all.add_argument("--profile", choices=sorted(PROFILES), help=_PROFILE_HELP)
    run_all.add_argument("--config", type=Path, help="YAML file overriding the profile")
    run_all.add_argument("--device")
    run_all.add_argument("--no-progress", action="store_true")
    run_all.set_defaults(func=_run_all)

    runs = subparsers.add_parser("runs", help="list runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    runs_list = runs_sub.add_parser("list", help="one line per run under runs/")
    runs_list.add_argument("--root", type=Path)
    runs_list.set_defaults(func=_runs_list)


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lstmattn.engine.experiment import Experiment, resolve_experiment, with_training
    from lstmattn.engine.runs import RunDirectory, runs_root
    from lstmattn.engine.trainer import train

    config = with_training(resolve_experiment(args.profile, config_file=args.config), epochs=args.epochs,
                           max_steps=args.max_steps, seed=args.seed, data_root=args.data_root)
    if args.model:
        config = replace(config, model_name=args.model)
    run = RunDirectory(runs_root() / args.run_id) if args.run_id else Experiment(config).folder()
    state = train(config, run, resume=args.resume, device=args.device, progress=not args.no_progress)
    print(f"trained {run.path}: {state.step} steps, best validation F1 {state.best_metric:.4f}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from lstmattn.engine.results import evaluate_run
    from lstmattn.engine.runs import RunDirectory

    path = args.run.parent.parent if args.run.suffix == ".pt" else args.run
    checkpoint = args.run.stem if args.run.suffix == ".pt" else args.checkpoint
    if not path.is_dir():
        raise LstmattnError(f"{args.run}: no such run folder or checkpoint")
    if args.data is None and (args.split or args.out or args.crop != "auto"):
        raise LstmattnError("--split, --out and --crop go with --data FOLDER")
    if args.feature_reference and args.data is not None:
        raise LstmattnError("--feature-reference fits the run's own reference; it does not go with --data")
    if args.feature_reference:
        from lstmattn.engine.feature_reference import write_feature_reference

        run = RunDirectory(path)
        with run.lock():
            written = {"feature_reference": write_feature_reference(run, checkpoint=checkpoint, device=args.device,
                                                                    progress=not args.no_progress)}
    elif args.data is not None:
        from lstmattn.engine.folder_evaluation import evaluate_folder

        written = evaluate_folder(RunDirectory(path), args.data, checkpoint=checkpoint, split=args.split, out=args.out,
                                  device=args.device, n_resamples=args.bootstrap, progress=not args.no_progress,
                                  crop=args.crop)
    else:
        run = RunDirectory(path)
        with run.lock():  # not while another process trains or evaluates it
            written = evaluate_run(run, checkpoint=checkpoint, device=args.device, n_resamples=args.bootstrap,
                                   progress=not args.no_progress)
    for name, file in written.items():
        print(f"{name}: {file}")
    return 0


def _run_all(args: argparse.Namespace) -> int:
    """Train once per profile (a finished run is reused, a killed one resumed), then
    evaluate and print the headline numbers with the data they came from."""
    from lstmattn.engine.experiment import Experiment, ensure_run, resolve_experiment
    from lstmattn.results import read_run

    experiment = Experiment(resolve_experiment(args.profile, config_file=args.config))
    run = ensure_run(experiment, device=args.device, progress=not args.no_progress)
    results = read_run(run.path)
    if results is None:
        raise LstmattnError(f"{run.path}: evaluation wrote no result files")
    print(f"\n{run.run_id} — data: {results.identity.data}")
    if results.identity.is_phantom:
        print("  (synthetic phantoms: these numbers are NOT a reproduction of the paper)")
    test = results.classification.get("test")
    for name in ("sensitivity/COVID-19", "sensitivity/CP", "sensitivity/Normal", "f1", "accuracy"):
        if test is not None and name in test.metrics:
            value = test.metrics[name]
            print(f"  {name:<22} {100 * value.estimate:6.2f} %  (95% CI {100 * value.low:.2f}-{100 * value.high:.2f})")
    for name, values in (results.segmentation.ap if results.segmentation else {}).items():
        print(f"  mask AP {name:<24} " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
    return 0


def _runs_list(args: argparse.Namespace) -> int:
    """One line per run; a run whose record cannot be read gets a warning line on stderr."""
    import warnings

    from lstmattn.engine.runs import list_runs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = list_runs(args.root)
    for warning in caught:
        print(f"lstmattn: warning: {warning.message}", file=sys.stderr)
    if not rows:
        print("no runs")
        return 0
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns))
    return 0
