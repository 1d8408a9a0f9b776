"""The attention explorer: explanation API, ipywidgets callbacks (headless), static HTML
(script and styles read from the package data files ``lstmattn/viz/assets/``)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_model_config
from engine_fixtures import toy_bundle, toy_config
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.trainer import train
from lstmattn.model.one_shot import OneShotLSTMAttention
from lstmattn.viz.attention import ORDERS, AttentionExplanation, explain_slice, gallery, gallery_items, roi_order
from lstmattn.viz.attention_views import render_alpha_chart_png, render_slice_png
from lstmattn.viz.explorer import AttentionExplorer
from lstmattn.viz.static_viewer import static_viewer_html, viewer_asset

PNG_NAMES = ("COVIDCTMD-P001-IM0027.png", "COVIDCTMD-P001-IM0047.png")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunDirectory:
    """A tiny one-step run (toy config, image size 64): the checkpoint path of the API."""
    run = RunDirectory(tmp_path_factory.mktemp("runs") / "toy")
    train(toy_config(max_steps=1), run, data=toy_bundle(), progress=False, device="cpu")
    return run


@pytest.fixture(scope="module")
def model() -> OneShotLSTMAttention:
    """Trained order: confidence (§3.7.1), so that distance (the default since §4.1) is the what-if."""
    torch.manual_seed(0)
    return OneShotLSTMAttention(tiny_model_config(roi_order="confidence")).eval()


@pytest.fixture
def pngs(sample_data: Path) -> list[Path]:
    return [sample_data / "covidx-ct-sample" / "images" / name for name in PNG_NAMES]


def _item(seed: int, label: int, name: str):
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(seed))
    return image, {"image_label": torch.tensor(label), "file": f"phantoms/{name}.png"}


def _png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def _check(explanation: AttentionExplanation, beta: int) -> None:
    assert explanation.alpha_pos.shape == explanation.alpha_neg.shape == (beta,)
    assert explanation.alpha_pos.sum() == pytest.approx(1.0, abs=1e-5)
    assert explanation.alpha_neg.sum() == pytest.approx(1.0, abs=1e-5)
    assert explanation.roi_boxes.shape == (beta, 4) and explanation.roi_scores.shape == (beta,)
    assert explanation.roi_labels.shape == (beta,) and 1 <= explanation.num_distinct <= beta
    assert explanation.roi_features.shape == (beta, 28, 28)
    assert explanation.class_probs.shape == (3,) and np.all((explanation.class_probs >= 0) & (explanation.class_probs <= 1))
    assert explanation.predicted == int(np.argmax(explanation.class_logits))
    assert explanation.lesion_map.shape == explanation.image.shape and explanation.image.dtype == np.uint8
    height, width = explanation.size
    assert np.all(explanation.roi_boxes[:, [0, 2]] <= width + 1e-3) and np.all(explanation.roi_boxes[:, [1, 3]] <= height + 1e-3)
    json.dumps(explanation.to_json())


def test_explain_slice_from_checkpoint_png(run: RunDirectory, pngs: list[Path]):
    explanation = explain_slice(run, pngs[0])  # a run folder: loads its checkpoint
    _check(explanation, beta=run.config().model.roi_batch_size)
    assert explanation.size == (512, 512) and explanation.source == str(pngs[0])
    assert explanation.order == explanation.trained_order == "distance" and not explanation.is_what_if  # §4.1
    assert explanation.label is None


def test_orders_and_what_if_leave_the_model_unchanged(model: OneShotLSTMAttention):
    item = _item(0, 2, "covid")
    confidence = explain_slice(model, item, order="confidence")
    distance = explain_slice(model, item, order="distance")
    assert model.roi_classification.order == "confidence"  # restored
    assert distance.is_what_if and "what-if" in distance.note()
    assert confidence.label == distance.label == 2 and confidence.label_name == "COVID-19"
    # the same RoIs, re-ordered by the distance of the top-left corner from the origin
    rows = lambda boxes: sorted(map(tuple, boxes.round(3).tolist()))  # noqa: E731
    assert rows(confidence.roi_boxes) == rows(distance.roi_boxes)
    corner = np.hypot(distance.roi_boxes[:, 0], distance.roi_boxes[:, 1])
    assert np.all(np.diff(corner) >= -1e-4)
    assert np.all(np.diff(confidence.roi_scores) <= 1e-6)
    with pytest.raises(ValueError, match="order"):
        explain_slice(model, item, order="random")
    with roi_order(model, "distance") as used:
        assert used == "distance" and model.roi_classification.order == "distance"
    assert model.roi_classification.order == "confidence"


def test_top_rois_distinct_and_sorted(model: OneShotLSTMAttention):
    explanation = explain_slice(model, _item(1, 0, "normal"))
    for branch in ("positive", "negative"):
        top = explanation.top_rois(branch, 3)
        alpha = explanation.alpha(branch)
        assert 1 <= len(top) <= 3 and list(alpha[top]) == sorted(alpha[top], reverse=True)
        assert len({tuple(explanation.roi_boxes[p]) for p in top}) == len(top)
    with pytest.raises(ValueError, match="branch"):
        explanation.alpha("both")


def test_explain_rejects_models_without_attention():
    from torch import nn

    with pytest.raises(ValueError, match="one-shot model"):
        explain_slice(nn.Linear(2, 2), np.zeros((8, 8), np.uint8))


def test_renderers_scale_to_display_size(model: OneShotLSTMAttention):
    explanation = explain_slice(model, _item(2, 1, "cp"))
    positive = render_slice_png(explanation, "positive", display_size=200)
    negative = render_slice_png(explanation, "negative", display_size=200)
    assert _png_size(positive) == (200, 200) and positive != negative
    assert render_alpha_chart_png(explanation, "positive") != render_alpha_chart_png(explanation, "negative")


def test_gallery_items_draws_each_class():
    items = gallery_items(toy_bundle().classification_test, per_class=1)
    assert sorted(int(target["image_label"]) for _, target in items) == [0, 1, 2]


def test_widget_callbacks_update_views(model: OneShotLSTMAttention, pngs: list[Path]):
    import ipywidgets as widgets

    explorer = AttentionExplorer(model, [pngs[0], _item(3, 2, "covid")], display_size=160)
    box = explorer.widget()
    assert isinstance(box, widgets.VBox) and explorer.widget() is box
    assert _png_size(explorer.image.value) == (160, 160)
    assert "predicted" in explorer.probabilities.value and explorer.feature_labels[0].value.startswith("#1")
    first = (explorer.image.value, explorer.chart.value, explorer.probabilities.value)

    explorer.slice_dropdown.value = 1
    assert explorer.image.value != first[0] and explorer.chart.value != first[1]
    assert explorer.probabilities.value != first[2] and "COVID-19" in explorer.probabilities.value
    before = (explorer.image.value, explorer.chart.value)

    explorer.branch_toggle.value = "negative"
    assert explorer.image.value != before[0] and explorer.chart.value != before[1]
    chart = explorer.chart.value

    explorer.order_toggle.value = "distance"
    assert explorer.chart.value != chart and "what-if" in explorer.note.value
    assert set(explorer._cache) == {(0, "confidence"), (1, "confidence"), (1, "distance")}
    assert model.roi_classification.order == "confidence"
    assert [label for label, _ in explorer.order_toggle.options] == ["confidence (trained)", "distance (what-if)"]


def test_widget_upload_adds_and_selects_slice(model: OneShotLSTMAttention, pngs: list[Path]):
    explorer = AttentionExplorer(model, [pngs[0]], display_size=96)
    explorer.widget()
    content = memoryview(pngs[1].read_bytes())
    explorer._on_upload({"new": ({"name": pngs[1].name, "content": content},)})
    assert explorer.slice_dropdown.value == 1 and explorer.names[1] == pngs[1].name
    assert explorer.slices[1].source == pngs[1].name
    explorer._on_upload({"new": ({"name": "notes.png", "content": memoryview(b"not a png")},)})
    assert "could not read notes.png" in explorer.status.value and len(explorer.slices) == 2


def _viewer_json(page: str) -> dict:
    match = re.search(r'<script type="application/json" data-role="data">(.*?)</script>', page, re.S)
    assert match, "viewer data block missing"
    return json.loads(match.group(1))


def test_static_viewer_is_self_contained(model: OneShotLSTMAttention, pngs: list[Path]):
    slices = [pngs[0], _item(4, 0, "normal"), _item(5, 1, "cp"), _item(6, 2, "covid")]
    entries = gallery(model, slices)
    assert [set(entry) for entry in entries] == [set(ORDERS)] * len(slices)
    page = static_viewer_html(entries, display_size=128, title="α <gallery>")
    assert not re.search(r"https?:", page, re.I), "the viewer must not reference any URL"
    assert "<script src" not in page and "<link" not in page and "&lt;gallery&gt;" in page
    assert page.count("<script>") == 1  # one inline script, plus the JSON data block
    assert "@ID@" not in page and "function drawBars" in viewer_asset("viewer.js") and "lsa-thumbs" in viewer_asset("viewer.css")

    data = _viewer_json(page)
    assert len(data["slices"]) == len(slices) and data["trainedOrder"] == "confidence"
    assert [s["label"] for s in data["slices"]] == [None, "Normal", "CP", "COVID-19"]
    for entry, record in zip(entries, data["slices"]):
        assert record["image"].startswith("data:image/png;base64,")
        assert set(record["orders"]) == set(ORDERS)
        for order, result in record["orders"].items():
            beta = entry[order].beta
            assert len(result["boxes"]) == len(result["scores"]) == beta
            for branch in ("positive", "negative"):
                assert len(result["alpha"][branch]) == beta
                assert sum(result["alpha"][branch]) == pytest.approx(1.0, abs=1e-4)
                assert result["top"][branch] and all(t["feature"] in record["features"] for t in result["top"][branch])
            assert result["whatIf"] == (order == "distance")
    # deterministic: the same explanations give the same page
    assert static_viewer_html(entries, display_size=128, title="α <gallery>") == page


def test_static_viewer_escapes_names_and_validates(model: OneShotLSTMAttention):
    explanation = explain_slice(model, _item(7, 0, "</script><b>x"))
    page = static_viewer_html([explanation])
    assert page.count("</script>") == 2  # the data block and the script, nothing injected
    assert len(_viewer_json(page)["slices"][0]["orders"]) == 1
    with pytest.raises(ValueError, match="at least one"):
        static_viewer_html([])
    with pytest.raises(ValueError, match="order"):
        static_viewer_html([{"distance": explanation}])
