"""OneShotSampler: coverage, determinism, resumption and sharding; detection collate."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from lstmattn.data.joint import OneShotSampler, collate_detection


def _epoch(sampler: OneShotSampler, epoch: int) -> list[tuple[int, int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_epoch_mode_walks_permutations() -> None:
    sampler = OneShotSampler(7, 20, seed=3)
    assert len(sampler) == 20
    first, second = _epoch(sampler, 0), _epoch(sampler, 1)
    assert sorted(c for _, c in first) == list(range(20)) == sorted(c for _, c in second)
    assert [c for _, c in first] != [c for _, c in second]
    segmentation = [s for s, _ in first + second]  # 40 steps = 5 full cycles of 7 + 5
    for cycle in range(5):
        assert sorted(segmentation[7 * cycle: 7 * cycle + 7]) == list(range(7))


def test_deterministic_and_resumable() -> None:
    a, b = OneShotSampler(5, 12, seed=1), OneShotSampler(5, 12, seed=1)
    assert _epoch(a, 4) == _epoch(b, 4)
    assert _epoch(a, 4) != _epoch(OneShotSampler(5, 12, seed=2), 4)
    full = _epoch(a, 2)
    b.set_epoch(2, start_step=5)
    assert list(b) == full[5:]


def test_reference_mode_draws_with_replacement() -> None:
    sampler = OneShotSampler(3, 300, mode="reference", seed=0)
    pairs = _epoch(sampler, 0)
    assert len(pairs) == 300 and max(Counter(c for _, c in pairs).values()) > 1
    assert {s for s, _ in pairs} == {0, 1, 2}
    assert pairs == _epoch(OneShotSampler(3, 300, mode="reference", seed=0), 0)


def test_ranks_share_out_the_epoch() -> None:
    steps = [tuple(p) for p in OneShotSampler(4, 10, seed=0).epoch_pairs(0).tolist()]
    shards = [_epoch(OneShotSampler(4, 10, seed=0, rank=r, world_size=3), 0) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]  # 10 steps padded to 12 by wrapping
    for rank, shard in enumerate(shards):
        assert shard == [steps[(i * 3 + rank) % 10] for i in range(4)]


@pytest.mark.parametrize(
    "kwargs", [dict(n_segmentation=0, n_classification=3), dict(n_segmentation=2, n_classification=3, mode="x"),
               dict(n_segmentation=2, n_classification=3, rank=2, world_size=2)],
)
def test_invalid_arguments(kwargs) -> None:
    with pytest.raises(ValueError):
        OneShotSampler(**kwargs)


def test_collate_keeps_lists() -> None:
    batch = [(torch.zeros(3, 4, 4), {"file": "a"}), (torch.ones(3, 5, 5), {"file": "b"})]
    images, targets = collate_detection(batch)
    assert [i.shape[-1] for i in images] == [4, 5] and [t["file"] for t in targets] == ["a", "b"]
