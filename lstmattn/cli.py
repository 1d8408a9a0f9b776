"""The ``lstmattn`` command line: one entry point, one module per command group."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from lstmattn import __version__
from lstmattn.errors import LstmattnError

__all__ = ["main", "COMMAND_MODULES"]

#: Modules under ``lstmattn.commands`` that add sub-commands (``register(subparsers)``).
COMMAND_MODULES: tuple[str, ...] = (
    "lstmattn.commands.data",
    "lstmattn.commands.engine",
    "lstmattn.commands.predict",
    "lstmattn.commands.book",
    "lstmattn.commands.tables",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lstmattn", description=__doc__)
    parser.add_argument("--version", action="version", version=f"lstmattn {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (2 for a reported error)."""
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except LstmattnError as error:
        print(f"lstmattn: error: {error}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
