"""Baselines of Tables 1-2: registry contract, affinity maths, frozen heads-only parts,
classifier inputs and weights, and a short engine run + evaluation."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from conftest import segmentation_target, tiny_model_config
from engine_fixtures import toy_bundle, toy_config
from lstmattn.config import ExperimentConfig, ModelConfig, get_profile
from lstmattn.engine.results import evaluate_run
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.trainer import train
from lstmattn.errors import ConfigError
from lstmattn.losses import CLASSIFICATION_LOSS_NAME, SEGMENTATION_LOSS_NAMES
from lstmattn.model import ONE_SHOT, available_models, create
from lstmattn.model.affinity import AffinityLayer, OneShotAffinity, affinity
from lstmattn.model.baselines import AFFINITY, CLASSIFIERS, MASK_RCNN, MASK_RCNN_HEADS_ONLY
from lstmattn.model.classifiers import ImageClassifier, build_classifier_network

CLASSIFIER_SIZE = 32


def experiment(name: str, **model_overrides) -> ExperimentConfig:
    model = tiny_model_config(**{"classifier_image_size": CLASSIFIER_SIZE, **model_overrides})
    return replace(get_profile("quick"), model_name=name, model=model)


def build(name: str, **model_overrides) -> nn.Module:
    torch.manual_seed(0)
    return create(name, experiment(name, **model_overrides))


def training_batch(model: nn.Module) -> tuple[list[torch.Tensor], list[dict]]:
    images, targets = [], []
    if "segmentation" in model.tasks:
        images.append(torch.rand(3, 64, 64))
        targets.append({**segmentation_target(), "file": "seg.png"})
    if "classification" in model.tasks:
        images += [torch.rand(3, 64, 64), torch.rand(3, 48, 56)]
        targets += [{"image_label": torch.tensor(1)}, {"image_label": torch.tensor(2)}]
    return images, targets


def test_registry_holds_every_baseline():
    names = set(available_models())
    assert {ONE_SHOT, AFFINITY, MASK_RCNN, MASK_RCNN_HEADS_ONLY, *CLASSIFIERS.values()} <= names
    assert len(CLASSIFIERS) == 7
    expected_tasks = {
        AFFINITY: {"segmentation", "classification"},
        MASK_RCNN: {"segmentation"},
        MASK_RCNN_HEADS_ONLY: {"segmentation"},
        CLASSIFIERS["densenet121"]: {"classification"},
    }
    for name, tasks in expected_tasks.items():
        assert build(name).tasks == tasks, name


@pytest.mark.parametrize("name", available_models())
def test_every_model_trains_and_evaluates_on_tiny_input(name: str):
    model = build(name).train()
    images, targets = training_batch(model)
    losses = model(images, targets)
    expected = set()
    if "segmentation" in model.tasks:
        expected |= set(SEGMENTATION_LOSS_NAMES)
    if "classification" in model.tasks:
        expected.add(CLASSIFICATION_LOSS_NAME)
    assert set(losses) == expected
    assert all(value.ndim == 0 and torch.isfinite(value) for value in losses.values())
    torch.stack(list(losses.values())).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters() if p.requires_grad)

    model.eval()
    eval_images = [torch.rand(3, 64, 64), torch.rand(3, 72, 60)]
    with torch.no_grad():
        outputs = model(eval_images)
    assert len(outputs) == 2
    for image, output in zip(eval_images, outputs):
        if "classification" in model.tasks:
            assert output["class_logits"].shape == output["class_probs"].shape == (3,)
            assert output["predicted_class"].item() == output["class_logits"].argmax().item()
            if name != ONE_SHOT:  # softmax baselines
                assert torch.allclose(output["class_probs"], F.softmax(output["class_logits"], dim=-1))
        if "segmentation" in model.tasks:
            detections = output["boxes"].shape[0]
            assert output["boxes"].shape == (detections, 4)
            assert output["labels"].shape == output["scores"].shape == (detections,)
            assert output["masks"].shape == (detections, 1, *image.shape[-2:])


def test_affinity_hand_built_example():
    """F = W1ᵀX (A×C), v = Fᵀw2 (C×1), against explicit sums."""
    x = torch.tensor([[[1.0, 2.0, 0.0, -1.0], [0.0, 1.0, 3.0, 2.0], [2.0, -1.0, 1.0, 0.5]]])  # B=1, β=3, C=4
    w1 = torch.tensor([[1.0, 0.0], [2.0, -1.0], [0.5, 1.0]])  # β×A, A=2
    w2 = torch.tensor([[3.0], [-2.0]])  # A×1
    f = w1.T @ x[0]  # A×C
    assert torch.allclose(f, torch.tensor([[2.0, 3.5, 6.5, 3.25], [2.0, -2.0, -2.0, -1.5]]))
    v = f.T @ w2  # C×1
    expected = torch.tensor([[2.0, 14.5, 23.5, 12.75]])
    assert torch.allclose(v.T, expected)
    assert torch.allclose(affinity(x, w1, w2), expected)
    batch = torch.cat([x, 2 * x])
    assert torch.allclose(affinity(batch, w1, w2), torch.cat([expected, 2 * expected]))
    with pytest.raises(ValueError, match="β"):
        affinity(torch.rand(1, 5, 4), w1, w2)


def test_affinity_layer_shapes_follow_config():
    model = build(AFFINITY, roi_batch_size=4, affinity_count=8)
    assert isinstance(model.attention, AffinityLayer)
    assert model.attention.w1.shape == (4, 8) and model.attention.w2.shape == (8, 1)
    layer = AffinityLayer(32, beta=4, affinities=3)
    assert layer(torch.rand(2, 4, 32, 28, 28)).shape == (2, 32)
    assert get_profile("paper").model.affinity_count == 8 and get_profile("paper").model.roi_batch_size == 16


def test_affinity_model_confidence_order_loss_and_weight_copy():
    model = build(AFFINITY, roi_order="distance")
    assert isinstance(model, OneShotAffinity)
    assert model.roi_classification.order == "confidence"
    assert not hasattr(model, "positive_head") and not hasattr(model, "negative_head")
    assert model.sync_classification_branch(1.0) is True
    assert model.sync_classification_branch(2.0) is False  # "best" policy: no improvement
    # The head's logits fixed to known numbers: loss and probabilities by hand.
    model.head = _FixedLogits(torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]]))
    model.eval()
    images, labels = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)], torch.tensor([0, 2])
    with torch.no_grad():
        outputs = model(images)
        loss = model.classification_loss(images, labels)
    # Cross-entropy: mean over images of log Σ_k exp(logit_k) − logit_label.
    expected = ((math.log(math.exp(2) + 1 + math.exp(-1)) - 2) + (math.log(1 + math.e + math.exp(3)) - 3)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    first = [math.exp(2), 1.0, math.exp(-1)]
    assert outputs[0]["class_probs"].tolist() == pytest.approx([v / sum(first) for v in first], rel=1e-6)
    assert [int(o["predicted_class"]) for o in outputs] == [0, 2]


class _FixedLogits(nn.Module):
    """A classification head that returns the same logits whatever its input."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits[: features.shape[0]]


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: nn.Module) -> set[str]:
    return {key for key, value in module.state_dict().items() if not torch.equal(before[key], value)}


def _step(model: nn.Module) -> None:
    model.train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    losses = model(images, [segmentation_target(), segmentation_target()])
    optimizer.zero_grad()
    torch.stack(list(losses.values())).sum().backward()
    optimizer.step()


def test_heads_only_leaves_backbone_and_rpn_unchanged():
    model = build(MASK_RCNN_HEADS_ONLY)
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert not any(p.requires_grad for p in model.rpn.parameters())
    assert all(p.requires_grad for p in model.roi_heads.parameters())
    model.train()
    assert not any(m.training for m in model.backbone.modules()) and model.roi_heads.training
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.backbone.modules())
    backbone, rpn, heads = _snapshot(model.backbone), _snapshot(model.rpn), _snapshot(model.roi_heads)
    _step(model)
    assert _changed(backbone, model.backbone) == set()  # parameters and BatchNorm buffers
    assert _changed(rpn, model.rpn) == set()
    assert _changed(heads, model.roi_heads)

    full = build(MASK_RCNN)  # control: the full model does update its backbone and BN statistics
    backbone = _snapshot(full.backbone)
    _step(full)
    changed = _changed(backbone, full.backbone)
    assert any(key.endswith("running_mean") for key in changed) and any(key.endswith("weight") for key in changed)


def test_classifier_input_size_and_preprocessing():
    model = build(CLASSIFIERS["resnet18"], classifier_image_size=None)
    assert model.image_size == 64  # defaults to model.image_size
    model = build(CLASSIFIERS["resnet18"])
    assert model.image_size == CLASSIFIER_SIZE
    batch = model.preprocess([torch.rand(3, 64, 64) * 0.5 + 0.2, torch.rand(3, 50, 90)])
    assert batch.shape == (2, 3, CLASSIFIER_SIZE, CLASSIFIER_SIZE)
    assert batch.mean(dim=(-2, -1)).abs().max() < 0.1  # standardised before resizing
    with pytest.raises(ValueError, match="image_label"):
        model.train()([torch.rand(3, 64, 64)], [segmentation_target()])


def test_classifier_flip_crop_augmentation_only_while_training():
    plain = build(CLASSIFIERS["resnet18"], classifier_augmentation="none").train()
    augmented = build(CLASSIFIERS["resnet18"], classifier_augmentation="flip_crop")
    image = torch.zeros(3, 64, 64)
    image[:, :, :32] = 1.0  # bright left half
    image[:, 20:24, :] += 0.3  # a band that a crop moves
    assert torch.equal(augmented.eval().preprocess([image]), plain.preprocess([image]))
    torch.manual_seed(0)
    batch = augmented.train().preprocess([image] * 40)
    left, right = batch[..., : CLASSIFIER_SIZE // 2].mean(dim=(1, 2, 3)), batch[..., CLASSIFIER_SIZE // 2 :].mean(dim=(1, 2, 3))
    flipped = (left < right).sum().item()
    assert 10 <= flipped <= 30  # left-right flips with probability 1/2
    assert len({tuple(row.flatten()[:200].tolist()) for row in batch}) > 30  # crops differ from image to image
    with pytest.raises(ConfigError, match="classifier_augmentation"):
        ModelConfig(classifier_augmentation="rotate")


def _last_block_norm_scales(network: nn.Module) -> torch.Tensor:
    """The scales of the last BatchNorm of every residual block (``bn3`` of a
    ``Bottleneck``, ``bn2`` of a ``BasicBlock``), concatenated."""
    blocks = [block for layer in (network.layer1, network.layer2, network.layer3, network.layer4) for block in layer]
    return torch.cat([(block.bn3 if hasattr(block, "bn3") else block.bn2).weight for block in blocks])


def test_classifier_zero_init_only_for_bottleneck_blocks():
    assert ModelConfig().classifier_zero_init_bottleneck  # on unless a config turns it off
    resnet50 = build(CLASSIFIERS["resnet50"]).network
    assert torch.count_nonzero(_last_block_norm_scales(resnet50)) == 0
    assert torch.count_nonzero(resnet50.bn1.weight) == resnet50.bn1.weight.numel()  # only the blocks' last scales
    default_init = build(CLASSIFIERS["resnet50"], classifier_zero_init_bottleneck=False).network
    assert torch.all(_last_block_norm_scales(default_init) == 1)
    resnet18 = build(CLASSIFIERS["resnet18"]).network  # basic blocks keep torchvision's initialisation
    assert torch.all(_last_block_norm_scales(resnet18) == 1)
    assert build(CLASSIFIERS["densenet121"]).network.features.norm5.weight.min() == 1


def test_classifier_weights_from_local_file(tmp_path: Path):
    torch.manual_seed(1)
    imagenet = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(imagenet.state_dict(), path)
    model = ImageClassifier("resnet18", num_classes=3, image_size=32, weights=str(path))
    assert torch.equal(model.network.conv1.weight, imagenet.conv1.weight)
    assert model.network.fc.out_features == 3
    with pytest.raises(ConfigError, match="do not fit"):
        ImageClassifier("resnet34", num_classes=3, image_size=32, weights=str(path))
    with pytest.raises(ConfigError, match="neither a file"):
        build_classifier_network("densenet121", 3, "NO_SUCH_WEIGHTS")
    with pytest.raises(ConfigError, match="architecture"):
        build_classifier_network("vgg16", 3)


def test_baseline_config_fields_are_validated():
    assert ModelConfig().affinity_count == 8 and ModelConfig().classifier_image_size is None
    with pytest.raises(ConfigError, match="affinity_count"):
        ModelConfig(affinity_count=0)
    with pytest.raises(ConfigError, match="classifier_image_size"):
        ModelConfig(classifier_image_size=16)


@pytest.mark.parametrize(
    "name, files",
    [
        (AFFINITY, {"test_metrics", "test_predictions", "segmentation_test", "segmentation_test_slices",
                    "feature_reference"}),  # predict runs it
        (CLASSIFIERS["resnet18"], {"test_metrics", "test_predictions"}),
        (MASK_RCNN, {"segmentation_test", "segmentation_test_slices"}),
    ],
)
def test_engine_trains_and_evaluates_baseline(tmp_path: Path, name: str, files: set[str]):
    config = replace(toy_config(max_steps=2), model_name=name)
    run = RunDirectory(tmp_path / name)
    state = train(config, run, data=toy_bundle(), progress=False, device="cpu")
    assert state.step == 2
    written = evaluate_run(run, data=toy_bundle(), device="cpu", n_resamples=20, progress=False)
    assert set(written) == files
    if "test_metrics" in files:
        metrics = json.loads(written["test_metrics"].read_text())
        assert metrics["model"] == name and metrics["n"] == 3 and "f1" in metrics["metrics"]
    if "segmentation_test" in files:
        segmentation = json.loads(written["segmentation_test"].read_text())
        assert segmentation["model"] == name and "per_image/lesions" in segmentation["ap"]
