"""§3.7 Attention layer: the mask sieve, vectorisation, and two LSTM+attention branches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MaskSieve", "RoIVectoriser", "LSTMAttention", "AttentionOutput", "AttentionLayer", "attend", "pool_uniformly"]


class MaskSieve(nn.Module):
    """§3.7.1 Mask sieve: N × (Conv2d → BatchNorm2d → ConvTranspose2d → ReLU).

    The convolution halves the channels and the resolution, the transposed convolution
    restores both, so β×C×H×W stays β×C×H×W. ``order="reference"`` uses the reference
    code's Conv2d → BatchNorm2d → ReLU → ConvTranspose2d instead. Each of the N blocks has
    its own weights.
    """

    def __init__(self, channels: int, blocks: int = 1, order: Literal["paper", "reference"] = "paper") -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"channels must be even, got {channels}")
        if order not in ("paper", "reference"):
            raise ValueError(f"order must be 'paper' or 'reference', got {order!r}")
        layers: list[nn.Module] = []
        for _ in range(blocks):
            down = nn.Conv2d(channels, channels // 2, kernel_size=2, stride=2)
            norm = nn.BatchNorm2d(channels // 2)
            up = nn.ConvTranspose2d(channels // 2, channels, kernel_size=2, stride=2)
            layers += [down, norm, up, nn.ReLU()] if order == "paper" else [down, norm, nn.ReLU(), up]
        self.blocks = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class RoIVectoriser(nn.Module):
    """§3.7.1 Vectorisation: convolutions with kernels 2×2 (stride 2), 2×2 (stride 2) and
    7×7 turn each 28×28 RoI map into a vector, β×C×28×28 → β×C.

    Each convolution is followed by ReLU and BatchNorm (the reference code's order; the
    paper does not state one).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()

        def stage(kernel: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(channels, channels, kernel, stride), nn.ReLU(), nn.BatchNorm2d(channels)]

        self.layers = nn.Sequential(*stage(2, 2), *stage(2, 2), *stage(7, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (28, 28):
            raise ValueError(f"RoIVectoriser expects 28×28 RoI maps, got {tuple(x.shape[-2:])}")
        return self.layers(x).flatten(1)


class LSTMAttention(nn.Module):
    """§3.7.2 LSTM with dot-product attention over its own hidden states (Eq. 1-7).

    For a sequence X (B×β×C):
        Eq. 1:    H, o = LSTM(X)      o = h_β, the last hidden state
        Eq. 3:    H = [h_1 … h_β]     the stack of hidden states
        Eq. 2:    z = Linear(o)
        Eq. 4:    w_k = h_kᵀ z
        Eq. 5:    α = softmax(w)      over the β positions
        Eq. 6:    c = Σ_k α_k h_k
        Eq. 7:    o' = z + c

    ``pooling="mean"`` (an ablation, chapter 5) replaces Eq. 4-5 by α_k = 1/β, so that c
    is the mean hidden state and the attention has nothing to learn.
    """

    def __init__(self, input_size: int, hidden_size: int = 256,
                 pooling: Literal["attention", "mean"] = "attention") -> None:
        super().__init__()
        if pooling not in ("attention", "mean"):
            raise ValueError(f"pooling must be 'attention' or 'mean', got {pooling!r}")
        self.pooling = pooling
        self.lstm = nn.LSTM(input_size=input_size, hidden_size=hidden_size, batch_first=True)
        self.linear = nn.Linear(hidden_size, hidden_size)

    def forward(self, sequence: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(o' FloatTensor[B, hidden], α FloatTensor[B, β])``."""
        hidden_states, (last_hidden, _) = self.lstm(sequence)
        z = self.linear(last_hidden[-1])
        if self.pooling == "mean":
            return pool_uniformly(hidden_states, z)
        return attend(hidden_states, z)


def attend(hidden_states: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 4-7 for hidden states H (B×β×D) and query z (B×D): returns (z + c, α)."""
    scores = torch.bmm(hidden_states, z.unsqueeze(-1)).squeeze(-1)
    alpha = F.softmax(scores, dim=1)
    context = torch.bmm(alpha.unsqueeze(1), hidden_states).squeeze(1)
    return z + context, alpha


def uniform_weights(batch: int, beta: int, like: Tensor) -> Tensor:
    """α_k = 1/β for every position: ``FloatTensor[batch, β]`` on ``like``'s device and dtype."""
    return torch.full((batch, beta), 1.0 / beta, device=like.device, dtype=like.dtype)


def pool_uniformly(hidden_states: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 6-7 with α_k = 1/β instead of Eq. 4-5: returns (z + mean_k h_k, α)."""
    batch, beta = hidden_states.shape[:2]
    return z + hidden_states.mean(dim=1), uniform_weights(batch, beta, hidden_states)


@dataclass
class AttentionOutput:
    """o'_POS, o'_NEG (``FloatTensor[B, hidden]``) and their weights α (``FloatTensor[B, β]``).

    Without a negative branch (``AttentionLayer(negative_branch=False)``) o'_NEG is zero and
    α_NEG uniform: placeholders that keep the shapes, not outputs of a branch."""

    positive: Tensor
    negative: Tensor
    alpha_positive: Tensor
    alpha_negative: Tensor


class AttentionLayer(nn.Module):
    """§3.7: sieve → vectorise → sequence 1×β×C → two LSTM+attention branches.

    Both branches read the same sequence; they differ by their weights and by the sign
    they take in the Δσ loss (Eq. 9), which makes one class-positive and one
    class-negative. ``negative_branch=False`` (an ablation, chapter 5) keeps the positive
    branch alone; ``pooling`` is :class:`LSTMAttention`'s.
    """

    def __init__(
        self,
        channels: int,
        *,
        hidden_size: int = 256,
        sieve_blocks: int = 1,
        sieve_order: Literal["paper", "reference"] = "paper",
        pooling: Literal["attention", "mean"] = "attention",
        negative_branch: bool = True,
    ) -> None:
        super().__init__()
        self.sieve = MaskSieve(channels, sieve_blocks, sieve_order)
        self.vectoriser = RoIVectoriser(channels)
        self.positive = LSTMAttention(channels, hidden_size, pooling)
        self.negative = LSTMAttention(channels, hidden_size, pooling) if negative_branch else None

    def forward(self, roi_features: Tensor) -> AttentionOutput:
        """``roi_features``: ``FloatTensor[B, β, C, 28, 28]`` in sequence order."""
        batch, beta = roi_features.shape[:2]
        vectors = self.vectoriser(self.sieve(roi_features.flatten(0, 1)))
        sequence = vectors.view(batch, beta, -1)
        positive, alpha_positive = self.positive(sequence)
        if self.negative is None:
            negative, alpha_negative = torch.zeros_like(positive), uniform_weights(batch, beta, positive)
        else:
            negative, alpha_negative = self.negative(sequence)
        return AttentionOutput(positive, negative, alpha_positive, alpha_negative)
