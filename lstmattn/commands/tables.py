"""``lstmattn tables``: the paper's Tables 1-4 and the ablation table from run result files.

Writes, for each table, ``OUT/<name>.csv`` (numbers: paper, ours, interval, Δ and the run
columns) and ``OUT/<name>.md`` (the banner on the first line, then the formatted table
and its notes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lstmattn.config import PROFILES

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tables", help="build Tables 1-4 and the ablation table from run results (CSV + Markdown)")
    parser.add_argument("--runs", type=Path, help="runs folder (default: $LSTMATTN_RUNS or ./runs)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--seed", type=int, help="only runs of this seed (default: every seed, one row per run)")
    parser.add_argument("--out", type=Path, help="output folder (default: RUNS/tables)")
    parser.set_defaults(func=_tables)


def _tables(args: argparse.Namespace) -> int:
    from lstmattn.engine.runs import runs_root
    from lstmattn.errors import LstmattnError
    from lstmattn.tables import all_tables, write_table

    root = args.runs or runs_root()
    if not root.is_dir():
        raise LstmattnError(f"{root}: no such runs folder")
    out = args.out or root / "tables"
    for name, result in all_tables(root, args.profile, seed=args.seed).items():
        paths = write_table(result, out, name)
        evaluated = int((result.frame["status"].isin(["evaluated", "default", "variant"])).sum())
        print(f"{paths['markdown']} (+ .csv): {evaluated} evaluated row(s) of {len(result.frame)}")
    print(result.banner)
    return 0
