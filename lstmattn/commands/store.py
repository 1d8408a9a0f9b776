"""``lstmattn store add|list|check|compare``: the committed result store (``store/``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lstmattn.errors import LstmattnError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    store = subparsers.add_parser("store", help="the result store: runs trained once, kept in git (store/)")
    store_sub = store.add_subparsers(dest="store_command", required=True)

    add = store_sub.add_parser("add", help="add evaluated runs to the store (refuses smoke, unfinished and "
                                           "dirty-tree runs)")
    add.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run folders (runs/<run-id>)")
    add.add_argument("--with-weights", action="store_true",
                     help="keep the evaluated checkpoint's weights in half precision (for chapters that draw "
                          "figures from a model they do not retrain)")
    add.add_argument("--replace", action="store_true", help="overwrite an entry with the same key")
    add.set_defaults(func=_add)

    listing = store_sub.add_parser("list", help="one line per stored run: key, run, how and when it was trained, "
                                                "and the training modules changed since")
    listing.set_defaults(func=_list)

    check = store_sub.add_parser("check", help="the canary: re-run the first training steps of stored runs with "
                                               "today's code and compare the losses")
    check.add_argument("entries", nargs="*", metavar="ENTRY", help="entry folder names (default: every entry)")
    check.add_argument("--real-data", type=Path, metavar="DIR",
                       help="the real-data folder, for entries trained on real CT (default: $LSTMATTN_SAMPLE_DATA "
                            "or ../shared/data)")
    check.add_argument("--record", action="store_true",
                       help="write each passing result into its entry, so builds trust today's code without a canary")
    check.set_defaults(func=_check)

    compare = store_sub.add_parser("compare", help="local runs beside their stored twins, metric by metric, "
                                                   "against the stored seed spread")
    compare.add_argument("runs_dir", type=Path, nargs="?", default=Path("runs"), metavar="RUNS_DIR",
                         help="a runs folder (default: runs)")
    compare.set_defaults(func=_compare)


def _add(args: argparse.Namespace) -> int:
    from lstmattn.store.entries import StoreError, add_run

    failures = 0
    for run in args.runs:
        try:
            entry = add_run(run, with_weights=args.with_weights, replace=args.replace)
        except StoreError as error:
            if len(args.runs) == 1:
                raise
            print(f"lstmattn: failed: {error}", file=sys.stderr)
            failures += 1
            continue
        size = sum(p.stat().st_size for p in entry.path.rglob("*") if p.is_file())
        print(f"stored {entry.path.name} ({size / 1e6:.2f} MB; {entry.describe()})")
    if failures == len(args.runs):
        raise LstmattnError(f"none of the {len(args.runs)} run(s) was added")
    return 1 if failures else 0


def _list(args: argparse.Namespace) -> int:
    from lstmattn.store.entries import entries, store_root
    from lstmattn.store.fingerprint import changed_modules, current_fingerprint

    today = current_fingerprint()
    found = list(entries())
    for entry in found:
        changed = changed_modules(entry.fingerprint, today)
        print(f"{entry.path.name}  {entry.describe()}; "
              + (f"{len(changed)} training module(s) changed since: {', '.join(changed)}" if changed
                 else "training modules unchanged"))
    print(f"{len(found)} stored run(s) in {store_root()}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from lstmattn.config import real_data_folder
    from lstmattn.store.canary import canary_config, run_canary
    from lstmattn.store.entries import entries, record_verification

    selected = [e for e in entries() if not args.entries or e.path.name in args.entries]
    unknown = sorted(set(args.entries) - {e.path.name for e in selected})
    if unknown:
        raise LstmattnError(f"no store entry named {', '.join(unknown)} (see `lstmattn store list`)")
    real_data = args.real_data or real_data_folder()
    failed = 0
    for entry in selected:
        try:
            result = run_canary(entry, canary_config(entry, real_data))
        except (LstmattnError, ValueError) as error:
            print(f"FAIL  {entry.path.name}: the canary could not run ({error})")
            failed += 1
            continue
        verdict = "ok  " if result.passed else "FAIL"
        print(f"{verdict}  {entry.path.name}: largest relative loss difference {result.max_relative_difference:.2e} "
              f"(tolerance {result.tolerance:.0e}; {result.canary_precision} here, {result.stored_precision} stored; "
              f"{result.seconds:.0f} s){'' if result.passed else ': ' + result.detail}")
        failed += not result.passed
        if args.record and result.passed:
            record_verification(entry, result.as_record())
    print(f"{len(selected) - failed} of {len(selected)} stored run(s) reproduce their first training losses")
    return 1 if failed else 0


def _compare(args: argparse.Namespace) -> int:
    from lstmattn.book.provenance import compare_with_store

    if not args.runs_dir.is_dir():
        raise LstmattnError(f"{args.runs_dir}: no such runs folder")
    table = compare_with_store(args.runs_dir)
    if table.empty:
        print(f"no evaluated run trained in {args.runs_dir}")
        return 0
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep=""))
    outside = table[table["verdict"] == "outside the seed noise"]
    print(f"{table['run'].nunique()} run(s); {len(outside)} metric(s) outside the seed noise")
    return 1 if len(outside) else 0
