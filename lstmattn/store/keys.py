"""The result store's key: what a run computes, independent of where it ran.

A stored run is found by :func:`store_key`, a SHA-256 over three things and nothing else:

* the **semantic config**, :func:`semantic_config`: the resolved
  :class:`~lstmattn.config.ExperimentConfig` without the fields that say where the data
  lie or how many loader processes fed it (:data:`NON_SEMANTIC_FIELDS`), and without a
  field added to the config after runs were stored while it holds the value that
  computes what the runs before it computed (:data:`ADDED_FIELDS`), so that a new
  option leaves every stored key as it was. The seed and
  ``train.max_steps`` stay in: a smoke run (``max_steps`` set) has a key of its own and
  can never stand in for a full-length run;
* the **variant** name (an ablation, the two-class runs), as ``record.json`` names it;
* the **data identity**, :func:`data_identity`: phantoms are made by the package from
  parameters that are part of the config; a real data set is named by the content hash
  of its manifest (``data_manifests/``), so a lookup never needs the data present.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Mapping

from lstmattn.config import ExperimentConfig, to_dict
from lstmattn.data.manifests import available_manifests, load_manifest

__all__ = ["NON_SEMANTIC_FIELDS", "DATA_PATH_FIELDS", "ADDED_FIELDS", "StoreKey", "semantic_config", "data_identity", "store_key"]

#: Config fields that say where the data lie: replaced by the data identity in the key.
DATA_PATH_FIELDS: tuple[str, ...] = ("root", "segmentation_root", "ictcf_root")

#: Dotted config fields that do not change what training computes.
NON_SEMANTIC_FIELDS: tuple[str, ...] = (*(f"data.{name}" for name in DATA_PATH_FIELDS), "train.num_workers")

#: Dotted config fields added after the store's first runs → the value that reproduces
#: what runs before the field computed. At that value a field is left out of the key
#: (stored keys stay valid); at any other value it is in it. A field enters this table
#: in the change that adds it, and never leaves it.
ADDED_FIELDS: Mapping[str, Any] = {
    "model.attention_pooling": "attention",
    "model.negative_branch": True,
    "model.classification_augmentation": "none",
}

#: Hex digits of the key used in folder names (the full digest is in ``entry.json``).
SHORT_KEY = 12


@dataclass(frozen=True)
class StoreKey:
    """A run's store key: ``digest`` (hex SHA-256) and the ``material`` it hashes."""

    digest: str
    material: Mapping[str, Any]

    @property
    def short(self) -> str:
        return self.digest[:SHORT_KEY]


def semantic_config(config: ExperimentConfig) -> dict[str, Any]:
    """``to_dict(config)`` without :data:`NON_SEMANTIC_FIELDS`, and without each field of
    :data:`ADDED_FIELDS` that holds its listed value."""
    values = to_dict(config)
    for dotted in NON_SEMANTIC_FIELDS:
        section, name = dotted.split(".")
        values[section].pop(name, None)
    for dotted, neutral in ADDED_FIELDS.items():
        section, name = dotted.split(".")
        if name in values[section] and values[section][name] == neutral:
            del values[section][name]
    return values


def _manifest_identity(name: str) -> dict[str, Any]:
    """A manifest's name and a SHA-256 over what it says a correct copy holds (its
    layout's content hash and counts, and every split file's hash and counts)."""
    manifest = load_manifest(name)
    content = {
        "content_sha256": manifest.content_sha256,
        "class_dirs": manifest.class_dirs,
        "images": manifest.images,
        "splits": {key: [spec.file, spec.lines, spec.sha256] for key, spec in sorted(manifest.splits.items())},
    }
    return {"manifest": name, "sha256": hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()}


def _identity_of_path(path: str) -> dict[str, Any]:
    """The manifest a data folder belongs to: the manifest whose name is one of the
    path's components (``…/sarscov2-ct``, ``…/medseg-semiseg/train``); a folder no
    manifest names is identified by its absolute path, so its runs match only here."""
    parts = PurePath(path).parts
    for name in available_manifests():
        if name in parts:
            below = parts[parts.index(name) + 1:]
            return {**_manifest_identity(name), "subfolder": "/".join(below)}
    return {"path": str(Path(path).resolve())}


def data_identity(config: ExperimentConfig) -> dict[str, Any]:
    """What the run's data are, without reading them: the source names and, for each data
    folder set in the config, the identity of its manifest (see the module docstring).
    A phantom folder is only a cache of what the config's phantom fields generate, so it
    is left out."""
    data = config.data
    identity: dict[str, Any] = {"source": data.source, "segmentation_source": data.segmentation_source}
    for name in DATA_PATH_FIELDS:
        value = getattr(data, name)
        if value is not None and not (name == "root" and data.source == "phantom"):
            identity[name] = _identity_of_path(value)
    return identity


def store_key(config: ExperimentConfig, variant: str | None) -> StoreKey:
    """The store key of the run of ``config`` as ``variant``."""
    material = {"config": semantic_config(config), "variant": variant, "data": data_identity(config)}
    digest = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return StoreKey(digest, material)
