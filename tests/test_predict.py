"""``lstmattn predict``: API, result JSON, overlay PNGs and CLI error paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from engine_fixtures import toy_bundle, toy_config
from lstmattn.cli import main
from lstmattn.engine.loading import load_trained_model
from lstmattn.engine.predict import SERIES_NOTE, predict_slices, summarize_series, write_predictions_json
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.trainer import train
from lstmattn.labels import class_names_for
from lstmattn.viz.overlays import overlay_size
from lstmattn.viz.prediction_files import write_overlays

PNG_NAME = "COVIDCTMD-P001-IM0027.png"
SERIES_FILES = ("98C14734-ASSH_10.dcm", "98C14734-ASSH_2.dcm", "98C14734-ASSH_27.dcm", "98C14734-ASSH_100.dcm")
CLASS_NAMES = class_names_for(3)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny one-step run (toy config, image size 64) to predict with."""
    run = RunDirectory(tmp_path_factory.mktemp("runs") / "toy")
    train(toy_config(max_steps=1), run, data=toy_bundle(), progress=False, device="cpu")
    return run.path


@pytest.fixture(scope="module")
def model(run_dir: Path) -> nn.Module:
    return load_trained_model(RunDirectory(run_dir))


@pytest.fixture
def png_slice(sample_data: Path) -> Path:
    return sample_data / "covidx-ct-sample" / "images" / PNG_NAME


def _bad_png(folder: Path) -> Path:
    path = folder / "notes.png"
    path.write_text("this is a text file, not a PNG\n")
    return path


def _assert_slice_record(record: dict, size: tuple[int, int]) -> None:
    assert (record["height"], record["width"]) == size
    assert set(record["class_probabilities"]) == set(CLASS_NAMES)
    assert all(0.0 <= p <= 1.0 for p in record["class_probabilities"].values())
    assert record["predicted_class"] == CLASS_NAMES[int(np.argmax(list(record["class_logits"].values())))]
    attention = record["attention"]
    beta = len(attention["roi_boxes"])
    for branch in ("positive", "negative"):
        assert len(attention["alpha"][branch]) == beta
        assert sum(attention["alpha"][branch]) == pytest.approx(1.0, abs=1e-5)
    assert len(attention["roi_scores"]) == len(attention["roi_labels"]) == beta
    assert attention["order"] in ("confidence", "distance")
    if record["lung_area_px"] is None:
        assert "no lung" in record["lung_area_note"]
        assert all(lesion["percent_of_lung"] is None for lesion in record["lesions"])
    for lesion in record["lesions"]:
        assert lesion["class"] in ("GGO", "consolidation") and lesion["score"] >= record["score_threshold"]
        assert len(lesion["box"]) == 4 and lesion["area_px"] >= 0


def _assert_overlay(path: Path, size: tuple[int, int]) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == overlay_size(*size)


def test_predict_png_and_array_writes_json_and_overlay(model: nn.Module, png_slice: Path, tmp_path: Path):
    grey = np.array(Image.open(png_slice).convert("L"))
    predictions = predict_slices(model, [png_slice, grey], class_names=CLASS_NAMES, score_threshold=0.0, device="cpu")
    assert [p.source for p in predictions] == [str(png_slice), "array[1]"]
    assert predictions[0].class_probs == pytest.approx(predictions[1].class_probs, abs=1e-5)
    overlays = write_overlays(predictions[:1], tmp_path)
    json_path = write_predictions_json(predictions[:1], tmp_path, overlays=overlays, header={"run_id": "toy"})
    document = json.loads(json_path.read_text())
    assert document["run_id"] == "toy" and document["failures"] == [] and "series_summary" not in document
    (record,) = document["slices"]
    _assert_slice_record(record, (512, 512))
    assert overlays == [tmp_path / "overlays" / f"0000_{png_slice.stem}.png"] and (tmp_path / record["overlay"]) == overlays[0]
    _assert_overlay(overlays[0], (512, 512))
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ValueError, match="one path per prediction"):
        write_predictions_json(predictions, tmp_path, overlays=overlays)


class _FixedOutputModel(nn.Module):
    """Returns one lung (area 400 px), a GGO (100 px) and a low-scoring consolidation."""

    def forward(self, images: list[torch.Tensor]) -> list[dict]:
        height, width = images[0].shape[-2:]
        masks = torch.zeros(3, 1, height, width)
        masks[0, 0, 0:20, 0:20] = 0.9
        masks[1, 0, 5:15, 5:15] = 0.8
        masks[2, 0, 0:4, 0:4] = 0.9
        output = {
            "boxes": torch.tensor([[0.0, 0.0, 20.0, 20.0], [5.0, 5.0, 15.0, 15.0], [0.0, 0.0, 4.0, 4.0]]),
            "labels": torch.tensor([1, 2, 3]),
            "scores": torch.tensor([0.9, 0.7, 0.3]),
            "masks": masks,
            "class_logits": torch.tensor([-1.0, 0.0, 2.0]),
            "class_probs": torch.sigmoid(torch.tensor([-1.0, 0.0, 2.0])),
            "predicted_class": torch.tensor(2),
            "attention": {
                "alpha_pos": torch.tensor([0.75, 0.25]),
                "alpha_neg": torch.tensor([0.5, 0.5]),
                "roi_boxes": torch.tensor([[1.0, 1.0, 10.0, 10.0], [2.0, 2.0, 12.0, 12.0]]),
                "roi_scores": torch.tensor([0.9, 0.8]),
                "roi_labels": torch.tensor([2, 1]),
                "num_distinct": torch.tensor(2),
                "order": "confidence",
            },
        }
        return [output for _ in images]


def test_lesion_areas_and_series_summary_arithmetic():
    images = [np.zeros((32, 32), dtype=np.uint8)] * 2
    predictions = predict_slices(_FixedOutputModel(), images, class_names=CLASS_NAMES, score_threshold=0.5)
    record = predictions[0].to_json()
    assert record["lung_area_px"] == 400 and record["lesion_area_px"] == 100
    (lesion,) = record["lesions"]  # the consolidation scores 0.3 < 0.5
    assert lesion["class"] == "GGO" and lesion["area_px"] == 100 and lesion["percent_of_lung"] == pytest.approx(25.0)
    assert record["attention"]["alpha"]["positive"] == [0.75, 0.25]
    summary = summarize_series(predictions)
    assert summary["note"] == SERIES_NOTE and "aggregation not done in the paper" in summary["note"]
    assert summary["slice_counts"] == {"Normal": 0, "CP": 0, "COVID-19": 2}
    assert summary["lesion_burden"]["fraction"] == pytest.approx(0.25)


def test_cli_dicom_series_writes_slices_overlays_and_summary(run_dir: Path, sample_data: Path, tmp_path: Path, capsys):
    series = tmp_path / "P001"
    series.mkdir()
    for name in SERIES_FILES:
        shutil.copy(sample_data / "dicom-series" / "P001" / name, series / name)
    out = tmp_path / "out"
    status = main(["predict", str(series), "--run", str(run_dir), "--out", str(out), "--score-threshold", "0.1", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "aggregation not done in the paper" in captured.out
    document = json.loads((out / "predictions.json").read_text())
    numbers = [s["instance_number"] for s in document["slices"]]
    assert None not in numbers and numbers == sorted(numbers) and len(set(numbers)) == 4
    for record in document["slices"]:
        _assert_slice_record(record, (512, 512))
        _assert_overlay(out / record["overlay"], (512, 512))
    summary = document["series_summary"]
    assert "aggregation not done in the paper" in summary["note"]
    assert summary["num_slices"] == 4 and sum(summary["slice_counts"].values()) == 4
    for name in CLASS_NAMES:
        assert 0.0 <= summary["mean_probability"][name] <= summary["max_probability"][name] <= 1.0


def test_cli_folder_with_a_bad_file_reports_it_and_keeps_going(run_dir: Path, png_slice: Path, tmp_path: Path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(png_slice, folder / PNG_NAME)
    bad = _bad_png(folder)
    out = tmp_path / "out"
    status = main(["predict", str(folder), "--run", str(run_dir), "--out", str(out), "--no-overlays", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 1
    assert str(bad) in captured.err and "not an image" in captured.err
    document = json.loads((out / "predictions.json").read_text())
    assert [Path(s["source"]).name for s in document["slices"]] == [PNG_NAME]
    assert [f["file"] for f in document["failures"]] == [str(bad)]
    assert "series_summary" in document


def test_cli_single_non_image_file_names_it(run_dir: Path, tmp_path: Path, capsys):
    bad = _bad_png(tmp_path)
    status = main(["predict", str(bad), "--run", str(run_dir), "--out", str(tmp_path / "out"), "--no-progress"])
    assert status == 1
    assert f"{bad}: not an image" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["input", "run"])
def test_cli_missing_path_is_a_usage_error(missing: str, run_dir: Path, png_slice: Path, tmp_path: Path, capsys):
    absent = tmp_path / "absent"
    input_path, run = (absent, run_dir) if missing == "input" else (png_slice, absent)
    status = main(["predict", str(input_path), "--run", str(run), "--out", str(tmp_path / "out")])
    assert status == 2
    assert capsys.readouterr().err.startswith(f"lstmattn: error: {absent}: no such")
    assert not (tmp_path / "out").exists()
