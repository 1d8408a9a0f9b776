"""The overlay PNGs of ``lstmattn predict``: ``OUT/overlays/0000_<name>.png``, one per
slice prediction (σ(Δ) of Eq. 9, the lesions and α of both branches, Eq. 5; layout in
:mod:`lstmattn.viz.overlays`). ``OUT/predictions.json``, which names these files, is
written by :func:`lstmattn.engine.predict.write_predictions_json`."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from lstmattn.engine.predict import SlicePrediction
from lstmattn.io import atomic_write_bytes
from lstmattn.viz.overlays import render_overlay

__all__ = ["overlay_name", "write_overlays"]


def overlay_name(index: int, source: str) -> str:
    """``0007_<stem>.png``: the slice's position and its file stem, made file-name safe."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source).stem) or "slice"
    return f"{index:04d}_{stem}.png"


def _write_overlay(prediction: SlicePrediction, path: Path) -> Path:
    return atomic_write_bytes(render_overlay(prediction), path)


def write_overlays(
    predictions: Sequence[SlicePrediction], out_dir: str | Path, *, progress: bool = False, workers: int | None = None
) -> list[Path]:
    """Write the overlay PNG of every prediction under ``out_dir/overlays/`` atomically;
    returns their paths, in prediction order.

    ``workers`` threads (default: one per CPU core, at most 4) draw and encode the PNGs
    side by side: zlib, most of the work, runs without the GIL."""
    folder = Path(out_dir) / "overlays"
    paths = [folder / overlay_name(index, prediction.source) for index, prediction in enumerate(predictions)]
    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        written = pool.map(_write_overlay, predictions, paths)
        return list(tqdm(written, total=len(paths), desc="overlays", unit="slice", disable=not progress, leave=False))
