"""Data-set manifests: what a correct copy of each real data set contains.

One YAML file per data set in ``data_manifests/`` (override the folder with
``$LSTMATTN_MANIFESTS``). A manifest records the sources, citation and terms, the
expected ROOT layout, and per split file its format, line count, per-class counts,
byte size and SHA-256 (``null`` where the upstream list was not available to hash).
Sets published without split files (folder-per-class sets, MedSeg) record instead the
image count of each folder and one SHA-256 over their whole content
(:func:`content_sha256`).
``lstmattn data verify`` checks a user's copy against it; see
``data_manifests/README.md`` for the schema.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lstmattn.errors import DataError

__all__ = [
    "SPLIT_FORMATS",
    "SplitSpec",
    "Manifest",
    "manifest_dir",
    "available_manifests",
    "load_manifest",
    "file_sha256",
    "content_sha256",
]

#: How a split file's lines are parsed: COVIDx six-field lines, bare names, iCTCF
#: prefixed names, or names with the COVIDx class digit as prefix (authors' lists).
SPLIT_FORMATS: tuple[str, ...] = ("covidx", "names", "ictcf", "class-digit-names")


@dataclass(frozen=True)
class SplitSpec:
    """Expected contents of one split file under ROOT."""

    key: str
    file: str
    format: str
    lines: int
    per_class: dict[int, int] | None = None
    bytes: int | None = None
    sha256: str | None = None
    required: bool = True
    note: str | None = None


@dataclass(frozen=True)
class Manifest:
    """One data set's manifest (see ``data_manifests/README.md``)."""

    name: str
    title: str
    path: Path
    citation: str
    licence: str
    sources: list[dict[str, str]]
    classes: dict[int, str]
    image_dirs: list[str]
    mask_dirs: list[str]
    mask_values: list[int] | None
    images: int | None
    splits: dict[str, SplitSpec]
    class_dirs: dict[str, int] = field(default_factory=dict)
    content_sha256: str | None = None
    notes: list[str] = field(default_factory=list)


def manifest_dir() -> Path:
    """The manifest folder: ``$LSTMATTN_MANIFESTS`` or ``data_manifests/`` beside the package."""
    override = os.environ.get("LSTMATTN_MANIFESTS")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "data_manifests"


def available_manifests() -> list[str]:
    """Names of the manifests in :func:`manifest_dir`, sorted."""
    folder = manifest_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(files: dict[str, str]) -> str:
    """One SHA-256 over a set of files: the hex SHA-256 of the UTF-8 text made of one
    line ``<file SHA-256>  <relative path>`` per file (the ``sha256sum`` format), sorted
    by relative path. ``files`` maps relative path (``/`` separators) → file SHA-256."""
    text = "".join(f"{files[path]}  {path}\n" for path in sorted(files))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _split_spec(path: Path, key: str, raw: Any) -> SplitSpec:
    if not isinstance(raw, dict) or "file" not in raw or "lines" not in raw:
        raise DataError(path, f"split {key!r}: needs at least 'file' and 'lines'")
    split_format = raw.get("format", "covidx")
    if split_format not in SPLIT_FORMATS:
        raise DataError(path, f"split {key!r}: format {split_format!r} is not one of {list(SPLIT_FORMATS)}")
    per_class = raw.get("per_class")
    return SplitSpec(
        key=key,
        file=str(raw["file"]),
        format=split_format,
        lines=int(raw["lines"]),
        per_class={int(k): int(v) for k, v in per_class.items()} if per_class else None,
        bytes=None if raw.get("bytes") is None else int(raw["bytes"]),
        sha256=raw.get("sha256"),
        required=bool(raw.get("required", True)),
        note=raw.get("note"),
    )


def load_manifest(name_or_path: str | Path) -> Manifest:
    """Load a manifest by name (``covidx-ct-1``) or by path to a ``.yaml`` file."""
    candidate = Path(name_or_path)
    path = candidate if candidate.suffix in (".yaml", ".yml") else manifest_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(available_manifests()) or "none"
        raise DataError(path, f"no such manifest (available: {known})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise DataError(path, f"invalid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise DataError(path, "manifest must be a YAML mapping")
    missing = [key for key in ("name", "title", "citation", "licence", "sources", "layout") if key not in raw]
    if missing:
        raise DataError(path, f"manifest lacks {', '.join(missing)}")
    layout = raw["layout"] or {}
    return Manifest(
        name=str(raw["name"]),
        title=str(raw["title"]),
        path=path,
        citation=str(raw["citation"]).strip(),
        licence=str(raw["licence"]).strip(),
        sources=list(raw["sources"]),
        classes={int(k): str(v) for k, v in (raw.get("classes") or {}).items()},
        image_dirs=[str(d) for d in layout.get("image_dir", [])],
        mask_dirs=[str(d) for d in layout.get("mask_dir", [])],
        mask_values=layout.get("mask_values"),
        images=layout.get("images"),
        splits={key: _split_spec(path, key, spec) for key, spec in (raw.get("splits") or {}).items()},
        class_dirs={str(k): int(v) for k, v in (layout.get("class_dirs") or {}).items()},
        content_sha256=layout.get("content_sha256"),
        notes=[str(n).strip() for n in raw.get("notes", [])],
    )
