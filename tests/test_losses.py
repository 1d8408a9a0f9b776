"""Eq. 8-10 against hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from lstmattn.losses import SEGMENTATION_LOSS_NAMES, delta_sigma_loss, segmentation_loss, total_loss


def test_delta_sigma_loss_by_hand():
    positive = torch.tensor([[2.0, 0.0, -1.0]])
    negative = torch.tensor([[0.0, 1.0, 1.0]])
    delta = [2.0, -1.0, -2.0]
    sigma = [1 / (1 + math.exp(-d)) for d in delta]
    # Image class 0: t = (1, 0, 0).
    expected_terms = [-math.log(sigma[0]), -math.log(1 - sigma[1]), -math.log(1 - sigma[2])]
    assert delta_sigma_loss(positive, negative, torch.tensor([0])).item() == pytest.approx(sum(expected_terms), rel=1e-6)
    assert delta_sigma_loss(positive, negative, torch.tensor([0]), "mean").item() == pytest.approx(
        sum(expected_terms) / 3, rel=1e-6
    )


def test_delta_sigma_loss_batch_mean_and_gradient_sign():
    positive = torch.zeros(2, 3, requires_grad=True)
    negative = torch.zeros(2, 3, requires_grad=True)
    loss = delta_sigma_loss(positive, negative, torch.tensor([1, 2]))
    assert loss.item() == pytest.approx(3 * math.log(2), rel=1e-6)
    loss.backward()
    # Descent raises h_POS and lowers h_NEG on the true class, the reverse elsewhere.
    assert positive.grad[0, 1] < 0 and negative.grad[0, 1] > 0
    assert positive.grad[0, 0] > 0 and negative.grad[0, 0] < 0


def test_segmentation_and_total_loss():
    losses = {name: torch.tensor(float(i + 1)) for i, name in enumerate(SEGMENTATION_LOSS_NAMES)}
    assert segmentation_loss(losses).item() == 15.0
    assert total_loss(losses).item() == 15.0
    losses["loss_classification"] = torch.tensor(0.5)
    assert total_loss(losses).item() == 15.5
    assert total_loss({"loss_classification": torch.tensor(0.5)}).item() == 0.5
    with pytest.raises(KeyError):
        segmentation_loss({"loss_mask": torch.tensor(1.0)})
    with pytest.raises(KeyError):
        total_loss({})
