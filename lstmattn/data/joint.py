"""Joint sampling of the segmentation and classification sets for one-shot training.

Each training step of the one-shot engine takes one segmentation image and one
classification image (``REFERENCE_CODE.md`` §2.1). :class:`OneShotSampler` yields the
``(segmentation_index, classification_index)`` pairs:

* ``mode="epoch"`` (default): an epoch walks a seeded permutation of the
  classification set (``steps_per_epoch`` defaults to its length), while the
  segmentation indices cycle through a chain of seeded permutations of the
  segmentation set that continues across epochs.
* ``mode="reference"``: both indices uniform with replacement, as the authors' code
  draws them with ``torch.randint`` (one epoch = ``len(classification set)`` steps).

The pairs depend only on ``seed``, the epoch and the step, so a run resumed with
``set_epoch(epoch, start_step=step)`` continues exactly. With ``world_size > 1`` each
rank takes every ``world_size``-th step of the epoch's sequence, padded by wrapping so
all ranks run the same number of steps.
"""

from __future__ import annotations

from typing import Any, Iterator, Literal, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["OneShotSampler", "collate_detection"]

SamplingMode = Literal["epoch", "reference"]

# Independent random streams, mixed into the seed sequence.
_CLASSIFICATION_STREAM, _SEGMENTATION_STREAM, _REFERENCE_STREAM = 0, 1, 2


def _permutation(n: int, seed: int, stream: int, cycle: int) -> np.ndarray:
    return np.random.default_rng([seed, stream, cycle]).permutation(n)


def _cycled(n: int, seed: int, stream: int, start: int, count: int) -> np.ndarray:
    """Elements ``start .. start+count-1`` of the endless chain of seeded permutations of ``range(n)``."""
    out = np.empty(count, dtype=np.int64)
    position = start
    filled = 0
    while filled < count:
        cycle, offset = divmod(position, n)
        take = min(n - offset, count - filled)
        out[filled:filled + take] = _permutation(n, seed, stream, cycle)[offset:offset + take]
        filled += take
        position += take
    return out


class OneShotSampler(Sampler[tuple[int, int]]):
    """Deterministic ``(segmentation_index, classification_index)`` pairs for one epoch.

    Args:
        n_segmentation: size of the segmentation set (> 0).
        n_classification: size of the classification set (> 0).
        steps_per_epoch: global steps per epoch; default ``n_classification``.
        mode: ``"epoch"`` (seeded permutations) or ``"reference"`` (uniform with
            replacement, the authors' code).
        seed: base seed.
        rank, world_size: distributed sharding; each rank gets ``len(self)`` steps.
    """

    def __init__(
        self,
        n_segmentation: int,
        n_classification: int,
        *,
        steps_per_epoch: int | None = None,
        mode: SamplingMode = "epoch",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        for name, value in (("n_segmentation", n_segmentation), ("n_classification", n_classification)):
            if value <= 0:
                raise ValueError(f"{name}: must be positive, got {value}")
        if steps_per_epoch is not None and steps_per_epoch <= 0:
            raise ValueError(f"steps_per_epoch: must be positive or None, got {steps_per_epoch}")
        if mode not in ("epoch", "reference"):
            raise ValueError(f"mode: expected 'epoch' or 'reference', got {mode!r}")
        if world_size <= 0 or not 0 <= rank < world_size:
            raise ValueError(f"rank/world_size: need 0 <= rank < world_size, got {rank}/{world_size}")
        self.n_segmentation = n_segmentation
        self.n_classification = n_classification
        self.steps_per_epoch = steps_per_epoch or n_classification
        self.mode = mode
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start_step = 0

    def set_epoch(self, epoch: int, *, start_step: int = 0) -> None:
        """Select the epoch to iterate; ``start_step`` skips this rank's first steps (resume)."""
        if epoch < 0:
            raise ValueError(f"epoch: must be >= 0, got {epoch}")
        if not 0 <= start_step <= len(self):
            raise ValueError(f"start_step: must be in [0, {len(self)}], got {start_step}")
        self.epoch = epoch
        self.start_step = start_step

    def __len__(self) -> int:
        """Steps this rank runs per epoch (``ceil(steps_per_epoch / world_size)``)."""
        return -(-self.steps_per_epoch // self.world_size)

    def epoch_pairs(self, epoch: int) -> np.ndarray:
        """All global pairs of ``epoch`` as ``int64[steps_per_epoch, 2]`` (before sharding)."""
        steps = self.steps_per_epoch
        if self.mode == "reference":
            rng = np.random.default_rng([self.seed, _REFERENCE_STREAM, epoch])
            segmentation = rng.integers(self.n_segmentation, size=steps)
            classification = rng.integers(self.n_classification, size=steps)
        else:
            start = epoch * steps
            segmentation = _cycled(self.n_segmentation, self.seed, _SEGMENTATION_STREAM, start, steps)
            classification = _cycled(self.n_classification, self.seed, _CLASSIFICATION_STREAM, start, steps)
        return np.stack([segmentation, classification], axis=1).astype(np.int64)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        pairs = self.epoch_pairs(self.epoch)
        positions = (np.arange(len(self)) * self.world_size + self.rank) % self.steps_per_epoch
        for segmentation, classification in pairs[positions[self.start_step:]]:
            yield int(segmentation), int(classification)


def collate_detection(batch: Sequence[tuple[torch.Tensor, Any]]) -> tuple[list[torch.Tensor], list[Any]]:
    """Detection-style collate: ``[(image, target), ...]`` → ``([images], [targets])``."""
    images = [image for image, _ in batch]
    targets = [target for _, target in batch]
    return images, targets
