"""The overlay PNGs of ``lstmattn predict``: ``OUT/overlays/0000_<name>.png``, one per
slice prediction (σ(Δ) of Eq. 9, the lesions and α of both branches, Eq. 5; layout in
:mod:`lstmattn.viz.overlays`). ``OUT/predictions.json``, which names these files, is
written by :func:`lstmattn.engine.predict.write_predictions_json`."""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from lstmattn.engine.predict import SlicePrediction
from lstmattn.io import atomic_write_bytes, worker_count
from lstmattn.viz.overlays import render_overlay

__all__ = ["overlay_name", "write_overlays", "OverlayWriter"]


def overlay_name(index: int, source: str) -> str:
    """``0007_<stem>.png``: the slice's position and its file stem, made file-name safe."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source).stem) or "slice"
    return f"{index:04d}_{stem}.png"


def _write_overlay(prediction: SlicePrediction, path: Path) -> Path:
    return atomic_write_bytes(render_overlay(prediction), path)


def write_overlays(predictions: Sequence[SlicePrediction], out_dir: str | Path, *, workers: int | None = None) -> list[Path]:
    """Write the overlay PNG of every prediction under ``out_dir/overlays/`` atomically;
    returns their paths, in prediction order. ``workers`` threads (default: one per CPU
    core, at most 4) draw and encode the PNGs side by side: zlib, most of the work, runs
    without the GIL."""
    with OverlayWriter(out_dir, workers=workers) as writer:
        for prediction in predictions:
            writer.submit(prediction)
        return writer.close()


class OverlayWriter:
    """Writes overlay PNGs while the model predicts the next slices.

    :meth:`submit` takes the predictions in slice order (``predict_path``'s
    ``on_prediction``) and hands each to a pool of ``workers`` threads, so drawing and
    PNG encoding overlap with inference instead of following it; :meth:`close` waits for
    them and returns the paths in prediction order (the same files :func:`write_overlays`
    writes). Use as a context manager; a write error surfaces from :meth:`close`."""

    def __init__(self, out_dir: str | Path, *, workers: int | None = None) -> None:
        self.folder = Path(out_dir) / "overlays"
        self._pool = ThreadPoolExecutor(max_workers=workers or worker_count())
        self._written: list[Future[Path]] = []

    def submit(self, prediction: SlicePrediction) -> None:
        path = self.folder / overlay_name(len(self._written), prediction.source)
        self._written.append(self._pool.submit(_write_overlay, prediction, path))

    def close(self) -> list[Path]:
        self._pool.shutdown(wait=True)
        return [future.result() for future in self._written]

    def __enter__(self) -> "OverlayWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc_info[0] is not None)
