"""The one-shot model: output contract, Eq. 1-7, §3.6 RoI selection and weight copy (with its
smoothing), the §3.7.1 vectoriser, proposals per mode, gradient routing, overfit."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import segmentation_target, tiny_model_config
from lstmattn.config import BackboneConfig
from lstmattn.losses import SEGMENTATION_LOSS_NAMES, segmentation_loss, total_loss
from lstmattn.model import OneShotLSTMAttention
from lstmattn.model.attention import LSTMAttention, MaskSieve, RoIVectoriser, attend, pool_uniformly
from lstmattn.model.backbone import build_backbone
from lstmattn.model.roi_classification import padding_indices, select_rois


def make_model(**overrides) -> OneShotLSTMAttention:
    torch.manual_seed(0)
    return OneShotLSTMAttention(tiny_model_config(**overrides))


def test_eval_output_contract():
    model = make_model(roi_order="confidence").eval()
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


def test_evaluation_pools_the_proposals_once_and_classifies_as_the_classification_path():
    """The evaluation pass hands the segmentation box head's RoIAlign output to the RoI
    classification branch: one pooling call, and the same Δ as the classification path
    (which pools for itself)."""
    model = make_model(roi_order="confidence").eval()
    images = [torch.rand(3, 64, 64), torch.rand(3, 80, 70)]
    calls = []
    hook = model.roi_heads.box_roi_pool.register_forward_hook(lambda _pool, _inputs, output: calls.append(output.shape))
    with torch.no_grad():
        outputs = model(images)
        hook.remove()
        pooled_again = model._classify_images(images).delta
    assert len(calls) == 1 and calls[0][0] > 0
    assert torch.equal(torch.stack([output["class_logits"] for output in outputs]), pooled_again)


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


def test_mean_pooling_replaces_eq_4_5_by_uniform_weights():
    """The `attention_pooling=mean` ablation: α_k = 1/β and o' = z + mean_k h_k."""
    torch.manual_seed(0)
    layer = LSTMAttention(input_size=5, hidden_size=4, pooling="mean")
    sequence = torch.randn(2, 6, 5)
    output, alpha = layer(sequence)
    hidden_states, (last, _) = layer.lstm(sequence)
    assert torch.allclose(alpha, torch.full((2, 6), 1 / 6))
    assert torch.allclose(output, layer.linear(last[-1]) + hidden_states.mean(1), atol=1e-6)
    hand, weights = pool_uniformly(torch.tensor([[[1.0, 0.0], [0.0, 2.0]]]), torch.tensor([[1.0, 1.0]]))
    assert hand.tolist() == [[1.5, 2.0]] and weights.tolist() == [[0.5, 0.5]]
    with pytest.raises(ValueError, match="pooling"):
        LSTMAttention(5, 4, pooling="max")


def test_one_branch_ablation_has_no_negative_weights_and_delta_is_the_positive_logits():
    model = make_model(negative_branch=False).eval()
    assert model.attention.negative is None and model.negative_head is None
    assert not any(name.startswith(("negative_head", "attention.negative")) for name, _ in model.named_parameters())
    with torch.no_grad():
        output = model.classify(*_classification_inputs(model))
    assert torch.equal(output.delta, output.positive_logits)
    assert torch.equal(output.negative_logits, torch.zeros_like(output.positive_logits))
    beta = model.config.roi_batch_size
    assert torch.allclose(output.attention.alpha_negative, torch.full_like(output.attention.alpha_negative, 1 / beta))
    trained = make_model(negative_branch=False).train()
    loss = trained([torch.rand(3, 64, 64)], [{"image_label": torch.tensor(1)}])["loss_classification"]
    loss.backward()
    assert all(p.grad is not None for p in trained.positive_head.parameters())


def _classification_inputs(model: OneShotLSTMAttention):
    image_list, _ = model.transform([torch.rand(3, 64, 64), torch.rand(3, 64, 64)])
    features = model.backbone(image_list.tensors)
    return image_list, features, model.rpn.propose(image_list, features)


def test_no_sieve_ablation_is_the_identity_before_the_vectoriser():
    model = make_model(sieve_blocks=0)
    x = torch.randn(2, model.backbone.out_channels, 28, 28)
    assert len(model.attention.sieve.blocks) == 0 and torch.equal(model.attention.sieve(x), x)


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


# ---------------------------------------------------------------- §3.6 RoI selection
A, B, C = [0.0, 0.0, 10.0, 10.0], [5.5, 0.0, 15.5, 10.0], [7.0, 0.0, 17.0, 10.0]  # IoU(A,B) 0.29, IoU(A,C) 0.18


def _candidates() -> tuple[torch.Tensor, torch.Tensor]:
    """Four proposals × (background, class 1, class 2); each proposal's class-specific
    boxes are the same box. Class 1: A 0.9, B 0.8, C 0.7; class 2: A 0.6."""
    boxes = torch.tensor([A, B, C, A])[:, None, :].repeat(1, 3, 1)
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.3, 0.7, 0.0], [0.4, 0.0, 0.6]])
    return boxes, scores


def _select(theta: float = 0.05, nms: float = 0.25, beta: int = 8, order: str = "confidence"):
    boxes, scores = _candidates()
    return select_rois(boxes, scores, (100, 100), beta=beta, score_thresh=theta, nms_thresh=nms, order=order)


def test_roi_selection_classwise_nms_at_0_25_and_padding():
    boxes, scores, labels, distinct = _select()
    # B overlaps A of the same class by IoU 0.29 > 0.25: suppressed; C (0.18) stays; A of
    # class 2 stays although it is A (NMS is per class).
    assert distinct == 3
    assert boxes.tolist() == [A, A, A, C, C, C, A, A]  # padding_indices(3, 8) = 0,0,0,1,1,1,2,2
    assert labels.tolist() == [1, 1, 1, 1, 1, 1, 2, 2]
    assert scores.tolist() == pytest.approx([0.9] * 3 + [0.7] * 3 + [0.6] * 2)
    assert B in _select(nms=0.5)[0].tolist()  # at torchvision's usual 0.5, B would survive


def test_roi_selection_applies_theta():
    # θ = −0.01 accepts even the zero-score candidates (class 2 of C survives NMS); 0.05
    # drops them; 0.65 also drops A of class 2 (0.6).
    assert [_select(theta=theta)[3] for theta in (-0.01, 0.05, 0.65)] == [4, 3, 2]
    boxes, scores, _, _ = _select(theta=0.65)
    assert scores.min() > 0.65 and {tuple(b) for b in boxes.tolist()} == {tuple(A), tuple(C)}


def test_roi_selection_keeps_the_top_beta_in_confidence_order():
    generator = torch.Generator().manual_seed(0)
    positions = torch.arange(20.0) * 12  # 20 disjoint boxes of class 1
    boxes = torch.stack([positions, torch.zeros(20), positions + 10, torch.full((20,), 10.0)], 1)[:, None].repeat(1, 2, 1)
    confidence = torch.rand(20, generator=generator)
    scores = torch.stack([1 - confidence, confidence], 1)
    chosen, chosen_scores, _, distinct = select_rois(boxes, scores, (20, 240), beta=16, score_thresh=-0.01,
                                                     nms_thresh=0.25, order="confidence")
    assert distinct == 16
    assert chosen_scores.tolist() == pytest.approx(confidence.sort(descending=True).values[:16].tolist())
    assert chosen[:, 0].tolist() == positions[confidence.argsort(descending=True)[:16]].tolist()


def test_roi_selection_distance_order_sorts_the_padded_sequence():
    boxes, _, labels, _ = _select(order="distance")
    assert boxes.tolist() == [A, A, A, A, A, C, C, C]  # distances 0,0,0 (A/1), 0,0 (A/2), 7,7,7 (C)
    assert labels.tolist() == [1, 1, 1, 2, 2, 1, 1, 1]


def test_roi_selection_shuffled_order_permutes_the_sequence_and_draws_from_torch():
    reference = _select(order="confidence")
    torch.manual_seed(1)
    first = _select(order="shuffled")
    torch.manual_seed(1)
    again = _select(order="shuffled")
    assert torch.equal(first[0], again[0]), "the order comes from torch's generator"
    assert sorted(map(tuple, first[0].tolist())) == sorted(map(tuple, reference[0].tolist()))
    assert sorted(first[1].tolist()) == sorted(reference[1].tolist()) and first[3] == reference[3]
    orders = set()
    for seed in range(6):
        torch.manual_seed(seed)
        orders.add(tuple(map(tuple, _select(order="shuffled")[0].tolist())))
    assert len(orders) > 1, "a fresh order on every call"


def test_roi_selection_of_an_empty_image_is_the_whole_image():
    for boxes, scores in ((torch.zeros(0, 3, 4), torch.zeros(0, 3)), _candidates()):
        chosen, chosen_scores, labels, distinct = select_rois(boxes, scores, (60, 80), beta=4, score_thresh=0.99,
                                                              nms_thresh=0.25, order="distance")
        assert chosen.tolist() == [[0.0, 0.0, 80.0, 60.0]] * 4
        assert chosen_scores.tolist() == [0.0] * 4 and labels.tolist() == [0] * 4 and distinct == 1


# ---------------------------------------------------------------- §3.7.1 vectoriser
def test_vectoriser_reduces_28_by_28_to_1_by_1_with_2_2_7_kernels():
    vectoriser = RoIVectoriser(8)
    convolutions = [m for m in vectoriser.layers if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convolutions] == [((2, 2), (2, 2)), ((2, 2), (2, 2)), ((7, 7), (1, 1))]
    sizes = []
    for convolution in convolutions:
        convolution.register_forward_hook(lambda module, inputs, output: sizes.append(tuple(output.shape[-2:])))
    output = vectoriser(torch.randn(5, 8, 28, 28))
    assert sizes == [(14, 14), (7, 7), (1, 1)]
    assert output.shape == (5, 8)  # β×C×28×28 → β×C
    with pytest.raises(ValueError, match="28"):
        vectoriser(torch.randn(5, 8, 14, 14))


# ---------------------------------------------------------------- §3.6 weight copy
COPIED = ("box_head", "box_predictor", "mask_head")


def test_weight_copy_covers_every_copied_module():
    model = make_model()
    branch, heads = model.roi_classification, model.roi_heads
    pairs = {name: (getattr(branch, name), getattr(heads, name)) for name in COPIED}
    pairs["mask_predictor"] = (branch.mask_upsampler.conv5_mask, heads.mask_predictor.conv5_mask)
    # The branch holds nothing but these copies (and its loss reference).
    copied = {f"{'mask_upsampler.conv5_mask' if name == 'mask_predictor' else name}.{key}"
              for name, (target, _) in pairs.items() for key in target.state_dict()}
    assert set(branch.state_dict()) - {"reference_loss"} == copied
    model.sync_classification_branch(10.0)
    for _, source in pairs.values():
        _perturb(source)
    for name, (target, source) in pairs.items():
        assert any(not torch.equal(t, s) for t, s in zip(target.state_dict().values(), source.state_dict().values())), name
    assert model.sync_classification_branch(5.0)
    for name, (target, source) in pairs.items():
        for key, value in source.state_dict().items():
            assert torch.equal(target.state_dict()[key], value), f"{name}.{key}"


@pytest.mark.parametrize("policy, reference", [("best", 4.725), ("previous", 4.8)])
def test_smoothed_weight_copy_compares_epoch_means(policy, reference):
    """``epoch_mean``: running mean of the epoch so far vs the best (previous) epoch mean."""
    model = make_model(weight_copy_policy=policy, weight_copy_smoothing="epoch_mean")
    losses = [[5.0, 6.0, 4.0], [4.0, 7.0, 4.9, 3.0], [4.8]]  # epoch means 5.0, 4.725, 4.8
    copies = []
    for epoch in losses:
        copies.append([model.sync_classification_branch(loss) for loss in epoch])
        model.end_epoch()
    # Epoch 0 against +inf; epoch 1's running means 4, 5.5, 5.3, 4.725 against 5.0;
    # epoch 2's 4.8 against 4.725. The reference then stays 4.725 ("best") or becomes
    # the last epoch's mean ("previous").
    assert copies == [[True, True, True], [True, False, False, True], [False]]
    state = model.state_dict()
    assert state["roi_classification.reference_loss"].item() == pytest.approx(reference)
    assert state["roi_classification.epoch_loss_count"].item() == 0
    plain = make_model()
    assert [plain.sync_classification_branch(loss) for loss in losses[1]] == [True, False, False, True]
    assert "roi_classification.epoch_loss_count" not in plain.state_dict()


# ---------------------------------------------------------------- §3.6 proposals
def test_classification_path_takes_train_proposals_in_training_and_test_proposals_at_inference():
    counts = dict(rpn_pre_nms_top_n_train=200, rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_train=40,
                  rpn_post_nms_top_n_test=24, rpn_nms_thresh=1.0)
    for batchnorm in ("eval", "train"):
        model = make_model(batchnorm_at_inference=batchnorm, **counts)
        sizes: list[list[int]] = []
        propose = model.rpn.propose

        def recording(images, features, propose=propose):
            proposals = propose(images, features)
            sizes.append([len(p) for p in proposals])
            return proposals

        model.rpn.propose = recording
        model.train()([torch.rand(3, 64, 64)], [{"image_label": torch.tensor(1)}])
        with torch.no_grad():
            model.eval()([torch.rand(3, 64, 64)])
        assert sizes == [[40], [24]], batchnorm


def test_classification_augmentation_crops_and_flips_classification_images_only_while_training(monkeypatch):
    import lstmattn.model.one_shot as one_shot

    seen = []
    monkeypatch.setattr(one_shot, "random_flip_crop", lambda image: seen.append(image.shape) or image.flip(-1))
    model = make_model(classification_augmentation="flip_crop").train()
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    model(images, [{"image_label": torch.tensor(1)}, {"image_label": torch.tensor(0)}])
    assert seen == [(3, 64, 64)] * 2
    model(images[:1], [segmentation_target()])  # segmentation images are never augmented
    assert len(seen) == 2
    model.eval()
    with torch.no_grad():
        model.classification_loss(images, torch.tensor([1, 0]))
    assert len(seen) == 2, "no augmentation outside training"
    assert make_model().config.classification_augmentation == "none"
