"""The ``lstmattn`` command line: one entry point, one module per command group.

Exit status (README, "The command line"):

* **0**: done.
* **1**: the command ran, but some of its items failed: ``predict`` inputs that could
  not be read, ``data verify`` files that do not match, planned runs that failed to
  train, a chapter that raised. Also an unexpected internal error (one line; ``--debug``
  shows the traceback).
* **2**: a usage or input error, refused with one line before or instead of the work:
  bad arguments, a bad config or input file, a missing, busy or mismatched run, a path
  that cannot be read or written.
* **130**: interrupted (Ctrl-C, SIGINT).
* **143** and **129**: stopped by SIGTERM (``kill PID``) or SIGHUP (the terminal closed),
  128 + the signal's number as a shell reports it. Both take Ctrl-C's way out
  (:func:`_signals_as_interrupts`): training workers are stopped with the command, runs
  resume next time. A second such signal ends the process at once; its training workers
  end with it all the same (:mod:`lstmattn.engine.parallel`). A signal ignored when the
  command started (``nohup``) stays ignored.

No error prints a Python traceback unless ``--debug`` is given (anywhere on the line).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator, Sequence

from lstmattn import __version__
from lstmattn.errors import LstmattnError

__all__ = ["main", "console_main", "build_parser", "COMMAND_MODULES", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE",
           "EXIT_INTERRUPTED", "STOPPING_SIGNALS", "Terminated"]

#: Modules under ``lstmattn.commands`` that add sub-commands (``register(subparsers)``).
COMMAND_MODULES: tuple[str, ...] = (
    "lstmattn.commands.data",
    "lstmattn.commands.engine",
    "lstmattn.commands.predict",
    "lstmattn.commands.book",
    "lstmattn.commands.tables",
    "lstmattn.commands.store",
)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Signals that stop a command the way Ctrl-C does; it exits with 128 + their number.
STOPPING_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """A command stopped by one of :data:`STOPPING_SIGNALS`. A ``KeyboardInterrupt``, so
    that every cleanup written for Ctrl-C (stopping training workers, dropping the runs
    not started) runs for it too."""

    def __init__(self, number: int) -> None:
        self.signal = signal.Signals(number)
        super().__init__(self.signal.name)


def _raise_terminated(number: int, frame: FrameType | None) -> None:
    """Signal handler: raise :class:`Terminated` in the main thread; the signal's default
    action comes back first, so that a second one ends the process at once."""
    signal.signal(number, signal.SIG_DFL)
    raise Terminated(number)


@contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """While the command runs, SIGTERM and SIGHUP raise :class:`Terminated` (see the module
    docstring); the handlers before are restored after, as :func:`main` may run inside
    another program. A signal ignored on entry stays ignored; off the main thread, where
    Python sets no handlers, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in STOPPING_SIGNALS}
    for number, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(number, _raise_terminated)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


_DEBUG_HELP = "on an error, show the Python traceback"


def _add_debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """Accept ``--debug`` after any sub-command too (``lstmattn train ... --debug``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
                _add_debug_everywhere(subparser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lstmattn", description=__doc__.split("\n\n")[0],
                                     epilog="exit status: 0 ok, 1 some items failed (or an internal error), "
                                            "2 usage or input error, 130 interrupted (Ctrl-C), 143 or 129 stopped by "
                                            "SIGTERM or SIGHUP")
    parser.add_argument("--version", action="version", version=f"lstmattn {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    _add_debug_everywhere(parser)
    return parser


def _report(error: BaseException) -> tuple[str, int]:
    """The one stderr line and the exit status ``error`` gets without ``--debug``."""
    if isinstance(error, LstmattnError):
        return f"lstmattn: error: {error}", error.exit_status
    if isinstance(error, Terminated):
        return f"lstmattn: stopped by {error.signal.name}", 128 + error.signal
    if isinstance(error, KeyboardInterrupt):
        return "lstmattn: interrupted", EXIT_INTERRUPTED
    if isinstance(error, OSError):  # a path given cannot be read or written, a full disk ...
        return f"lstmattn: error: {error}", EXIT_USAGE
    first_line = next(iter(str(error).strip().splitlines()), "")
    return (f"lstmattn: internal error: {type(error).__name__}: {first_line} (run with --debug for the traceback)",
            EXIT_SOME_FAILED)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (see the module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        with _signals_as_interrupts():
            status = args.func(args)
    except (Exception, KeyboardInterrupt) as error:
        if args.debug:
            raise
        line, status = _report(error)
        print(line, file=sys.stderr)
    return int(status or EXIT_OK)


def console_main() -> None:
    """The ``lstmattn`` executable: :func:`main`, then the process exits with its status.

    Whatever is still alive then dies with the process, so it is first frozen out of the
    garbage collector's reach (``gc.freeze``): the collection at interpreter shutdown
    would otherwise walk every object of torch and torchvision, about 0.55 s of each
    command on the 2-core CPU (benchmarks/MEASUREMENTS.md, "lstmattn predict on a
    series"). Code that calls :func:`main` in-process keeps a normal collector."""
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    console_main()
