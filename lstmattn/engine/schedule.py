"""The learning rate of each optimisation step.

§4.1 trains with a constant learning rate (Adam, 1e-5), the ``paper`` and ``reference``
profiles' ``train.lr_schedule: constant``. ``warmup_cosine`` is a CPU-budget option (the
``quick`` profile): the rate climbs linearly from ``lr / warmup_steps`` to ``lr`` over the
first ``warmup_steps`` steps, then follows half a cosine down to
``lr * lr_final_fraction`` at the last step, so that a short run still ends converged
(small steps at the end instead of a noisy last checkpoint).

The rate is a function of the global step alone: a resumed run continues on the same
curve without any scheduler state in its checkpoint.
"""

from __future__ import annotations

import math

from lstmattn.config import TrainConfig

__all__ = ["learning_rate"]


def learning_rate(train: TrainConfig, step: int, total_steps: int) -> float:
    """The rate of the step that follows ``step`` completed steps (0-based) of ``total_steps``."""
    if train.lr_schedule == "constant":
        return train.lr
    if step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    decay_steps = max(total_steps - train.warmup_steps - 1, 1)
    progress = min((step - train.warmup_steps) / decay_steps, 1.0)
    floor = train.lr * train.lr_final_fraction
    return floor + (train.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
