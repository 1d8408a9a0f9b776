"""Run folders written by hand with the keys the engine writes (``record.json`` with its
``identity``, ``results/*_metrics.json``, ``results/segmentation_test.json``); nothing is
trained."""

from __future__ import annotations

from pathlib import Path

from lstmattn.io import atomic_write_json

PHANTOM = "synthetic CT phantoms (seed 0, 128px) — not patient data"
REAL = "COVIDx CT-1 (CNCB) classification + CNCB lesion segmentation"
THREE = ("Normal", "CP", "COVID-19")
TWO = ("Negative", "COVID-19")
COMMIT = "abcdef1234567890"


def interval(estimate: float, width: float = 0.02) -> dict:
    return {"estimate": estimate, "low": max(0.0, estimate - width), "high": min(1.0, estimate + width), "confidence": 0.95}


def classification(names: tuple[str, ...], sensitivities: dict[str, float], f1: float) -> dict:
    metrics = {f"sensitivity/{name}": interval(value) for name, value in sensitivities.items()}
    metrics.update(f1=interval(f1), f1_paper_weights=interval(f1 - 0.01), sensitivity=interval(f1 + 0.001),
                   precision=interval(f1 - 0.002), accuracy=interval(f1))
    size = len(names)
    confusion = [[10 if i == j else 1 for j in range(size)] for i in range(size)]
    return {"n": sum(map(sum, confusion)), "class_names": list(names), "confusion": confusion,
            "support": [sum(row) for row in confusion], "metrics": metrics}


def segmentation(ap50: float) -> dict:
    ap = {"AP@0.5": ap50, "AP@0.75": ap50 / 2, "AP@[0.5:0.95]": ap50 / 3}
    return {"n": 30, "ap": {key: {k: v * (0.5 if "lesions" in key else 1.0) for k, v in ap.items()}
                           for key in ("per_image/all_classes", "per_image/lesions", "dataset/all_classes", "dataset/lesions")},
            "dice": {"dataset": {"any lesion": 0.5}, "mean_per_image": {"any lesion": 0.4}}}


def with_intervals(result: dict, width: float = 0.02, n_resamples: int = 1000) -> dict:
    """A :func:`segmentation` result as evaluation writes it since per-slice scores are
    kept: every AP and Dice value with an interval of ``width`` either side."""
    section = {"resampled": "slices", "n_resamples": n_resamples, "seed": 0,
               **{kind: {group: {name: interval(value, width) for name, value in values.items()}
                         for group, values in result[kind].items()} for kind in ("ap", "dice")}}
    return {**result, "intervals": section}


def make_run(root: Path, model: str, *, profile: str = "quick", seed: int = 0, variant: str | None = None,
             data: str = PHANTOM, phantom: bool = True, source: str | None = None, segmentation_source: str | None = None,
             test: dict | None = None, holdout: dict | None = None, segmentation: dict | None = None,
             folder: str | None = None) -> Path:
    """A run folder (named ``folder``, default the engine's ``<profile>-<model>[-<variant>]-s<seed>``)
    whose ``record.json`` carries the identity, with the given result files. Without
    ``segmentation_source`` the identity has none, as records written before it had."""
    run_id = folder or (f"{profile}-{model}-{variant}-s{seed}" if variant else f"{profile}-{model}-s{seed}")
    path = root / run_id
    source = source or ("phantom" if phantom else "covidx")
    identity = {"model": model, "variant": variant, "profile": profile, "seed": seed, "data": data,
                "is_phantom": phantom, "source": source}
    if segmentation_source is not None:
        identity["segmentation_source"] = segmentation_source
    atomic_write_json({"run_id": run_id, "identity": identity, "model": model, "profile": profile, "seed": seed,
                       "git_commit": COMMIT, "data": {"description": data}, "status": "evaluated",
                       "created": "2025-01-01T00:00:00"}, path / "record.json")
    header = {"run_id": run_id, "model": model, "profile": profile, "seed": seed, "data": data, "is_phantom": phantom,
              "checkpoint": "best", "commit": COMMIT}
    for split, result in (("test", test), ("holdout", holdout)):
        if result is not None:
            atomic_write_json({**header, "split": split, **result}, path / "results" / f"{split}_metrics.json")
    if segmentation is not None:
        atomic_write_json({**header, "split": "segmentation_test", **segmentation}, path / "results" / "segmentation_test.json")
    return path
