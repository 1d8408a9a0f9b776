"""Seeded, stratified split lists for data sets published without splits, written once.

The folder-per-class sets (:mod:`lstmattn.data.class_folders`) and the 50 MedSeg slices
come without train/test lists. :func:`draw_split` makes them:

1. ``rng = numpy.random.default_rng(seed)``;
2. for each stratum (the class label; MedSeg has one) in increasing order, take its
   names in natural order and permute them with ``rng.permutation``;
3. the first ``round(fraction × n)`` names of the permutation go to the first split,
   the next to the second, and so on; the last split takes the rest;
4. each split is kept in natural name order.

:func:`ensure_split_lists` writes the lists once, as ``<split>.txt`` (one name per line:
a path relative to the data folder, which may hold spaces) in a folder named after
everything that determines them, and afterwards reads them back, refusing lists that
no longer match the draw. :meth:`SplitLists.record` is what a run records about them
(files, lines, per-stratum counts, SHA-256).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lstmattn.data.manifests import file_sha256
from lstmattn.data.splits import read_lines
from lstmattn.errors import DataError
from lstmattn.io import atomic_write_text, natural_key

__all__ = ["StratifiedName", "draw_split", "split_folder_name", "SplitLists", "ensure_split_lists"]

StratifiedName = tuple[str, int]
"""A name and its stratum (class label)."""


def draw_split(names: Sequence[StratifiedName], fractions: Mapping[str, float], seed: int) -> dict[str, list[str]]:
    """Split name → names, by the procedure in the module docstring.

    ``fractions`` (split → share, in split order) must be positive and sum to 1.
    """
    if not fractions or any(share <= 0 for share in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f"fractions must be positive and sum to 1, got {dict(fractions)}")
    rng = np.random.default_rng(seed)
    splits: dict[str, list[str]] = {split: [] for split in fractions}
    order = list(fractions)
    for stratum in sorted({stratum for _, stratum in names}):
        members = sorted((name for name, s in names if s == stratum), key=natural_key)
        permuted = [members[i] for i in rng.permutation(len(members))]
        start = 0
        for position, split in enumerate(order):
            end = len(permuted) if position == len(order) - 1 else start + round(fractions[split] * len(permuted))
            splits[split] += permuted[start:end]
            start = end
    return {split: sorted(chosen, key=natural_key) for split, chosen in splits.items()}


def split_folder_name(name: str, names: Sequence[StratifiedName], fractions: Mapping[str, float], seed: int) -> str:
    """``<name>-seed<seed>-<digest>``: the digest covers the names, strata, fractions and seed."""
    content = json.dumps({"names": sorted(map(list, names)), "fractions": dict(fractions), "seed": seed}, sort_keys=True)
    return f"{name}-seed{seed}-{hashlib.sha256(content.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class SplitLists:
    """Split lists on disk: ``folder/<split>.txt`` and the names each holds."""

    folder: Path
    names: Mapping[str, list[str]]
    seed: int
    fractions: Mapping[str, float]

    def path(self, split: str) -> Path:
        return self.folder / f"{split}.txt"

    def record(self, strata: Mapping[str, int] | None = None) -> dict[str, Any]:
        """What a run records: seed, fractions and, per split, file, lines, SHA-256 and
        (with ``strata``, name → stratum) counts per stratum."""
        splits: dict[str, Any] = {}
        for split, names in self.names.items():
            entry: dict[str, Any] = {"file": str(self.path(split)), "lines": len(names), "sha256": file_sha256(self.path(split))}
            if strata is not None:
                counts: dict[int, int] = {}
                for name in names:
                    counts[strata[name]] = counts.get(strata[name], 0) + 1
                entry["per_class"] = dict(sorted(counts.items()))
            splits[split] = entry
        return {"seed": self.seed, "fractions": dict(self.fractions), "splits": splits}


def ensure_split_lists(
    folder: str | Path, names: Sequence[StratifiedName], fractions: Mapping[str, float], seed: int
) -> SplitLists:
    """The split lists in ``folder``: written there by :func:`draw_split` the first time,
    read back every later time. Lists that differ from the draw (edited, or written by
    other code) are refused with a :class:`DataError`; delete the folder to redraw."""
    folder = Path(folder)
    drawn = draw_split(names, fractions, seed)
    paths = {split: folder / f"{split}.txt" for split in drawn}
    if not all(path.is_file() for path in paths.values()):
        for split, chosen in drawn.items():
            atomic_write_text("".join(f"{name}\n" for name in chosen), paths[split])
    for split, path in paths.items():
        listed = [line for _, line in read_lines(path)]
        if listed != drawn[split]:
            raise DataError(path, f"split list differs from the seeded draw (seed {seed}, fractions {dict(fractions)}); "
                            "delete the folder to write it again")
    return SplitLists(folder, drawn, seed, dict(fractions))
