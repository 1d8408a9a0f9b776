"""The one-shot model: output contract, Eq. 1-7, gradient routing, weight copy, overfit."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torchvision

from conftest import segmentation_target, tiny_model_config
from lstmattn.config import BackboneConfig
from lstmattn.losses import SEGMENTATION_LOSS_NAMES, segmentation_loss, total_loss
from lstmattn.model import OneShotLSTMAttention
from lstmattn.model.attention import LSTMAttention, MaskSieve, attend
from lstmattn.model.backbone import build_backbone
from lstmattn.model.roi_classification import padding_indices


def make_model(**overrides) -> OneShotLSTMAttention:
    torch.manual_seed(0)
    return OneShotLSTMAttention(tiny_model_config(**overrides))


def test_eval_output_contract():
    model = make_model().eval()
    images = [torch.rand(3, 64, 64), torch.rand(3, 80, 70)]
    with torch.no_grad():
        outputs = model(images)
    assert len(outputs) == 2
    beta = model.config.roi_batch_size
    for image, output in zip(images, outputs):
        height, width = image.shape[-2:]
        assert output["class_logits"].shape == (3,)
        assert torch.allclose(output["class_probs"], torch.sigmoid(output["class_logits"]))
        assert output["predicted_class"].item() == output["class_logits"].argmax().item()
        detections = output["boxes"].shape[0]
        assert output["masks"].shape == (detections, 1, height, width)
        assert output["labels"].shape == output["scores"].shape == (detections,)
        record = output["attention"]
        for key in ("alpha_pos", "alpha_neg", "roi_scores", "roi_labels"):
            assert record[key].shape == (beta,)
        assert record["roi_boxes"].shape == (beta, 4)
        assert torch.allclose(record["alpha_pos"].sum(), torch.tensor(1.0))
        assert torch.allclose(record["alpha_neg"].sum(), torch.tensor(1.0))
        assert (record["roi_boxes"][:, 2] <= width + 1e-3).all() and (record["roi_boxes"][:, 3] <= height + 1e-3).all()
        scores = record["roi_scores"]
        assert (scores[:-1] >= scores[1:]).all(), "confidence order must be decreasing"
        assert record["order"] == "confidence"


def test_training_returns_named_losses():
    model = make_model().train()
    losses = model([torch.rand(3, 64, 64), torch.rand(3, 64, 64)], [segmentation_target(), {"image_label": torch.tensor(1)}])
    assert set(losses) == set(SEGMENTATION_LOSS_NAMES) | {"loss_classification"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    only_cls = model([torch.rand(3, 64, 64)], [{"image_label": torch.tensor(0)}])
    assert set(only_cls) == {"loss_classification"}
    with pytest.raises(ValueError, match="image_label"):
        model([torch.rand(3, 64, 64)], [{}])


def test_attention_hand_built_example():
    """Eq. 4-7 on numbers small enough to check by hand."""
    hidden = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # H: β=3, D=2
    z = torch.tensor([[2.0, 0.0]])
    output, alpha = attend(hidden, z)
    w = torch.tensor([2.0, 0.0, 2.0])  # h_k · z
    expected_alpha = torch.exp(w) / torch.exp(w).sum()
    assert torch.allclose(alpha[0], expected_alpha)
    context = (expected_alpha[:, None] * hidden[0]).sum(0)
    assert torch.allclose(output[0], z[0] + context)
    assert math.isclose(alpha.sum().item(), 1.0, rel_tol=1e-6)


def test_lstm_attention_matches_equations():
    torch.manual_seed(0)
    layer = LSTMAttention(input_size=5, hidden_size=4)
    sequence = torch.randn(2, 6, 5)
    output, alpha = layer(sequence)
    hidden_states, (last, _) = layer.lstm(sequence)
    assert torch.allclose(hidden_states[:, -1], last[-1]), "o_t is the last hidden state"
    z = layer.linear(last[-1])
    w = torch.einsum("bkd,bd->bk", hidden_states, z)
    assert torch.allclose(alpha, torch.softmax(w, dim=1), atol=1e-6)
    assert torch.allclose(output, z + torch.einsum("bk,bkd->bd", alpha, hidden_states), atol=1e-6)
    assert torch.allclose(alpha.sum(1), torch.ones(2))


@pytest.mark.parametrize("order", ["paper", "reference"])
def test_mask_sieve_keeps_shape_and_order(order):
    sieve = MaskSieve(8, blocks=2, order=order)
    x = torch.randn(3, 8, 28, 28)
    assert sieve(x).shape == x.shape
    kinds = [type(m).__name__ for m in sieve.blocks[:4]]
    expected = ["Conv2d", "BatchNorm2d", "ConvTranspose2d", "ReLU"] if order == "paper" else ["Conv2d", "BatchNorm2d", "ReLU", "ConvTranspose2d"]
    assert kinds == expected
    assert len(sieve.blocks) == 8


def test_classification_gradients_reach_backbone_and_attention_not_copied_branch():
    model = make_model().train()
    loss = model([torch.rand(3, 64, 64)], [{"image_label": torch.tensor(2)}])["loss_classification"]
    loss.backward()
    backbone_grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in backbone_grads)
    for module in (model.attention, model.positive_head, model.negative_head):
        assert all(p.grad is not None for p in module.parameters())
    assert all(not p.requires_grad and p.grad is None for p in model.roi_classification.parameters())
    # The segmentation heads get nothing from the classification loss.
    assert all(p.grad is None for p in model.roi_heads.parameters())


def _perturb(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p))


def test_weight_copy_policies():
    for policy, expected in (("best", [True, False, True, False]), ("previous", [True, False, True, True])):
        model = make_model(weight_copy_policy=policy)
        copies = []
        for loss in (5.0, 6.0, 4.0, 4.5 if policy == "best" else 3.9):
            _perturb(model.roi_heads)
            copies.append(model.sync_classification_branch(loss))
            if copies[-1]:
                assert torch.equal(model.roi_classification.box_head.fc6.weight, model.roi_heads.box_head.fc6.weight)
                assert torch.equal(
                    model.roi_classification.mask_upsampler.conv5_mask.weight,
                    model.roi_heads.mask_predictor.conv5_mask.weight,
                )
            else:
                assert not torch.equal(model.roi_classification.box_head.fc6.weight, model.roi_heads.box_head.fc6.weight)
        assert copies == expected, policy
    # "previous" compares against the last loss, not the best: 4.0 → 4.5 (no) → 4.4 (yes).
    model = make_model(weight_copy_policy="previous")
    assert [model.sync_classification_branch(x) for x in (4.0, 4.5, 4.4)] == [True, False, True]
    model = make_model(weight_copy_policy="best")
    assert [model.sync_classification_branch(x) for x in (4.0, 4.5, 4.4)] == [True, False, False]


def test_copied_branch_is_frozen_and_checkpointed():
    model = make_model()
    assert all(not p.requires_grad for p in model.roi_classification.parameters())
    model.sync_classification_branch(3.0)
    state = model.state_dict()
    assert state["roi_classification.reference_loss"].item() == 3.0
    fresh = make_model()
    fresh.load_state_dict(state)
    assert not fresh.sync_classification_branch(3.5)


def test_padding_indices():
    assert padding_indices(20, 16).tolist() == list(range(16))
    assert padding_indices(3, 8).tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert padding_indices(1, 4).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        padding_indices(0, 4)


def test_distance_order():
    model = make_model(roi_order="distance").eval()
    with torch.no_grad():
        record = model([torch.rand(3, 64, 64)])[0]["attention"]
    boxes = record["roi_boxes"]
    distance = torch.hypot(boxes[:, 0], boxes[:, 1])
    assert (distance[:-1] <= distance[1:] + 1e-4).all()
    assert record["order"] == "distance"


def test_same_seed_same_outputs():
    image = torch.rand(3, 64, 64)
    outputs = []
    for _ in range(2):
        model = make_model().eval()
        with torch.no_grad():
            outputs.append(model([image])[0])
    assert torch.equal(outputs[0]["class_logits"], outputs[1]["class_logits"])
    assert torch.equal(outputs[0]["attention"]["alpha_pos"], outputs[1]["attention"]["alpha_pos"])
    assert torch.equal(outputs[0]["boxes"], outputs[1]["boxes"])


def test_batchnorm_at_inference_option():
    model = make_model(batchnorm_at_inference="train").eval()
    assert model.backbone.training and model.attention.training and not model.roi_heads.training
    model = make_model().eval()
    assert not model.backbone.training and not model.attention.training


def test_four_image_overfit_both_losses_fall():
    torch.manual_seed(0)
    model = OneShotLSTMAttention(tiny_model_config()).train()
    seg_images = [torch.rand(3, 64, 64) * 0.2 for _ in range(2)]
    for image in seg_images:
        image[:, 8:56, 6:30] += 0.5
        image[:, 20:34, 12:24] += 0.3
    cls_images = [torch.rand(3, 64, 64) for _ in range(2)]
    cls_images[1][:, 16:48, 16:48] += 1.0
    targets = [segmentation_target(), segmentation_target(), {"image_label": torch.tensor(0)}, {"image_label": torch.tensor(2)}]
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    history = []
    for _ in range(40):
        losses = model(seg_images + cls_images, targets)
        seg = segmentation_loss(losses)
        optimizer.zero_grad()
        total_loss(losses).backward()
        model.sync_classification_branch(seg.item())
        optimizer.step()
        history.append((seg.item(), losses["loss_classification"].item()))
    first_seg, first_cls = history[0]
    last_seg = min(h[0] for h in history[-5:])
    last_cls = min(h[1] for h in history[-5:])
    assert last_seg < 0.6 * first_seg, history
    assert last_cls < 0.5 * first_cls, history


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnext50_32x4d", "resnext101_32x8d"])
def test_every_backbone_builds(name):
    backbone = build_backbone(BackboneConfig(name=name, out_channels=16))
    features = backbone(torch.rand(1, 3, 64, 64))
    assert list(features) == ["0", "1", "2", "3", "pool"]
    assert all(f.shape[1] == 16 for f in features.values())


def test_c5_only_fpn():
    backbone = build_backbone(BackboneConfig(name="resnet18", fpn_levels="c5", out_channels=16))
    features = backbone(torch.rand(1, 3, 64, 64))
    assert list(features) == ["0"] and features["0"].shape == (1, 16, 2, 2)
    model = make_model(backbone=BackboneConfig(name="resnet18", fpn_levels="c5", out_channels=32), anchor_sizes=(8, 16, 32))
    with torch.no_grad():
        assert model.eval()([torch.rand(3, 64, 64)])[0]["class_logits"].shape == (3,)


def test_local_backbone_weights(tmp_path: Path):
    source = torchvision.models.resnet18()
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    backbone = build_backbone(BackboneConfig(name="resnet18", weights=str(tmp_path / "resnet18.pth"), out_channels=16))
    assert torch.equal(backbone.body.conv1.weight, source.conv1.weight)
