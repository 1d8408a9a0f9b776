"""The code fingerprint of a stored run: which project modules training ran, at which content.

Training a run executes the modules that :data:`TRAINING_ENTRY` imports, directly or
through other project modules, at module level or inside functions (found by parsing,
as ``tests/test_architecture.py`` does, so nothing is imported to find them). A
module's content is named by its git blob hash, which :func:`blob_hash` computes from
the file itself, so checking a fingerprint needs no git; :func:`blobs_at_commit` reads
the hashes a past commit had (``git ls-tree``), for runs trained before they were added.

A fingerprint is the mapping path → blob of those modules. :func:`changed_modules` lists
the modules whose content differs today: a refactor shows up there, and only the
canary (:mod:`lstmattn.store.canary`) says whether it changed what training computes.
"""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from lstmattn.errors import LstmattnError
from lstmattn.source_imports import imported_names

__all__ = ["PROJECT_ROOT", "TRAINING_ENTRY", "training_modules", "blob_hash", "current_fingerprint",
           "blobs_at_commit", "changed_modules", "fingerprint_digest"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_PACKAGE = PROJECT_ROOT / "lstmattn"

#: The module whose import closure trains and evaluates a run (``ensure_run``).
TRAINING_ENTRY = "lstmattn.engine.experiment"


def _module_path(module: str) -> Path | None:
    relative = Path(*module.split("."))
    for candidate in (PROJECT_ROOT / relative.with_suffix(".py"), PROJECT_ROOT / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(path: Path, module: str) -> set[str]:
    """The ``lstmattn`` modules ``path`` (module ``module``) imports."""
    return {name for name in imported_names(path, module) if name == "lstmattn" or name.startswith("lstmattn.")}


@lru_cache(maxsize=None)
def training_modules(entry: str = TRAINING_ENTRY) -> tuple[str, ...]:
    """Repository-relative paths (``lstmattn/engine/trainer.py``, ...) of every project
    module in the import closure of ``entry``, packages' ``__init__`` files included, sorted."""
    seen: dict[str, Path] = {}
    pending = [entry]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        path = _module_path(module)
        if path is None:  # a name imported from a module, not a module
            continue
        seen[module] = path
        parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
        pending.extend([*parents, *_imported(path, module)])
    return tuple(sorted(path.relative_to(PROJECT_ROOT).as_posix() for path in seen.values()))


def blob_hash(path: str | Path) -> str:
    """The git blob hash (SHA-1 of ``blob <size>\\0<content>``) of a file."""
    content = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def current_fingerprint() -> dict[str, str]:
    """Path → blob hash of today's training modules (:func:`training_modules`)."""
    return {path: blob_hash(PROJECT_ROOT / path) for path in training_modules()}


def blobs_at_commit(commit: str, paths: tuple[str, ...] | None = None) -> dict[str, str]:
    """Path → blob hash of ``paths`` (default: today's training modules) at git commit
    ``commit``; a path the commit did not have is left out. Needs the repository."""
    paths = paths if paths is not None else training_modules()
    try:
        listing = subprocess.run(["git", "ls-tree", "-r", commit, "--", *sorted({str(Path(p).parent) for p in paths})],
                                 cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise LstmattnError(f"cannot read the modules of commit {commit} with git: {detail.strip()}") from None
    blobs = {}
    for line in listing.splitlines():
        meta, _, path = line.partition("\t")
        blobs[path] = meta.split()[2]
    return {path: blobs[path] for path in paths if path in blobs}


def changed_modules(recorded: Mapping[str, str], today: Mapping[str, str] | None = None) -> dict[str, str]:
    """Path → ``changed``, ``new`` (not among the recorded modules) or ``removed`` (no
    longer a training module) for every module whose content differs from ``recorded``."""
    today = today if today is not None else current_fingerprint()
    changes = {path: "changed" for path, blob in today.items() if path in recorded and recorded[path] != blob}
    changes.update({path: "new" for path in today if path not in recorded})
    changes.update({path: "removed" for path in recorded if path not in today})
    return dict(sorted(changes.items()))


def fingerprint_digest(fingerprint: Mapping[str, str]) -> str:
    """One SHA-256 naming a whole fingerprint (its ``<blob>  <path>`` lines, sorted)."""
    text = "".join(f"{fingerprint[path]}  {path}\n" for path in sorted(fingerprint))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
