"""One evaluated run folder as typed values: its identity and every result file.

A run's identity (model, variant, profile, seed, data) is read from ``record.json`` →
``identity``, as the engine wrote it when the run started; nothing is parsed from the
folder name. :func:`read_run` reads one folder, :func:`read_runs` every evaluated run
under a runs folder, skipping (with a warning naming the file) those whose files are
unreadable.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from lstmattn.config import DataConfig, ExperimentConfig, load_config
from lstmattn.errors import DataError, LstmattnError
from lstmattn.results.classification import ClassificationResult, parse_classification
from lstmattn.results.files import (
    CONFIG_FILE,
    LOG_FILE,
    METRICS_SUFFIX,
    PREDICTIONS_SUFFIX,
    RECORD_FILE,
    RESULTS_FOLDER,
    SEGMENTATION_FILE,
    SEGMENTATION_PREFIX,
    read_json_object,
    require,
)
from lstmattn.results.segmentation import SegmentationResult, parse_segmentation

__all__ = ["RunIdentity", "RunResults", "read_run", "read_runs"]

_PREDICTION_COLUMNS = ("file", "label", "predicted")


@dataclass(frozen=True)
class RunIdentity:
    """What a run is: the registered ``model``, its named ``variant`` (an ablation or the
    two-class runs, :mod:`lstmattn.variants`; ``None`` for the default run), the config
    ``profile``, the training ``seed`` and the ``data`` it was trained on (a description;
    ``is_phantom`` for the synthetic phantoms; ``source``: ``DataConfig.source``, where
    the classification slices come from; ``segmentation_source``: where the segmentation
    slices come from, ``DataConfig.segmentation_source`` or ``"phantom"``)."""

    model: str
    variant: str | None
    profile: str
    seed: int
    data: str
    is_phantom: bool
    source: str
    segmentation_source: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any], path: Path) -> RunIdentity:
        """The identity in a parsed ``record.json`` at ``path``; :class:`DataError` when the
        record has none or it is malformed. Records written before the identity held
        ``segmentation_source`` get it as :func:`_segmentation_source` says."""
        identity = record.get("identity")
        if not isinstance(identity, dict):
            raise DataError(path, "run record has no 'identity' (model, variant, profile, seed, data, is_phantom, source)")
        variant = identity.get("variant")
        if variant is not None and not isinstance(variant, str):
            raise DataError(path, f"identity 'variant' must be a string or null, got {type(variant).__name__}")
        return cls(
            model=require(identity, "model", str, path),
            variant=variant,
            profile=require(identity, "profile", str, path),
            seed=require(identity, "seed", int, path),
            data=require(identity, "data", str, path),
            is_phantom=require(identity, "is_phantom", bool, path),
            source=require(identity, "source", str, path),
            segmentation_source=_segmentation_source(identity, path),
        )


def _segmentation_source(identity: Mapping[str, Any], path: Path) -> str:
    """The identity's ``segmentation_source``; for a run recorded without one,
    ``"phantom"`` on phantoms, else the ``data.segmentation_source`` of the run's
    ``config.yaml`` beside the record at ``path``, else (no readable config) the default
    :class:`~lstmattn.config.DataConfig` has always had, ``"cncb"``."""
    if "segmentation_source" in identity:
        return require(identity, "segmentation_source", str, path)
    if identity["source"] == "phantom":
        return "phantom"
    try:
        return load_config(path.parent / CONFIG_FILE).data.segmentation_source
    except LstmattnError:  # no readable config.yaml
        return DataConfig().segmentation_source


@dataclass(frozen=True)
class RunResults:
    """Everything an evaluated run folder holds that the tables and chapters read.

    Attributes:
        path: the run folder.
        run_id: the run's id (``record.json`` → ``run_id``).
        identity: the run's :class:`RunIdentity`.
        commit: git commit of the code that evaluated it (``-dirty`` when uncommitted).
        created: when the run started (ISO 8601).
        checkpoint: the checkpoint the results were evaluated from (``best``/``last``).
        classification: split → :class:`ClassificationResult` (``test``, ``holdout``, ...).
        segmentation: the :class:`SegmentationResult` of the segmentation test split, or
            ``None`` for a classification-only model.
        segmentation_splits: split → :class:`SegmentationResult` of the other
            segmentation splits it was scored on (``lstmattn evaluate RUN --data FOLDER``).
        provenance: ``record.json`` → ``provenance``, written when a build copied the run
            from the result store (``source: store``, the entry, how and where it was
            trained, whether it is stale); empty for a run trained where it lies.
    """

    path: Path
    run_id: str
    identity: RunIdentity
    commit: str
    created: str
    checkpoint: str
    classification: Mapping[str, ClassificationResult]
    segmentation: SegmentationResult | None
    segmentation_splits: Mapping[str, SegmentationResult] = field(default_factory=lambda: MappingProxyType({}))
    provenance: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_stored(self) -> bool:
        """Whether the run was copied from the result store rather than trained here."""
        return self.provenance.get("source") == "store"

    @property
    def source_label(self) -> str:
        """Where the run's numbers come from, as every table row says it:
        ``recomputed in this build`` or ``stored: trained <date> on <machine> (<precision>)``
        (``STALE`` first when the store's checks failed and the build showed it anyway)."""
        if not self.is_stored:
            return "recomputed in this build"
        trained = self.provenance.get("trained", {})
        date = str(trained.get("finished") or trained.get("created") or "?")[:10]
        label = f"stored: trained {date} on {trained.get('device', '?')} ({trained.get('precision', '?')})"
        return f"STALE {label}" if self.provenance.get("stale") else label

    @property
    def config_path(self) -> Path:
        """The run's resolved config file."""
        return self.path / CONFIG_FILE

    def config(self) -> ExperimentConfig:
        """The run's resolved :class:`~lstmattn.config.ExperimentConfig` (``config.yaml``)."""
        if not self.config_path.is_file():
            raise LstmattnError(f"{self.config_path}: run has no config file")
        return load_config(self.config_path)

    def predictions(self, split: str = "test") -> pd.DataFrame:
        """``results/<split>_predictions.csv``: one row per slice with ``file``, ``label``,
        ``predicted`` and, per class ``c``, ``prob_<c>`` (σ(Δ) of Eq. 9 for the one-shot
        model, softmax for classifiers) and ``logit_<c>``."""
        path = self.path / RESULTS_FOLDER / f"{split}{PREDICTIONS_SUFFIX}"
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError) as error:
            raise DataError(path, f"cannot read predictions ({error})") from error
        missing = [column for column in _PREDICTION_COLUMNS if column not in frame.columns]
        if missing:
            raise DataError(path, f"predictions lack the column(s) {', '.join(missing)}")
        return frame

    def epochs(self) -> pd.DataFrame:
        """One row per training epoch from ``log.jsonl``: ``epoch``, ``step`` (global step
        at its end), ``steps`` (in the epoch), ``complete`` (False for an epoch cut short by
        ``max_steps``) and ``copies``, the §3.6 weight copies into the RoI classification
        branch during the epoch (empty for runs logged before epochs were)."""
        path = self.path / LOG_FILE
        columns = ["epoch", "step", "steps", "complete", "copies"]
        rows = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        except OSError as error:
            raise DataError(path, f"cannot read the training log ({error})") from error
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(path, f"line {number} is not JSON ({error})") from error
            if isinstance(entry, dict) and entry.get("kind") == "epoch":
                rows.append({column: entry.get(column) for column in columns})
        return pd.DataFrame(rows, columns=columns)


def read_run(path: str | Path) -> RunResults | None:
    """The results of the run folder ``path``; ``None`` when it has not been evaluated (no
    result files). :class:`DataError` naming the file when its record or a result file is
    unreadable, or the record has no identity."""
    path = Path(path)
    results = path / RESULTS_FOLDER
    metric_files = sorted(results.glob(f"*{METRICS_SUFFIX}"))
    segmentation_file = results / SEGMENTATION_FILE
    if not metric_files and not segmentation_file.is_file():
        return None
    record_path = path / RECORD_FILE
    record = read_json_object(record_path)
    identity = RunIdentity.from_record(record, record_path)
    headers: list[Mapping[str, Any]] = []
    classification: dict[str, ClassificationResult] = {}
    for metric_file in metric_files:
        data = read_json_object(metric_file)
        split = metric_file.name[: -len(METRICS_SUFFIX)]
        classification[split] = parse_classification(data, split, metric_file)
        headers.append(data)
    segmentation = None
    if segmentation_file.is_file():
        data = read_json_object(segmentation_file)
        segmentation = parse_segmentation(data, segmentation_file)
        headers.append(data)
    other_segmentation = {
        path.stem[len(SEGMENTATION_PREFIX):]: parse_segmentation(read_json_object(path), path)
        for path in sorted(results.glob(f"{SEGMENTATION_PREFIX}*.json")) if path != segmentation_file
    }
    header = headers[0]
    return RunResults(
        path=path,
        run_id=str(record.get("run_id", path.name)),
        identity=identity,
        commit=str(header.get("commit", record.get("git_commit", "unknown"))),
        created=str(record.get("created", "")),
        checkpoint=str(header.get("checkpoint", "unknown")),
        classification=MappingProxyType(classification),
        segmentation=segmentation,
        segmentation_splits=MappingProxyType(other_segmentation),
        provenance=MappingProxyType(dict(record.get("provenance") or {})),
    )


def read_runs(root: str | Path, *, profile: str | None = None, seed: int | None = None) -> list[RunResults]:
    """Every evaluated run under ``root`` (optionally of one ``profile`` and ``seed``),
    sorted by model, seed and run id. A run whose record or result file is unreadable, or
    whose record has no identity, is skipped with a warning naming the file; a missing
    ``root`` holds no runs."""
    root = Path(root)
    runs = []
    for record_path in sorted(root.glob(f"*/{RECORD_FILE}")) if root.is_dir() else []:
        try:
            run = read_run(record_path.parent)
        except LstmattnError as error:
            warnings.warn(f"skipped run {record_path.parent.name}: {error}", stacklevel=2)
            continue
        if run is None:
            continue
        if (profile is None or run.identity.profile == profile) and (seed is None or run.identity.seed == seed):
            runs.append(run)
    return sorted(runs, key=lambda run: (run.identity.model, run.identity.seed, run.run_id))
