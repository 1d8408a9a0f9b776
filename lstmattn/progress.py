"""Progress that reads well on a terminal and in a log.

On a terminal (the stream's ``isatty()``) :func:`progress_bar` returns the tqdm bar
(``tqdm.auto``): count, elapsed time and ETA, redrawn in place. Anywhere else (a log
file, a pipe, CI) such a bar writes every frame it draws, carriage returns and all, so
there it returns a :class:`LineProgress`: one newline-terminated line each time another
:data:`LINE_EVERY_PERCENT` per cent is done and one when the loop ends, each with the
description, the count done / total, the elapsed time and (while running) the ETA.
``LSTMATTN_PROGRESS=bar`` or ``LSTMATTN_PROGRESS=lines`` chooses one whatever the stream.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import Any, TextIO

from tqdm import tqdm as tqdm_std
from tqdm.auto import tqdm

__all__ = ["LINE_EVERY_PERCENT", "PROGRESS_ENV", "LineProgress", "progress_bar", "wants_bar"]

#: Environment variable forcing the display: ``bar`` (tqdm) or ``lines``; unset or any
#: other value: a bar on a terminal, lines elsewhere.
PROGRESS_ENV = "LSTMATTN_PROGRESS"

#: A log line each time this many more per cent of the total are done.
LINE_EVERY_PERCENT = 5


def wants_bar(stream: TextIO) -> bool:
    """Whether progress on ``stream`` is drawn as a tqdm bar: ``$LSTMATTN_PROGRESS`` when
    it says ``bar`` or ``lines``, else whether ``stream`` is a terminal."""
    forced = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if forced in ("bar", "lines"):
        return forced == "bar"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


class LineProgress:
    """tqdm's interface as the package uses it (iterate, ``update``, ``set_postfix``,
    ``set_postfix_str``, ``refresh``, ``write``, ``close``, ``n``, a settable ``total``),
    written as plain lines: one per :data:`LINE_EVERY_PERCENT` per cent of ``total``
    passed (none without a total) and one on :meth:`close`."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: float | None = None, desc: str = "",
                 unit: str = "it", initial: float = 0, file: TextIO) -> None:
        if total is None and isinstance(iterable, Sized):
            total = len(iterable)
        self.iterable, self.total, self.desc, self.unit, self.file = iterable, total, desc, unit, file
        self.n = self.initial = initial
        self.postfix = ""
        self.started = time.monotonic()
        self.reported = self._steps_done()
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable:  # type: ignore[union-attr]
                yield item
                self.update(1)
        finally:
            self.close()

    def _steps_done(self) -> int:
        """Whole :data:`LINE_EVERY_PERCENT` steps of the total done (0 without a total)."""
        if not self.total:
            return 0
        return int(100 * self.n / self.total // LINE_EVERY_PERCENT)

    def update(self, n: float = 1) -> None:
        """Count ``n`` more done; write a line when another step of the total is passed."""
        self.n += n
        steps = self._steps_done()
        if steps > self.reported and self.n < self.total:  # the last line is close()'s
            self.reported = steps
            self._print(self._running_line())

    def set_postfix(self, values: Mapping[str, Any] | None = None, refresh: bool = True) -> None:
        """Show ``name=value`` pairs at the end of the next progress lines (``refresh``: tqdm's
        argument, nothing to redraw here)."""
        self.postfix = ", ".join(f"{name}={value}" for name, value in (values or {}).items())

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        """Show ``text`` at the end of the next progress lines (``refresh``: as for :meth:`set_postfix`)."""
        self.postfix = text

    def refresh(self) -> None:
        """Nothing: a line is written only when the count passes a step."""

    def write(self, line: str) -> None:
        """Print ``line`` to stdout, as ``tqdm.write`` does, at once."""
        print(line, file=sys.stdout, flush=True)

    def close(self) -> None:
        """Write the final line (done, or stopped short of the total); once."""
        if not self.closed:
            self.closed = True
            self._print(self._final_line())

    def _count(self) -> str:
        return f"{self.n:,}/{self.total:,} {self.unit}" if self.total else f"{self.n:,} {self.unit}"

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def _running_line(self) -> str:
        """Count, per cent, elapsed time, ETA (from the mean rate so far) and the postfix."""
        elapsed = self._elapsed()
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        eta = tqdm_std.format_interval((self.total - self.n) / rate) if rate > 0 else "?"
        line = (f"{self.desc}: {self._count()} ({100 * self.n / self.total:.0f} %), "
                f"{tqdm_std.format_interval(elapsed)} elapsed, ETA {eta}")
        return f"{line}, {self.postfix}" if self.postfix else line

    def _final_line(self) -> str:
        """Done (or stopped short of the total) and the time taken; no postfix, which
        describes the work under way."""
        state = "stopped at" if self.total and self.n < self.total else "done,"
        return f"{self.desc}: {state} {self._count()} in {tqdm_std.format_interval(self._elapsed())}"

    def _print(self, line: str) -> None:
        print(line, file=self.file, flush=True)


def progress_bar(iterable: Iterable[Any] | None = None, *, total: float | None = None, desc: str = "",
                 unit: str = "it", initial: float = 0, disable: bool = False, file: TextIO | None = None,
                 **bar_options: Any) -> tqdm | LineProgress:
    """Progress over ``iterable`` (or counted with ``update``) on ``file`` (default: stderr):
    a tqdm bar on a terminal (``bar_options``, such as ``leave``, go to it), plain lines
    elsewhere (:class:`LineProgress`); nothing with ``disable``."""
    stream = sys.stderr if file is None else file
    if disable or wants_bar(stream):
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=disable, file=stream,
                    **bar_options)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=stream)
