"""Where the time of one training step of the one-shot model goes; prints a table.

    python benchmarks/step_profile.py [--profile quick] [--steps 10] [--threads N]

One step is what ``lstmattn train`` runs with the summed loss of Eq. 8: a segmentation
batch (``train.segmentation_batch_size`` slices, L_SEG) and a classification batch
(``train.classification_batch_size`` slices, L_CLS) forward, one backward, one Adam step.
Forward time is split by module with forward hooks (backbone, RPN, segmentation RoI heads,
RoI classification branch, attention layer, image classification heads; the backbone and
RPN run twice per step, once per batch); backward and the optimiser step are timed as a
whole; data loading is the time the data sets take to return the step's slices. The step
runs in the profile's training precision (``train.amp``, ``train.channels_last``;
``--float32`` turns both off). Medians over ``--steps`` steps after one warm-up step, on
the profile's phantom data.

A script that reports numbers, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import torch

from lstmattn.config import get_profile
from lstmattn.engine.datasets import build_data
from lstmattn.engine.precision import training_precision
from lstmattn.engine.trainer import build_model

_PARTS = {
    "backbone": "backbone (ResNet + FPN)",
    "rpn": "RPN (§3.4)",
    "roi_heads": "segmentation RoI heads (§3.5)",
    "roi_classification": "RoI classification branch (§3.6)",
    "attention": "attention layer (§3.7)",
    "positive_head": "image classification heads (§3.8)",
    "negative_head": "image classification heads (§3.8)",
}


def _hook_timers(model: torch.nn.Module, totals: dict[str, float]) -> None:
    """Add each listed child's inclusive forward time to ``totals`` under its label."""
    for name, label in _PARTS.items():
        module = getattr(model, name)
        started: list[float] = []
        module.register_forward_pre_hook(lambda *_, s=started: s.append(time.perf_counter()))

        def done(*_: object, s: list[float] = started, key: str = label) -> None:
            totals[key] += time.perf_counter() - s.pop()

        module.register_forward_hook(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--float32", action="store_true", help="contiguous float32 steps whatever the profile says")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = get_profile(args.profile)
    data = build_data(config, progress=False)
    torch.manual_seed(0)
    train = config.train
    precision = training_precision(train.amp and not args.float32, train.channels_last and not args.float32,
                                   torch.device("cpu"))
    model = precision.prepare(build_model(config))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    seg_batch, cls_batch = config.train.segmentation_batch_size, config.train.classification_batch_size
    timers: dict[str, float] = defaultdict(float)
    _hook_timers(model, timers)
    rows: list[dict[str, float]] = []
    for step in range(args.steps + 1):
        parts: dict[str, float] = {}
        start = time.perf_counter()
        samples = [data.segmentation_train[(step * seg_batch + i) % len(data.segmentation_train)] for i in range(seg_batch)]
        samples += [data.classification_train[(step * cls_batch + i) % len(data.classification_train)] for i in range(cls_batch)]
        parts["data loading"] = time.perf_counter() - start
        timers.clear()
        start = time.perf_counter()
        with precision.autocast():
            losses = model([image for image, _ in samples], [target for _, target in samples])
        forward = time.perf_counter() - start
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        torch.stack(list(losses.values())).sum().backward()
        parts["backward"] = time.perf_counter() - start
        start = time.perf_counter()
        optimizer.step()
        parts["optimiser step"] = time.perf_counter() - start
        parts.update(timers)
        parts["forward, other (transform, losses)"] = forward - sum(timers.values())
        if step:  # the first step warms up
            rows.append(parts)
    keys = list(dict.fromkeys(key for row in rows for key in row))
    medians = {key: statistics.median(row.get(key, 0.0) for row in rows) for key in keys}
    total = sum(medians.values())
    print(f"profile {args.profile}, {torch.get_num_threads()} thread(s), {config.model.image_size}² slices, "
          f"batch {seg_batch} segmentation + {cls_batch} classification, {precision.describe()}, "
          f"median of {args.steps} steps")
    print(f"{'part':<42}{'ms':>9}{'share':>8}")
    for key in sorted(keys, key=medians.get, reverse=True):
        print(f"{key:<42}{1000 * medians[key]:>9.1f}{medians[key] / total:>8.1%}")
    print(f"{'total':<42}{1000 * total:>9.1f}")


if __name__ == "__main__":
    main()
