"""Forward hooks on the one-shot model: one evaluation pass, as its modules saw it.

:func:`trace_forward` runs one slice through the model *as it always runs*
(``model([image])`` in eval mode) while forward hooks on its modules
(:data:`HOOKED_STAGES`: RoI selection, mask sieve, vectoriser, both LSTMs, their
attention and query layers, both image classification modules and Δ) record what each
module received and returned: a :class:`ForwardTrace`. Nothing of the forward pass is
re-implemented, so a change to the model shows up in every view built on the trace.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import torch
from torch import Tensor, nn

__all__ = ["BRANCHES", "HOOKED_STAGES", "Captured", "ForwardTrace", "check_traceable", "trace_forward"]

#: Attention branches, as named in the explanation and the views (x_POS, x_NEG).
BRANCHES: tuple[str, ...] = ("positive", "negative")

#: Stage name → the one-shot model's submodule (``model.get_submodule`` path) whose
#: forward pass :func:`trace_forward` records.
HOOKED_STAGES: Mapping[str, str] = {
    "transform": "transform",  # §3.2 resize + standardise
    "backbone": "backbone",  # §3.3 backbone + FPN
    "roi_classification": "roi_classification",  # §3.6 RoI selection + mask features
    "sieve": "attention.sieve",  # §3.7.1 mask sieve
    "vectoriser": "attention.vectoriser",  # §3.7.1 vectorisation
    "positive_lstm": "attention.positive.lstm",  # Eq. 1, 3
    "positive_query": "attention.positive.linear",  # Eq. 2
    "positive_attention": "attention.positive",  # Eq. 4-7
    "negative_lstm": "attention.negative.lstm",
    "negative_query": "attention.negative.linear",
    "negative_attention": "attention.negative",
    "positive_head": "positive_head",  # §3.8 h(x_POS)
    "negative_head": "negative_head",  # §3.8 h(x_NEG)
    "delta": "class_delta",  # Eq. 9 Δ
}


@dataclass(frozen=True)
class Captured:
    """What one module's forward received (positional ``args``) and returned (``output``)."""

    args: tuple[Any, ...]
    output: Any


def _stage_modules(model: nn.Module) -> dict[str, nn.Module]:
    modules: dict[str, nn.Module] = {}
    missing = []
    for stage, path in HOOKED_STAGES.items():
        try:
            modules[stage] = model.get_submodule(path)
        except AttributeError:
            missing.append(path)
    if missing:
        raise ValueError(
            f"{type(model).__name__} has no {', '.join(missing)}; the attention views need the one-shot "
            "model (OneShotLSTMAttention: RoI classification branch, attention layer, two heads)"
        )
    return modules


@contextlib.contextmanager
def _recording(model: nn.Module) -> Iterator[dict[str, list[Captured]]]:
    """Forward hooks on every stage of :data:`HOOKED_STAGES` while the block runs;
    yields ``{stage: [Captured, ...]}``, one entry per call."""
    calls: dict[str, list[Captured]] = {stage: [] for stage in HOOKED_STAGES}
    handles = []
    for stage, module in _stage_modules(model).items():
        def hook(_module: nn.Module, args: tuple[Any, ...], output: Any, stage: str = stage) -> None:
            calls[stage].append(Captured(args, output))

        handles.append(module.register_forward_hook(hook))
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class ForwardTrace:
    """One evaluation forward pass of the one-shot model on one slice, as its modules
    saw it (the stages of :data:`HOOKED_STAGES`), plus the model's own output dict.

    Tensors stay on the model's device. Model-input pixels are those of the transformed
    image (``image_size``²); the output dict's boxes are in the input slice's pixels.
    """

    image: Tensor  # the model input, FloatTensor[3, H, W] in [0, 1]
    output: dict[str, Any]  # model([image])[0]
    stages: Mapping[str, Captured] = field(repr=False)

    @property
    def standardised(self) -> Tensor:
        """§3.2: the resized, standardised batch, ``FloatTensor[1, 3, S, S]``."""
        return self.stages["transform"].output[0].tensors

    @property
    def features(self) -> dict[str, Tensor]:
        """§3.3: the FPN feature maps, name → ``FloatTensor[1, C, h, w]``."""
        return dict(self.stages["backbone"].output)

    @property
    def proposals(self) -> Tensor:
        """§3.4: the RPN proposals the RoI classification branch received, ``FloatTensor[P, 4]``."""
        return self.stages["roi_classification"].args[1][0]

    @property
    def rois(self) -> Any:
        """§3.6: the :class:`~lstmattn.model.roi_classification.RoISequence` (model-input pixels)."""
        return self.stages["roi_classification"].output

    @property
    def sieved(self) -> Tensor:
        """§3.7.1: the RoI mask features after the mask sieve, ``FloatTensor[β, C, 28, 28]``."""
        return self.stages["sieve"].output

    @property
    def vectors(self) -> Tensor:
        """§3.7.1: one vector per RoI, ``FloatTensor[β, C]``."""
        return self.stages["vectoriser"].output

    @property
    def sequence(self) -> Tensor:
        """§3.7.1: the sequence X both LSTMs read, ``FloatTensor[1, β, C]``."""
        return self.stages["positive_attention"].args[0]

    def hidden_states(self, branch: str) -> Tensor:
        """Eq. 1, 3: H = (h_1 … h_β) of ``branch``'s LSTM, ``FloatTensor[1, β, D]``."""
        return self.stages[f"{_branch(branch)}_lstm"].output[0]

    def query(self, branch: str) -> Tensor:
        """Eq. 2: z = Linear(h_β) of ``branch``, ``FloatTensor[1, D]``."""
        return self.stages[f"{_branch(branch)}_query"].output

    def attended(self, branch: str) -> Tensor:
        """Eq. 6-7: o' = z + Σ α_k h_k of ``branch``, ``FloatTensor[1, D]``."""
        return self.stages[f"{_branch(branch)}_attention"].output[0]

    def alpha(self, branch: str) -> Tensor:
        """Eq. 4-5: α of ``branch`` over the β positions, ``FloatTensor[1, β]``."""
        return self.stages[f"{_branch(branch)}_attention"].output[1]

    def head_logits(self, branch: str) -> Tensor:
        """§3.8: h(x_POS) or h(x_NEG), ``FloatTensor[1, K]``."""
        return self.stages[f"{_branch(branch)}_head"].output

    @property
    def delta(self) -> Tensor:
        """Eq. 9: Δ = h(x_POS) − h(x_NEG) as the model computed it, ``FloatTensor[1, K]``."""
        return self.stages["delta"].output


@torch.no_grad()
def trace_forward(model: nn.Module, image: Tensor) -> ForwardTrace:
    """Run ``image`` (``FloatTensor[3, H, W]`` in [0, 1]) through ``model`` in eval mode
    with forward hooks on every stage of :data:`HOOKED_STAGES`; each stage must run
    exactly once."""
    device = next(model.parameters()).device
    image = image.to(device)
    model.eval()
    with _recording(model) as calls:
        output = model([image])[0]
    for stage, captured in calls.items():
        if len(captured) != 1:
            raise RuntimeError(f"stage {stage!r} ({HOOKED_STAGES[stage]}) ran {len(captured)} times in one forward pass, expected once")
    return ForwardTrace(image=image, output=output, stages={stage: captured[0] for stage, captured in calls.items()})


def _branch(branch: str) -> str:
    if branch not in BRANCHES:
        raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
    return branch


def check_traceable(model: nn.Module) -> nn.Module:
    """``model`` itself if it has every module of :data:`HOOKED_STAGES` (the one-shot
    model), else a ``ValueError`` naming what is missing."""
    _stage_modules(model)
    return model
