"""Derived COVIDx CT-1 split lists: the paper's 3,000-slice training subset and hold-out.

The paper trains on 3,000 slices (1,000 per class) drawn from the CT-1 train split and
reports a hold-out set made of the rest (§4.1, Table 3). The authors' list
(``train_split_classification.txt``) does not document how it was drawn, so the
default subset follows our own seeded, stratified procedure:

1. read ``train_COVIDx_CT-1.txt`` (61,782 lines);
2. ``rng = numpy.random.default_rng(seed)``; for class 0, 1, 2 in that order, sort the
   class's file names and take ``rng.choice(len(names), per_class, replace=False)``;
3. the subset is every train line whose name was chosen, the hold-out every other
   line, both in the order of the train file and written in the COVIDx line format.

With ``seed=0`` the hold-out has 58,782 lines (the paper says 58,737; the 45-slice gap
is unexplained). Users who have the authors' list can convert it instead
(:func:`convert_authors_list`). Files are written atomically
(:func:`lstmattn.io.atomic_write_text`) and their SHA-256 recorded in
``derived_splits.yaml`` beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from lstmattn.data.covidx import CNCB_NAME_PREFIXES, CovidxRecord, format_covidx_line, parse_class_digit_list, read_covidx_split
from lstmattn.data.manifests import Manifest, file_sha256, load_manifest
from lstmattn.errors import DataError
from lstmattn.io import atomic_write_text

__all__ = [
    "DERIVED_SPLITS_FILE",
    "draw_training_subset",
    "convert_authors_list",
    "write_split_atomic",
    "prepare_covidx_subsets",
]

#: Name of the record of derived lists written next to them.
DERIVED_SPLITS_FILE = "derived_splits.yaml"


def draw_training_subset(
    records: Sequence[CovidxRecord], *, per_class: int = 1000, seed: int = 0
) -> tuple[list[CovidxRecord], list[CovidxRecord]]:
    """The seeded stratified ``(subset, hold-out)`` of ``records`` (procedure above)."""
    rng = np.random.default_rng(seed)
    chosen: set[str] = set()
    for label in sorted({record.label for record in records}):
        names = sorted(record.name for record in records if record.label == label)
        if len(names) < per_class:
            raise ValueError(f"per_class: class {label} has only {len(names)} slices, fewer than {per_class}")
        chosen.update(names[i] for i in rng.choice(len(names), per_class, replace=False))
    subset = [record for record in records if record.name in chosen]
    holdout = [record for record in records if record.name not in chosen]
    return subset, holdout


def convert_authors_list(
    authors_list: str | Path, records: Sequence[CovidxRecord]
) -> tuple[list[CovidxRecord], list[CovidxRecord]]:
    """``(subset, hold-out)`` from the authors' 3,000-name list.

    Each ``<digit>_<patient>_<scan>_<slice>.png`` name is mapped back to its CT-1 name
    (0 → ``Normal_``, 1 → ``CP_``, 2 → ``NCP_``) and must be a train record of that class.
    """
    names, problems = parse_class_digit_list(authors_list)
    by_name = {record.name: record for record in records}
    chosen: set[str] = set()
    for name, label in names:
        covidx_name = f"{CNCB_NAME_PREFIXES[label]}_{name.split('_', 1)[1]}"
        record = by_name.get(covidx_name)
        if record is None or record.label != label:
            problems.append(DataError(authors_list, f"{name}: no CT-1 train slice {covidx_name} of class {label}"))
        chosen.add(covidx_name)
    if problems:
        raise DataError(authors_list, f"{len(problems)} bad entries; first: {problems[0]}")
    return [r for r in records if r.name in chosen], [r for r in records if r.name not in chosen]


def write_split_atomic(path: Path, records: Sequence[CovidxRecord]) -> str:
    """Write ``records`` as a COVIDx split file via a temporary file; returns its SHA-256."""
    text = "".join(format_covidx_line(record) + "\n" for record in records)
    atomic_write_text(text, path)
    return file_sha256(path)


def _check_train_list(train_file: Path, manifest: Manifest) -> str:
    spec = manifest.splits["train"]
    digest = file_sha256(train_file)
    if spec.sha256 and digest != spec.sha256:
        raise DataError(train_file, f"SHA-256 {digest[:12]}… is not that of the official CT-1 train list "
                        f"({spec.sha256[:12]}…); the derived lists would differ from the documented ones "
                        "(use --force to derive them anyway)")
    return digest


def prepare_covidx_subsets(
    root: str | Path,
    *,
    train_file: str | Path | None = None,
    out_dir: str | Path | None = None,
    seed: int = 0,
    per_class: int = 1000,
    authors_list: str | Path | None = None,
    force: bool = False,
) -> dict[str, dict[str, object]]:
    """Write the training subset and hold-out lists of COVIDx CT-1 into ``out_dir``.

    Args:
        root: the COVIDx CT-1 folder (holds ``train_COVIDx_CT-1.txt``).
        train_file: the train list, if not at ``root/train_COVIDx_CT-1.txt``.
        out_dir: where to write; default ``root``.
        seed, per_class: the stratified draw (ignored with ``authors_list``).
        authors_list: convert the authors' ``train_split_classification.txt`` instead
            of drawing; files are then named ``*_authors_*``.
        force: derive even if the train list's hash differs from the manifest.

    Returns:
        The entries written to ``derived_splits.yaml``: file name → lines, per-class
        counts, SHA-256, and how the list was made.
    """
    root = Path(root)
    manifest = load_manifest("covidx-ct-1")
    train_path = Path(train_file) if train_file is not None else root / manifest.splits["train"].file
    out = Path(out_dir) if out_dir is not None else root
    if not out.is_dir():
        raise DataError(out, "output folder not found")
    records = read_covidx_split(train_path)
    if force:
        source_digest = file_sha256(train_path)
    else:
        source_digest = _check_train_list(train_path, manifest)
    if authors_list is not None:
        subset, holdout = convert_authors_list(authors_list, records)
        tag = "authors"
        how = f"converted from the authors' list {Path(authors_list).name} (sha256 {file_sha256(authors_list)})"
    else:
        try:
            subset, holdout = draw_training_subset(records, per_class=per_class, seed=seed)
        except ValueError as error:
            raise DataError(train_path, str(error)) from None
        tag = f"seed{seed}"
        how = (f"numpy default_rng({seed}); per class 0,1,2 in order, rng.choice(len(sorted names), "
               f"{per_class}, replace=False); lines kept in train-file order")
    written: dict[str, dict[str, object]] = {}
    for kind, chosen in ((f"train{len(subset)}", subset), ("holdout", holdout)):
        path = out / f"{kind}_{tag}_COVIDx_CT-1.txt"
        digest = write_split_atomic(path, chosen)
        written[path.name] = {
            "lines": len(chosen),
            "per_class": {label: sum(r.label == label for r in chosen) for label in sorted(manifest.classes)},
            "sha256": digest,
            "bytes": path.stat().st_size,
            "source": {"file": train_path.name, "sha256": source_digest},
            "procedure": how,
        }
    record_path = out / DERIVED_SPLITS_FILE
    previous = yaml.safe_load(record_path.read_text(encoding="utf-8")) if record_path.is_file() else None
    merged = {**(previous if isinstance(previous, dict) else {}), **written}
    atomic_write_text(yaml.safe_dump(merged, sort_keys=True), record_path)
    return written
