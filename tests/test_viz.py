"""The visual layer: hook-based walk-through (its Δ equals the model's output), colours
defined once, the chapters' figures and tables, package data of the static viewer."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import PROJECT_ROOT, tiny_model_config
from engine_fixtures import toy_bundle
from lstmattn.data.phantom import PhantomConfig
from lstmattn.model.affinity import OneShotAffinity
from lstmattn.model.one_shot import OneShotLSTMAttention
from lstmattn.viz.attention import explain_slice, gallery_items
from lstmattn.viz.hooks import HOOKED_STAGES, trace_forward
from lstmattn.viz.walkthrough import walk_through
from lstmattn.viz.attention_figures import gallery_table, plot_attention_slice
from lstmattn.viz.data_figures import data_counts, plot_phantom_gallery, plot_segmentation_examples
from lstmattn.viz.model_figures import parameter_table, plot_roi_sequence
from lstmattn.viz.overlays import png_bytes, rgb_png_bytes
from lstmattn.viz.segmentation import plot_segmentation_predictions, segmentation_examples
from lstmattn.viz.style import BRANCH_COLOURS, branch_hex, label_colormap, label_rgba8


@pytest.fixture(scope="module")
def model() -> OneShotLSTMAttention:
    torch.manual_seed(0)
    return OneShotLSTMAttention(tiny_model_config()).eval()


def _item(seed: int = 0, label: int = 2):
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(seed))
    return image, {"image_label": torch.tensor(label), "file": f"toy/slice{seed}.png"}


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(module._forward_hooks) for module in model.modules())


@pytest.mark.parametrize("batchnorm_at_inference", ["eval", "train"])
def test_walk_through_logits_are_the_model_output(batchnorm_at_inference: str):
    """The walk-through's Δ, captured by a forward hook, equals a fresh model([image]) output;
    the walk-through leaves the model's weights and hooks as they were."""
    torch.manual_seed(0)
    model = OneShotLSTMAttention(tiny_model_config(batchnorm_at_inference=batchnorm_at_inference)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    image, target = _item(3)
    walk = walk_through(model, (image, target))
    assert _hooks(model) == 0
    with torch.no_grad():  # as the walk-through runs (autograd may pick other kernels)
        output = model([image])[0]["class_logits"]
    assert torch.equal(walk.final_logits, output.cpu())
    assert walk.logit_gap(model) == 0.0
    after = model.state_dict()
    assert all(torch.equal(value, after[key]) for key, value in before.items())

    trace = walk.trace
    beta, channels = model.config.roi_batch_size, model.backbone.out_channels
    table = walk.table.set_index("stage")
    assert table.loc["RoI sequence X", "shape"] == f"{beta} × {channels} × 28 × 28"
    assert table.loc["vectorised sequence", "shape"] == f"{beta} × {channels}"
    assert table.loc["α (POS)", "shape"] == str(beta) and table.loc["Δ = h(x_POS) − h(x_NEG)", "paper"] == "Eq. 9"
    # the hooks saw the tensors the output reports
    assert torch.equal(trace.alpha("positive")[0], trace.output["attention"]["alpha_pos"])
    assert torch.equal(trace.delta, trace.head_logits("positive") - trace.head_logits("negative"))
    assert trace.sequence.shape == (1, beta, channels) and trace.hidden_states("negative").shape[:2] == (1, beta)
    np.testing.assert_array_equal(walk.explanation.alpha_neg, trace.output["attention"]["alpha_neg"].numpy())
    assert walk.explanation.label_name == "COVID-19"


def test_trace_needs_the_one_shot_stages(model: OneShotLSTMAttention):
    trace = trace_forward(model, _item(1)[0])
    assert set(trace.stages) == set(HOOKED_STAGES)
    with pytest.raises(ValueError, match="branch"):
        trace.alpha("both")
    with pytest.raises(ValueError, match="one-shot model"):
        explain_slice(OneShotAffinity(tiny_model_config()).eval(), _item(1))


def test_colours_are_defined_once():
    cmap = label_colormap()
    assert cmap(0)[3] == 0 and cmap(1)[3] == 0 and cmap(2)[3] > 0 and cmap(3)[3] > 0
    assert label_colormap(lungs=True)(1)[3] > 0
    assert label_rgba8(0) == (0, 0, 0, 0) and label_rgba8(2)[:3] == (255, 215, 0)
    assert branch_hex("positive") == "#{:02x}{:02x}{:02x}".format(*BRANCH_COLOURS["positive"])


def test_chapter_2_and_6_figures(model: OneShotLSTMAttention, tmp_path: Path):
    items = gallery_items(toy_bundle().classification_test, per_class=1)
    explanations = [explain_slice(model, item) for item in items]
    figure = plot_attention_slice(explanations, phantom=True)
    assert len(figure.axes) == 3 * len(items) and "not patient data" in figure._suptitle.get_text()
    assert len(plot_roi_sequence(explanations[0]).axes) == 2 + model.config.roi_batch_size

    csv = tmp_path / "test_predictions.csv"
    pd.DataFrame(
        [{"file": e.source, "label": e.label, "predicted": e.predicted, **{f"prob_{n}": 0.5 for n in e.class_names}} for e in explanations]
    ).to_csv(csv, index=False)
    table = gallery_table(explanations, csv)
    assert list(table["file"]) == [e.source for e in explanations]
    assert table["max α POS"].tolist() == pytest.approx([float(e.alpha_pos.max()) for e in explanations])

    parameters = parameter_table(model).set_index("component")
    assert parameters.loc["whole model", "parameters"] == sum(p.numel() for p in model.parameters())


def test_chapter_1_and_3_figures(model: OneShotLSTMAttention):
    bundle = toy_bundle()
    assert data_counts(bundle)["slices"].tolist()[:3] == [4, 3, 3]
    assert len(plot_segmentation_examples(bundle.segmentation_test, n=2, columns=2).axes) == 2
    gallery = plot_phantom_gallery(2, config=PhantomConfig(image_size=128))
    assert len(gallery.axes) == 6 and "not patient data" in gallery._suptitle.get_text()

    examples = segmentation_examples(model, n=2, dataset=bundle.segmentation_test, score_threshold=0.0)
    assert len(examples) == 2
    prediction, truth = examples[0]
    assert truth.shape == prediction.image.shape and set(np.unique(truth)) <= {0, 2, 3} and (truth == 2).any()
    assert len(plot_segmentation_predictions(examples).axes) == 6
    with pytest.raises(ValueError, match="needs a dataset"):
        segmentation_examples(model)


def test_viewer_assets_are_package_data():
    """The static viewer's script and styles ship in wheels and editable installs."""
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["lstmattn.viz"]
    assets = PROJECT_ROOT / "lstmattn" / "viz" / "assets"
    for name in ("viewer.js", "viewer.css"):
        assert (assets / name).is_file() and any((assets / name).match(pattern) for pattern in patterns)


@pytest.mark.parametrize("compress_level", [0, 1, 2, 3])
def test_rgb_png_bytes_decodes_to_the_same_pixels_as_pillows_png(compress_level: int) -> None:
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    rgb[1::2] = 255 - rgb[::2][: len(rgb[1::2])]  # row differences that wrap around 0 and 255
    rgb[5:9] = 0
    encoded = rgb_png_bytes(rgb, compress_level=compress_level)
    decoded = Image.open(io.BytesIO(encoded))
    assert decoded.format == "PNG" and decoded.mode == "RGB" and decoded.size == (53, 37)
    np.testing.assert_array_equal(np.asarray(decoded), rgb)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(Image.fromarray(rgb))))), rgb)
    with pytest.raises(ValueError, match="uint8"):
        rgb_png_bytes(rgb.astype(np.float32))



# --------------------------------------------------------------------------- α on lesions
def test_rois_on_lesions_match_at_iou_one_half_and_entropy_is_normalised():
    from lstmattn.viz.attention_lesions import alpha_entropy, rois_on_lesions

    rois = np.array([[0, 0, 10, 10], [0, 0, 10, 20], [50, 50, 60, 60], [0, 0, 10, 10]], dtype=np.float32)
    lesions = np.array([[0, 0, 10, 10]], dtype=np.float32)
    assert rois_on_lesions(rois, lesions).tolist() == [True, True, False, True]  # IoU 1, 0.5, 0, 1
    assert rois_on_lesions(rois, np.zeros((0, 4), dtype=np.float32)).tolist() == [False] * 4
    assert alpha_entropy(np.full(16, 1 / 16)) == pytest.approx(1.0)
    assert alpha_entropy(np.eye(16)[3]) == pytest.approx(0.0, abs=1e-9)


def test_attention_on_lesions_reports_shares_against_uniform_per_class():
    from conftest import tiny_model_config
    from lstmattn.model import OneShotLSTMAttention
    from lstmattn.data.phantom_slice import phantom_class_name
    from lstmattn.viz.attention_lesions import attention_on_lesions, summarise_attention_on_lesions

    torch.manual_seed(0)
    model = OneShotLSTMAttention(tiny_model_config(roi_order="confidence")).eval()
    whole = {"boxes": torch.tensor([[0.0, 0.0, 64.0, 64.0]]), "labels": torch.tensor([2]), "file": "PH520001_3.png"}
    none = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "file": "PH500002_4.png"}
    items = [(torch.rand(3, 64, 64), whole), (torch.rand(3, 64, 64), none)]
    per_slice = attention_on_lesions(model, items, class_of=phantom_class_name, iou=0.0)
    assert list(per_slice["class"]) == ["COVID-19", "Normal"]
    first, second = per_slice.iloc[0], per_slice.iloc[1]
    assert first["RoIs on a lesion"] == model.config.roi_batch_size and first["uniform share"] == pytest.approx(1.0)
    assert first["α POS share"] == pytest.approx(1.0, abs=1e-5) and first["α NEG share"] == pytest.approx(1.0, abs=1e-5)
    assert second["RoIs on a lesion"] == 0 and second["α POS share"] == 0.0
    assert 0.0 <= first["entropy α POS"] <= 1.0
    summary = summarise_attention_on_lesions(per_slice).set_index("class")
    assert list(summary.index) == ["COVID-19", "Normal", "all"]
    assert summary.loc["all", "slices"] == 2 and summary.loc["all", "slices with an RoI on a lesion"] == 1
    assert np.isnan(summary.loc["Normal", "mean α POS share"])


def test_share_text_says_when_no_slice_had_an_roi_on_a_lesion():
    from lstmattn.viz.attention_lesions import share_text

    assert share_text(0.12345) == "0.123" and share_text(float("nan")) == "not measurable"
