"""Check a user's copy of a real data set against its manifest, reporting every problem.

What is checked (``lstmattn data verify``):

* each split file of the manifest: present (optional ones may be absent), byte size
  and SHA-256 where recorded, every line well formed (``file:line``), line count and
  per-class counts;
* with image checks on: every listed image present and decodable (PNG ``verify()``
  checks every chunk's CRC; JPEGs are decoded), 8-bit, body box inside the image;
  every mask present, decodable, of the image's size and holding only known values;
* sets without split files: the image count of the image folder or of each class
  folder, and, where the manifest records it, the SHA-256 over all images and masks
  (:func:`lstmattn.data.manifests.content_sha256`).

Nothing stops at the first bad file: all problems are collected into a
:class:`VerifyReport`, grouped by kind in :meth:`VerifyReport.summary`.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from PIL import Image

from lstmattn.data.covidx import parse_class_digit_list, parse_covidx_split
from lstmattn.data.ictcf import parse_ictcf_split
from lstmattn.data.images import IMAGE_SUFFIXES, load_label_map
from lstmattn.data.instances import unexpected_values
from lstmattn.data.manifests import Manifest, SplitSpec, available_manifests, content_sha256, file_sha256, load_manifest
from lstmattn.data.splits import canonical_list_bytes, parse_name_list
from lstmattn.errors import DataError
from lstmattn.io import natural_key
from lstmattn.progress import progress_bar

__all__ = ["PROBLEM_KINDS", "Problem", "VerifyReport", "detect_manifest", "verify_dataset"]

#: Problem kinds, in report order.
PROBLEM_KINDS: tuple[str, ...] = (
    "layout", "split file", "malformed line", "count", "missing", "unreadable", "wrong size", "unexpected value",
    "content",
)

_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass(frozen=True)
class Problem:
    """One problem: its kind (one of :data:`PROBLEM_KINDS`) and a message naming the file."""

    kind: str
    error: DataError

    def __str__(self) -> str:
        return str(self.error)


@dataclass(frozen=True)
class _ImageJob:
    image: Path
    listed_in: str
    box: tuple[int, int, int, int] | None = None
    mask: Path | None = None


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_dataset`: what was checked and every problem found."""

    manifest: str
    root: Path
    checked: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, path: str | Path, problem: str) -> None:
        self.problems.append(Problem(kind, DataError(path, problem)))

    def summary(self, max_per_kind: int | None = 20) -> str:
        """Readable report; at most ``max_per_kind`` messages per kind (``None``: all)."""
        lines = [f"{self.manifest} at {self.root}"]
        lines += [f"  checked: {item}" for item in self.checked]
        if self.ok:
            lines.append("OK: no problems found")
            return "\n".join(lines)
        lines.append(f"PROBLEMS: {len(self.problems)}")
        by_kind = {kind: [p for p in self.problems if p.kind == kind] for kind in PROBLEM_KINDS}
        for kind, problems in by_kind.items():
            if not problems:
                continue
            lines.append(f"  {kind} ({len(problems)}):")
            shown = problems if max_per_kind is None else problems[:max_per_kind]
            lines += [f"    {problem}" for problem in shown]
            if len(shown) < len(problems):
                lines.append(f"    ... and {len(problems) - len(shown)} more (--all lists them)")
        return "\n".join(lines)


def detect_manifest(root: str | Path) -> str:
    """Name of the one manifest whose required split files (or folders) are in ``root``."""
    root = Path(root)
    matches = []
    for name in available_manifests():
        manifest = load_manifest(name)
        required = [spec.file for spec in manifest.splits.values() if spec.required]
        folders = [dirs for dirs in (manifest.image_dirs, manifest.mask_dirs) if dirs] + [[d] for d in manifest.class_dirs]
        if required and all((root / file).is_file() for file in required):
            matches.append(name)
        elif not required and folders and all(any((root / d).is_dir() for d in dirs) for dirs in folders):
            matches.append(name)
    if len(matches) != 1:
        found = f"it matches {', '.join(matches)}" if matches else "no manifest's files are there"
        raise DataError(root, f"cannot tell which data set this is ({found}); pass --manifest, one of: "
                        f"{', '.join(available_manifests())}")
    return matches[0]


def _resolve_dir(report: VerifyReport, root: Path, candidates: list[str], override: Path | None, what: str) -> Path | None:
    if override is not None:
        if override.is_dir():
            return override
        report.add("layout", override, f"{what} folder not found")
        return None
    for candidate in candidates:
        if (root / candidate).is_dir():
            return root / candidate
    options = " or ".join(f"{c}/" for c in candidates)
    report.add("layout", root, f"no {what} folder ({options}); pass --{what}-dir")
    return None


def _count_text(counts: Counter, classes: Iterable[int]) -> str:
    return "/".join(f"{counts.get(c, 0):,}" for c in classes)


def _parse_split(split_format: str, path: Path) -> tuple[list[tuple[str, object]], list[int], list[DataError]]:
    """``(name, box or None)`` entries whose images live under the image folder, the
    class of every good line (empty for bare name lists), and the line problems."""
    if split_format == "covidx":
        records, problems = parse_covidx_split(path)
        return [(r.name, r.box) for r in records], [r.label for r in records], problems
    if split_format == "names":
        names, problems = parse_name_list(path)
        return [(n, None) for n in names], [], problems
    if split_format == "ictcf":
        pairs, problems = parse_ictcf_split(path)
        return [(n, None) for n, _ in pairs], [label for _, label in pairs], problems
    # class-digit-names: the authors' renamed copies, not files under the image folder
    pairs, problems = parse_class_digit_list(path)
    return [], [label for _, label in pairs], problems


def _check_split(report: VerifyReport, spec: SplitSpec, path: Path) -> list[tuple[str, object]]:
    """Check one split file; returns the entries whose images should be checked.

    Size and SHA-256 match when either the file as stored or its canonical form (no
    byte-order mark, LF line ends) matches, so a copy saved on Windows passes."""
    try:
        data = path.read_bytes()
        entries, labels, problems = _parse_split(spec.format, path)
    except DataError as error:
        report.problems.append(Problem("split file", error))
        return []
    except OSError as error:
        report.add("split file", path, f"cannot read: {error.strerror or error}")
        return []
    facts = []
    forms = (data, canonical_list_bytes(data))
    if spec.bytes is not None and spec.bytes not in {len(form) for form in forms}:
        report.add("split file", path, f"{len(data):,} bytes, manifest expects {spec.bytes:,} (a different version of the list?)")
    if spec.sha256 is None:
        facts.append("SHA-256 not recorded (not available to verify)")
    elif spec.sha256 not in {hashlib.sha256(form).hexdigest() for form in forms}:
        report.add("split file", path, f"SHA-256 {hashlib.sha256(data).hexdigest()} differs from the manifest's {spec.sha256}")
    else:
        facts.append("SHA-256 matches")
    if forms[1] != data:
        facts.append("byte-order mark or CRLF line ends (read as plain UTF-8 with LF)")
    report.problems += [Problem("malformed line", problem) for problem in problems]
    total = (len(entries) if spec.format == "names" else len(labels)) + len(problems)
    if total != spec.lines:
        report.add("count", path, f"{total:,} lines, manifest expects {spec.lines:,}")
    counts = Counter(labels)
    if spec.per_class:
        expected = Counter(spec.per_class)
        if counts != expected and not problems:
            classes = sorted(set(expected) | set(counts))
            report.add("count", path, f"per-class counts {_count_text(counts, classes)} (classes {classes}), "
                       f"manifest expects {_count_text(expected, classes)}")
        facts.insert(0, f"{total:,} lines ({_count_text(counts, sorted(spec.per_class))})")
    else:
        facts.insert(0, f"{total:,} lines")
    report.checked.append(f"{path.name}: " + ", ".join(facts))
    return entries


def _probe_image(path: Path, report_into: list[Problem]) -> tuple[int, int] | None:
    """Width and height of a decodable 8-bit image, or None after recording why not."""
    if not path.is_file():
        report_into.append(Problem("missing", DataError(path, "listed but not found")))
        return None
    try:
        with Image.open(path) as image:
            size, mode = image.size, image.mode
            if image.format == "PNG":
                image.verify()
            else:
                image.load()
    except Exception as error:  # PIL raises many types for broken files; all mean "unreadable"
        report_into.append(Problem("unreadable", DataError(path, f"cannot decode ({type(error).__name__}: {error})")))
        return None
    if mode in _WIDE_MODES:
        report_into.append(Problem("unreadable", DataError(path, f"{mode} image; the loaders expect 8-bit grey or RGB")))
        return None
    return size


def _check_job(job: _ImageJob, mask_values: list[int] | None) -> list[Problem]:
    problems: list[Problem] = []
    size = _probe_image(job.image, problems)
    if size is not None and job.box is not None:
        width, height = size
        if job.box[2] > width or job.box[3] > height:
            problems.append(Problem("wrong size", DataError(
                job.image, f"{width}x{height} image, but the body box {job.box} in {job.listed_in} exceeds it")))
    if job.mask is None:
        return problems
    if not job.mask.is_file():
        problems.append(Problem("missing", DataError(job.mask, f"mask of {job.image.name} not found")))
        return problems
    try:
        label_map = load_label_map(job.mask)
    except DataError as error:
        problems.append(Problem("unreadable", error))
        return problems
    if size is not None and (label_map.shape[1], label_map.shape[0]) != size:
        problems.append(Problem("wrong size", DataError(
            job.mask, f"mask is {label_map.shape[1]}x{label_map.shape[0]}, image {job.image.name} is {size[0]}x{size[1]}")))
    if mask_values is not None:
        unknown = unexpected_values(label_map, mask_values)
        if unknown:
            problems.append(Problem("unexpected value", DataError(job.mask, f"mask values {unknown} not in {mask_values}")))
    return problems


def verify_dataset(
    root: str | Path,
    manifest: str | Path | Manifest | None = None,
    *,
    check_images: bool = True,
    image_dir: str | Path | None = None,
    mask_dir: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> VerifyReport:
    """Verify the data set at ``root`` against ``manifest`` (default: detected from ``root``).

    Args:
        root: the data set folder, laid out as its manifest describes.
        manifest: a manifest name, path or object.
        check_images: also open every listed image and mask (slower).
        image_dir, mask_dir: override the manifest's folders under ``root``.
        workers: threads for image checks (default: CPU count, at most 16).
        progress: show a progress bar for image checks.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "data folder not found")
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest if manifest is not None else detect_manifest(root))
    report = VerifyReport(manifest.name, root)

    entries: list[tuple[str, object, str]] = []
    for spec in manifest.splits.values():
        path = root / spec.file
        if not path.is_file():
            if spec.required:
                report.add("split file", path, f"split file '{spec.key}' not found")
            continue
        entries += [(name, box, spec.file) for name, box in _check_split(report, spec, path)]
    if not check_images:
        return report

    if manifest.class_dirs:
        images, masks, entries = root, None, _class_dir_entries(report, root, manifest.class_dirs)
    else:
        images = _resolve_dir(report, root, manifest.image_dirs, Path(image_dir) if image_dir else None, "image")
        masks = None
        if manifest.mask_dirs:
            masks = _resolve_dir(report, root, manifest.mask_dirs, Path(mask_dir) if mask_dir else None, "mask")
    if images is None or (manifest.mask_dirs and masks is None):
        return report
    if not manifest.splits and not manifest.class_dirs:
        names = sorted((p.name for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if manifest.images is not None and len(names) != manifest.images:
            report.add("count", images, f"{len(names):,} images, manifest expects {manifest.images:,}")
        entries = [(name, None, f"{images.name}/") for name in names]

    jobs: dict[Path, _ImageJob] = {}
    for name, box, listed_in in entries:
        path = images / name
        if path not in jobs:
            mask = masks / f"{Path(name).stem}.png" if masks is not None else None
            jobs[path] = _ImageJob(path, listed_in, box, mask)  # type: ignore[arg-type]
    workers = workers or min(16, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda job: _check_job(job, manifest.mask_values), jobs.values(), chunksize=64)
        for problems in progress_bar(results, total=len(jobs), desc=f"checking {manifest.name} images",
                                     unit="img", disable=not progress, leave=False):
            report.problems += problems
    report.checked.append(f"{len(jobs):,} images" + (" and masks" if masks is not None else "") + f" under {images}")
    if manifest.content_sha256 is not None:
        files = [path for job in jobs.values() for path in (job.image, job.mask) if path is not None and path.is_file()]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            digests = dict(zip((f"{p.parent.name}/{p.name}" for p in files), pool.map(file_sha256, files)))
        digest = content_sha256(digests)
        if digest != manifest.content_sha256:
            report.add("content", root, f"SHA-256 over the {len(files):,} image and mask files is {digest}, the manifest's "
                       f"{manifest.content_sha256} (a file differs, is missing or is extra)")
        else:
            report.checked.append(f"content SHA-256 over {len(files):,} files matches")
    return report


def _class_dir_entries(report: VerifyReport, root: Path, class_dirs: dict[str, int]) -> list[tuple[str, object, str]]:
    """``(folder/name, None, folder/)`` of every image in the class folders, checking each
    folder's image count."""
    entries: list[tuple[str, object, str]] = []
    for folder, expected in class_dirs.items():
        path = root / folder
        if not path.is_dir():
            report.add("layout", path, f"class folder {folder}/ not found")
            continue
        names = sorted((p.name for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if len(names) != expected:
            report.add("count", path, f"{len(names):,} images, manifest expects {expected:,}")
        report.checked.append(f"{folder}/: {len(names):,} images")
        entries += [(f"{folder}/{name}", None, f"{folder}/") for name in names]
    return entries
