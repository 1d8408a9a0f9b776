"""Speed and memory of the one-shot model on the current device; prints figures.

    python benchmarks/benchmark.py [--profiles [quick paper reference]] [--repeats 5]
                                   [--main-command [--book-args ARGS]] [--predict RUN [--series DIR]]

For each profile: warm inference ms/slice and training s/step (one segmentation plus one
classification image, the summed loss of Eq. 8, in the profile's training precision:
``train.amp``, ``train.channels_last``), medians of ``--repeats`` runs; the
overhead of the full one-shot model over plain torchvision Mask R-CNN with the same
backbone, image size and proposal settings, timed side by side in one process, one slice
each in turn (target ≤ 1.15×; the median ratio within a pair, with the least and largest),
once with contiguous weights and once channels-last (as ``lstmattn predict`` runs a
model); and peak memory (CUDA: max allocated; CPU: peak resident set of a fresh
process per profile). ``--main-command`` also times the README main job
(``make book``) end to end in a fresh clone of HEAD, install included, and the install
alone (target ≤ 20 minutes on a 2-core CPU). ``--predict RUN`` times ``lstmattn predict``
with that trained run on a DICOM series (``--series``, default the real-data folder's
``dicom-series/P001``), end to end as a user waits for it (process start and model
loading included), with and without the overlay PNGs (target ≥ 8 slices/s with
overlays), in float32 and with ``--precision bfloat16``. Last, the bootstrap 95 %
intervals of the §4.3 metrics on a test split of the paper's size (21,191 slices, 1,000
resamples).

This is a script that reports numbers, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torchvision.models.detection import MaskRCNN

from lstmattn.config import get_profile, real_data_folder
from lstmattn.engine.precision import training_precision
from lstmattn.engine.runs import device_description
from lstmattn.losses import total_loss
from lstmattn.metrics import bootstrap_ci
from lstmattn.model import OneShotLSTMAttention
from lstmattn.model.one_shot import segmentation_components
from lstmattn.model.transform import PerImageStandardizeTransform


def _target(size: int, device: torch.device) -> dict[str, torch.Tensor]:
    masks = torch.zeros(2, size, size, dtype=torch.uint8, device=device)
    masks[0, size // 8 : size * 7 // 8, size // 10 : size // 2] = 1
    masks[1, size // 3 : size // 2, size // 6 : size // 3] = 1
    boxes = torch.tensor(
        [[size // 10, size // 8, size // 2, size * 7 // 8], [size // 6, size // 3, size // 3, size // 2]],
        dtype=torch.float32, device=device,
    )
    return {"boxes": boxes, "labels": torch.tensor([1, 2], device=device), "masks": masks}


def _median_seconds(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_profile(name: str, repeats: int, device: torch.device) -> dict[str, float | str]:
    """Inference, training step and overhead over Mask R-CNN for one profile (random
    backbone weights: speed does not depend on them, and nothing is downloaded)."""
    config = get_profile(name)
    model_config = replace(config.model, backbone=replace(config.model.backbone, weights=None))
    size = model_config.image_size
    torch.manual_seed(0)
    model = OneShotLSTMAttention(model_config).to(device)
    baseline = MaskRCNN(**segmentation_components(model_config)).to(device)
    baseline.transform = PerImageStandardizeTransform(size)
    image = torch.rand(3, size, size, device=device)

    @torch.no_grad()
    def infer(net: torch.nn.Module) -> None:
        net.eval()(([image]))

    def side_by_side(memory_format: torch.memory_format) -> dict[str, float]:
        """Both models with weights in ``memory_format``, one slice each in turn, so that
        each pair sees the same machine state: median ms of each, and the median, least
        and largest ratio within a pair (the machine's speed drifts between minutes; a
        ratio within a pair does not)."""
        model.to(memory_format=memory_format), baseline.to(memory_format=memory_format)
        pairs = []
        infer(model), infer(baseline)
        for _ in range(repeats):
            pairs.append((_median_seconds(lambda: infer(model), 1, device),
                          _median_seconds(lambda: infer(baseline), 1, device)))
        ratios = [one_shot / mask_rcnn for one_shot, mask_rcnn in pairs]
        return {"one_shot_ms": 1000 * statistics.median(p[0] for p in pairs),
                "mask_rcnn_ms": 1000 * statistics.median(p[1] for p in pairs),
                "overhead": statistics.median(ratios), "overhead_min": min(ratios), "overhead_max": max(ratios)}

    # Contiguous weights, and channels-last as `lstmattn predict` runs a model.
    inference = {"contiguous": side_by_side(torch.contiguous_format), "channels_last": side_by_side(torch.channels_last)}
    model.to(memory_format=torch.contiguous_format)
    precision = training_precision(config.train.amp, config.train.channels_last, device, announce=False)
    precision.prepare(model)

    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    targets = [_target(size, device), {"image_label": torch.tensor(2, device=device)}]
    images = [torch.rand(3, size, size, device=device) for _ in range(2)]

    def train_step() -> None:
        model.train()
        with precision.autocast():
            losses = model(images, targets)
        optimizer.zero_grad(set_to_none=True)
        total_loss(losses).backward()
        optimizer.step()

    step = _median_seconds(train_step, repeats, device)
    result: dict[str, float | str] = {
        "profile": name,
        "backbone": config.model.backbone.name,
        "image_size": size,
        "inference": inference,
        "train_s_per_step": step,
        "train_precision": precision.describe(),
    }
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        result["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def time_bootstrap(repeats: int) -> float:
    """Median seconds of 1,000 bootstrap resamples of every §4.3 metric on 21,191 slices
    (the CT-1 test split's size) with about 93 % accuracy."""
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 21_191)
    y_pred = np.where(rng.random(y_true.size) < 0.93, y_true, (y_true + 1) % 3)
    return _median_seconds(lambda: bootstrap_ci(y_true, y_pred, n_resamples=1000), repeats, torch.device("cpu"))


def time_main_command(book_args: str = "") -> dict[str, float]:
    """Minutes for the README's main job from a fresh clone of this checkout's HEAD: the
    clone, ``make book`` (creating its own virtual environment, so the install counts),
    and the install alone (``make env`` in a second fresh clone). The clone's book gets
    this checkout's real-data folder (chapter 7), as ``make book`` here would;
    ``book_args`` goes to ``make book`` as ``BOOK_ARGS`` (e.g. ``--chapters 1 2 6 8``: only
    the chapters whose runs the result store holds)."""
    repository = Path(__file__).resolve().parents[1]
    env = {**os.environ, "LSTMATTN_SAMPLE_DATA": str(real_data_folder())}
    timings = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, target in (("install (make env)", "env"), ("main command (make book)", "book")):
            clone = Path(scratch) / target
            start = time.perf_counter()
            subprocess.run(["git", "clone", "--quiet", str(repository), str(clone)], check=True)
            subprocess.run(["make", target, *([f"BOOK_ARGS={book_args}"] if book_args and target == "book" else [])],
                           cwd=clone, env=env, check=True)
            timings[name] = (time.perf_counter() - start) / 60
    return timings


_PREDICT_SETTINGS = (
    ("with overlays", []),
    ("JSON only (--no-overlays)", ["--no-overlays"]),
    ("with overlays, --precision bfloat16", ["--precision", "bfloat16"]),
    ("JSON only, --precision bfloat16", ["--no-overlays", "--precision", "bfloat16"]),
)


def time_predict(run: Path, series: Path) -> dict[str, float]:
    """Slices per second of ``lstmattn predict --run RUN SERIES``, with and without
    overlays, in float32 (the default) and in bfloat16, each in a fresh process into a
    scratch folder: the slices its ``predictions.json`` holds over the command's wall time
    (process start and model loading included, as a user waits for them)."""
    rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        for number, (name, extra) in enumerate(_PREDICT_SETTINGS):
            out = Path(scratch) / str(number)
            started = time.perf_counter()
            subprocess.run(
                [str(Path(sys.executable).with_name("lstmattn")), "predict", "--run", str(run), "--out", str(out), "--no-progress", *extra, str(series)],
                check=True, capture_output=True, text=True,
            )
            seconds = time.perf_counter() - started
            rates[name] = len(json.loads((out / "predictions.json").read_text())["slices"]) / seconds
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="*", default=["quick", "paper", "reference"],
                        help="profiles to time (none: only the other measurements asked for)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--main-command", action="store_true", help="also time the README main job (quick)")
    parser.add_argument("--book-args", default="", help="with --main-command: BOOK_ARGS of make book (e.g. '--chapters 1 2 6 8')")
    parser.add_argument("--predict", type=Path, metavar="RUN", help="also time lstmattn predict with this trained run")
    parser.add_argument("--series", type=Path, default=real_data_folder() / "dicom-series" / "P001", help="series --predict reads")
    parser.add_argument("--single", help=argparse.SUPPRESS)  # internal: one profile in a fresh process
    args = parser.parse_args()
    device = torch.device(args.device)

    if args.single:
        print(json.dumps(measure_profile(args.single, args.repeats, device)))
        return

    print(f"device: {device_description(device)}; torch {torch.__version__}; repeats {args.repeats} (medians)")
    print(f"{'profile':<10}{'backbone':<18}{'size':>5}{'weights':>15}{'infer ms':>10}{'MaskRCNN ms':>12}"
          f"{'overhead (min-max)':>22}{'train s/step':>13}{'peak MB':>9}")
    results = []
    for name in args.profiles:
        # A fresh process per profile, so that peak memory belongs to that profile alone.
        output = subprocess.run(
            [sys.executable, __file__, "--single", name, "--repeats", str(args.repeats), "--device", args.device],
            check=True, capture_output=True, text=True,
        ).stdout
        r = json.loads(output.strip().splitlines()[-1])
        results.append(r)
        for row, (layout, i) in enumerate(r["inference"].items()):
            first = f"{r['profile']:<10}{r['backbone']:<18}{r['image_size']:>5}" if row == 0 else " " * 33
            last = f"{r['train_s_per_step']:>13.2f}{r['peak_memory_mb']:>9.0f}" if row == 0 else ""
            spread = f"{i['overhead']:.2f}x ({i['overhead_min']:.2f}-{i['overhead_max']:.2f})"
            print(f"{first}{layout:>15}{i['one_shot_ms']:>10.1f}{i['mask_rcnn_ms']:>12.1f}{spread:>22}{last}")
    print("train s/step in each profile's training precision: "
          + "; ".join(f"{r['profile']} {r['train_precision']}" for r in results))
    print(f"bootstrap intervals, 21,191 slices x 1,000 resamples: {1000 * time_bootstrap(args.repeats):.1f} ms")
    if args.predict:
        slices = len([path for path in args.series.iterdir() if path.is_file()])
        for name, rate in time_predict(args.predict, args.series).items():
            print(f"lstmattn predict, {args.series.name} ({slices} files), {name}: {rate:.1f} slices/s (target with overlays: >= 8)")
    if args.main_command:
        for name, minutes in time_main_command(args.book_args).items():
            print(f"fresh clone, {name}: {minutes:.1f} min (target for make book: <= 20 min on a 2-core CPU)")


if __name__ == "__main__":
    main()
