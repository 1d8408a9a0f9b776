"""The learning-rate schedule (lstmattn.engine.schedule)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lstmattn.config import TrainConfig
from lstmattn.engine.schedule import learning_rate


def test_constant_schedule_is_the_configured_rate() -> None:
    train = TrainConfig(lr=1e-5)
    assert {learning_rate(train, step, 100) for step in range(100)} == {1e-5}


def test_warmup_then_cosine_down_to_the_floor() -> None:
    train = replace(TrainConfig(), lr=1e-3, lr_schedule="warmup_cosine", warmup_steps=10, lr_final_fraction=0.1)
    rates = [learning_rate(train, step, 110) for step in range(110)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(rates[:10], rates[1:10]))  # linear warm-up
    assert rates[10] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))  # cosine decay
    assert rates[60] == pytest.approx(1e-4 + 0.9e-3 * 0.5, rel=0.05)  # half-way down at the middle
