"""File helpers every layer shares: atomic writes, natural sort and the size of the
thread pools that read or write many files.

Atomic means a reader (or a crashed writer's successor) never sees a half-written file:
each helper writes a temporary file in the target's folder, named
``.<name>.<pid>.tmp``, and ``os.replace``-s it onto the target.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["temporary_path", "atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_write_json",
           "remove_stale_temporaries", "natural_key", "worker_count"]


def temporary_path(path: str | Path) -> Path:
    """The temporary name a write to ``path`` goes through: ``.<name>.<pid>.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on an error it
    is removed and ``path`` is left as it was. Creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(data: bytes, path: str | Path) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(text: str, path: str | Path) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(data: Any, path: str | Path) -> Path:
    """Write ``data`` as indented JSON (non-JSON values via ``str``) atomically."""
    return atomic_write_text(json.dumps(data, indent=2, default=str) + "\n", path)


_TEMPORARY = re.compile(r"^\..+\.(\d+)\.tmp$")


def _is_running(pid: int) -> bool:
    """Whether process ``pid`` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files (``.<name>.<pid>.tmp``, see :func:`temporary_path`)
    under ``folder`` whose writer is no longer running (a killed process never renamed
    them into place); returns the removed paths."""
    removed = []
    for path in Path(folder).rglob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and not _is_running(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders ``2.png`` before ``10.png`` (digit runs compare as numbers)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(name))


def worker_count(limit: int = 4) -> int:
    """One worker per CPU core, at most ``limit``: the thread pools that decode slices or
    encode PNGs (zlib and the decoders release the GIL), and the training processes of
    :func:`lstmattn.engine.parallel.default_jobs` on a CPU."""
    return max(1, min(limit, os.cpu_count() or 1))
