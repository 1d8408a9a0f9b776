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
from lstmattn.data.images import to_image_tensor
from lstmattn.data.intensity import HISTOGRAM_BINS
from lstmattn.engine.predict import (
    PHANTOM_TRAINED,
    SERIES_NOTE,
    UNLIKE_TRAINING,
    TrainingData,
    predict_slices,
    series_summaries,
    summarize_series,
    write_predictions_json,
)
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.trainer import train
from lstmattn.labels import class_names_for
from lstmattn.viz.overlays import WARNING_COLOUR, header_height, overlay_size
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
    assert document["run_id"] == "toy" and document["failures"] == [] and "series_summaries" not in document
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
    assert document["precision"] == "float32, channels-last"
    numbers = [s["instance_number"] for s in document["slices"]]
    assert None not in numbers and numbers == sorted(numbers) and len(set(numbers)) == 4
    for record in document["slices"]:
        _assert_slice_record(record, (512, 512))
        _assert_overlay(out / record["overlay"], (512, 512))
    (summary,) = document["series_summaries"]
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
    assert len(document["series_summaries"]) == 1


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


# --- bad inputs and models used outside their training (issue 15) ---------------------------


def _no_inference(*args, **kwargs):
    raise AssertionError("the model was loaded: the output location must be checked first")


@pytest.mark.parametrize("where", ["existing file", "under a file", "unwritable folder"])
def test_cli_bad_out_is_a_usage_error_before_any_inference(where: str, run_dir: Path, png_slice: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setattr("lstmattn.engine.loading.load_trained_model", _no_inference)
    existing = tmp_path / "taken.json"
    existing.write_text("{}")
    out, message = {
        "existing file": (existing, "exists and is not a folder"),
        "under a file": (existing / "out", f"cannot be created, {existing} is a file"),
        "unwritable folder": (Path("/sys/lstmattn-predictions"), "cannot write there"),  # read-only even for root
    }[where]
    status = main(["predict", str(png_slice), "--run", str(run_dir), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"lstmattn: error: {out}: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert existing.read_text() == "{}"


def test_cli_huge_slice_is_downscaled_with_a_warning_and_a_tiny_one_refused(run_dir: Path, png_slice: Path, tmp_path: Path, capsys):
    folder = tmp_path / "sizes"
    folder.mkdir()
    Image.open(png_slice).resize((6000, 6000), Image.Resampling.NEAREST).save(folder / "huge.png", compress_level=1)
    Image.new("L", (10, 10)).save(folder / "tiny.png")
    out = tmp_path / "out"
    status = main(["predict", str(folder), "--run", str(run_dir), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1
    assert f"lstmattn: failed: {folder / 'tiny.png'}: 10x10 px is too small for a CT slice" in err
    assert f"lstmattn: warning: {folder / 'huge.png'}: 6000x6000 px is far outside CT slice sizes" in err
    document = json.loads((out / "predictions.json").read_text())
    (record,) = document["slices"]
    assert (record["height"], record["width"], record["original_height"], record["original_width"]) == (1024, 1024, 6000, 6000)
    assert "downscaled to 1024x1024 px" in record["warnings"][0]
    _assert_overlay(out / record["overlay"], (1024, 1024))
    assert [f["file"] for f in document["failures"]] == [str(folder / "tiny.png")]


def test_cli_truncated_dicom_is_reported_as_truncated(run_dir: Path, sample_data: Path, tmp_path: Path, capsys):
    data = (sample_data / "dicom-series" / "P001" / SERIES_FILES[0]).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) // 2])
    status = main(["predict", str(cut), "--run", str(run_dir), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1 and f"lstmattn: failed: {cut}: truncated or corrupt DICOM" in err and "no Modality" not in err


def test_cli_two_patients_in_one_folder_are_two_series(run_dir: Path, sample_data: Path, tmp_path: Path):
    import pydicom
    from pydicom.uid import generate_uid

    folder = tmp_path / "two-patients"
    folder.mkdir()
    other_series = generate_uid()
    for name in SERIES_FILES:
        shutil.copy(sample_data / "dicom-series" / "P001" / name, folder / f"a_{name}")
    for name in SERIES_FILES[:3]:  # same InstanceNumbers, another patient and series
        dataset = pydicom.dcmread(sample_data / "dicom-series" / "P001" / name)
        dataset.SeriesInstanceUID, dataset.PatientID = other_series, "OTHER-PATIENT"
        dataset.save_as(folder / f"b_{name}")
    out = tmp_path / "out"
    status = main(["predict", str(folder), "--run", str(run_dir), "--out", str(out), "--no-overlays", "--no-progress"])
    assert status == 0
    document = json.loads((out / "predictions.json").read_text())
    summaries = document["series_summaries"]
    assert [(s["patient_id"], s["num_slices"]) for s in summaries] == [("98C14734-ASSH", 4), ("OTHER-PATIENT", 3)]
    assert summaries[1]["series_instance_uid"] == other_series
    series = [s["series_instance_uid"] for s in document["slices"]]
    assert series == [summaries[0]["series_instance_uid"]] * 4 + [other_series] * 3
    for uid in (summaries[0]["series_instance_uid"], other_series):
        numbers = [s["instance_number"] for s in document["slices"] if s["series_instance_uid"] == uid]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_cli_phantom_trained_model_says_so_everywhere(run_dir: Path, png_slice: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    status = main(["predict", str(png_slice), "--run", str(run_dir), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 0
    phantom_lines = [line for line in captured.err.splitlines() if PHANTOM_TRAINED in line]
    assert len(phantom_lines) == 1 and phantom_lines[0].startswith("lstmattn: warning: run toy: trained on")
    # the toy run's data bypassed build_data: an old run without statistics, said once
    assert captured.err.count("not checked for being out of distribution") == 1
    assert "slices/s)" in captured.out
    document = json.loads((out / "predictions.json").read_text())
    assert document["trained_on"] == PHANTOM_TRAINED and any(PHANTOM_TRAINED in w for w in document["warnings"])
    with Image.open(out / document["slices"][0]["overlay"]) as overlay:
        header = np.asarray(overlay.convert("RGB"))[: header_height(512)]
    assert (header == WARNING_COLOUR).all(axis=-1).any(), "the overlay caption must warn in WARNING_COLOUR"


def test_series_summary_carries_the_phantom_warning():
    training = TrainingData("synthetic CT phantoms (tests)", True)
    images = [np.zeros((32, 32), dtype=np.uint8)] * 2
    predictions = predict_slices(_FixedOutputModel(), images, class_names=CLASS_NAMES, training=training)
    (summary,) = series_summaries(predictions)
    assert summary["trained_on"] == PHANTOM_TRAINED and any(PHANTOM_TRAINED in w for w in summary["warnings"])


@pytest.fixture(scope="module")
def phantom_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-step run trained through build_data on a tiny 64 px phantom set, so its
    record holds the training intensity statistics."""
    from dataclasses import replace

    root = tmp_path_factory.mktemp("phantom-run")
    config = toy_config(max_steps=1)
    data = replace(config.data, root=str(root / "phantoms"), phantom_per_class={"train": 4, "val": 1, "test": 1},
                   phantom_segmentation={"train": 2, "test": 1})
    run = RunDirectory(root / "runs" / "phantom")
    train(replace(config, data=data), run, progress=False, device="cpu")
    return run.path


def test_phantom_model_on_real_ct_warns_phantom_and_out_of_distribution(phantom_run_dir: Path, sample_data: Path,
                                                                         tmp_path: Path, capsys):
    record = RunDirectory(phantom_run_dir).record()
    statistics = record["data"]["intensity"]
    assert statistics["sample_slices"] == 12 and len(statistics["reference_histogram"]) == HISTOGRAM_BINS
    real = tmp_path / "real"
    real.mkdir()
    images = sorted((sample_data / "covidx-ct-sample" / "images").glob("COVIDCTMD-normal001-*.png"))[:3]
    for path in [*images, *(sample_data / "dicom-series" / "P001" / name for name in SERIES_FILES[:2])]:
        shutil.copy(path, real / path.name)
    out = tmp_path / "out"
    status = main(["predict", str(real), "--run", str(phantom_run_dir), "--out", str(out), "--no-overlays", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 0
    warnings = [line for line in err.splitlines() if line.startswith("lstmattn: warning: ")]
    assert any(PHANTOM_TRAINED in line for line in warnings)
    assert any(f"5 of 5 slices {UNLIKE_TRAINING}" in line for line in warnings)
    document = json.loads((out / "predictions.json").read_text())
    assert all(s["intensity"]["out_of_distribution"] for s in document["slices"])
    assert all(any(w.startswith(UNLIKE_TRAINING) for w in s["warnings"]) for s in document["slices"])
    summaries = document["series_summaries"]  # the P001 DICOM series, then the PNG slices
    assert [(s["patient_id"], s["out_of_distribution_slices"]) for s in summaries] == [("98C14734-ASSH", 2), (None, 3)]
    assert all(len(s["warnings"]) == 2 and s["trained_on"] == PHANTOM_TRAINED for s in summaries)


def test_phantom_model_on_its_own_phantoms_is_in_distribution(phantom_run_dir: Path, tmp_path: Path, capsys):
    phantoms = Path(RunDirectory(phantom_run_dir).record()["data"]["root"]) / "covidx" / "images"
    out = tmp_path / "out"
    status = main(["predict", str(phantoms), "--run", str(phantom_run_dir), "--out", str(out), "--no-overlays", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 0 and UNLIKE_TRAINING not in err and PHANTOM_TRAINED in err
    document = json.loads((out / "predictions.json").read_text())
    assert not any(s["intensity"]["out_of_distribution"] for s in document["slices"])


def test_detections_below_the_threshold_are_dropped_inside_the_model_with_the_same_result(model: nn.Module, png_slice: Path, monkeypatch):
    """predict_slices raises the RoI heads' score threshold while it predicts (no masks
    pasted for detections it would drop); the slices' lesions are those of the unfiltered
    model, and the model's own threshold is restored."""
    import contextlib

    import lstmattn.engine.predict as predict_module

    model.eval()
    with torch.no_grad():
        (raw,) = model([to_image_tensor(np.array(Image.open(png_slice).convert("L")))])
    scores = raw["scores"].sort().values
    assert len(scores) >= 2, "the toy model must detect something for this test to mean anything"
    threshold = float(scores[len(scores) // 2])  # keeps the upper half, including the equal score
    own_threshold = model.roi_heads.score_thresh
    filtered = predict_slices(model, [png_slice], class_names=CLASS_NAMES, score_threshold=threshold, device="cpu")
    assert model.roi_heads.score_thresh == own_threshold
    monkeypatch.setattr(predict_module, "_detections_from", lambda *args, **kwargs: contextlib.nullcontext())
    unfiltered = predict_slices(model, [png_slice], class_names=CLASS_NAMES, score_threshold=threshold, device="cpu")
    assert filtered[0].lesions == unfiltered[0].lesions
    assert filtered[0].lung_area_px == unfiltered[0].lung_area_px
    assert np.array_equal(filtered[0].lesion_map, unfiltered[0].lesion_map)
    assert filtered[0].class_probs == unfiltered[0].class_probs


def test_bfloat16_prediction_keeps_every_detection_at_the_threshold(model: nn.Module, png_slice: Path, monkeypatch):
    """Under bfloat16 autocast the outputs come back as float32, and the detection head's
    lowered threshold still keeps detections scored exactly at ``score_threshold``. (The
    lesion lists need not equal the unfiltered model's, as they do in float32: bfloat16
    scores tie often, and NMS and the per-image cap break ties by candidate order.)"""
    import lstmattn.engine.precision as precision_module
    from lstmattn.engine.precision import inference_precision

    monkeypatch.setattr(precision_module, "native_bfloat16", lambda device: True)  # emulated where not native
    precision = inference_precision(True, torch.device("cpu"))
    assert precision.bfloat16
    everything = predict_slices(model, [png_slice], class_names=CLASS_NAMES, score_threshold=0.0, precision=precision)
    scores = sorted(lesion.score for lesion in everything[0].lesions)
    assert len(scores) >= 2, "the toy model must detect lesions for this test to mean anything"
    threshold = scores[len(scores) // 2]  # a bfloat16 score, read back as float32
    filtered = predict_slices(model, [png_slice], class_names=CLASS_NAMES, score_threshold=threshold, precision=precision)
    assert any(lesion.score == threshold for lesion in filtered[0].lesions)
    assert all(lesion.score >= threshold for lesion in filtered[0].lesions)
    assert all(isinstance(p, float) for p in filtered[0].class_probs)


def test_cli_bfloat16_is_recorded_and_falls_back_to_float32_where_not_native(run_dir: Path, png_slice: Path,
                                                                            tmp_path: Path, capsys, monkeypatch):
    import lstmattn.engine.precision as precision_module

    for native, expected in ((True, "bfloat16 autocast, channels-last"), (False, "float32, channels-last")):
        monkeypatch.setattr(precision_module, "native_bfloat16", lambda device, native=native: native)
        out = tmp_path / f"out-{native}"
        status = main(["predict", str(png_slice), "--run", str(run_dir), "--out", str(out), "--precision", "bfloat16",
                       "--no-progress"])
        captured = capsys.readouterr()
        assert status == 0, captured.err
        assert json.loads((out / "predictions.json").read_text())["precision"] == expected
        assert ("no native bfloat16" in captured.err) == (not native)


# --- the body / lung crop of full field-of-view slices (issue 31) ----------------------------

CROP_DICOM = "98C14734-ASSH_100.dcm"  # a P001 slice through both lungs, table and air around


class _CropRecordingModel(_FixedOutputModel):
    """:class:`_FixedOutputModel` that keeps the (H, W) of every image it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def forward(self, images: list[torch.Tensor]) -> list[dict]:
        self.sizes += [tuple(image.shape[-2:]) for image in images]
        return super().forward(images)


def test_crop_maps_lesions_masks_and_rois_back_to_the_whole_slice(sample_data: Path):
    from lstmattn.data.body_crop import crop_rule, find_body_crop
    from lstmattn.data.dicom import read_dicom_slice

    grey = read_dicom_slice(sample_data / "dicom-series" / "P001" / CROP_DICOM)
    box = find_body_crop(grey).box
    x0, y0, x1, y1 = box
    model = _CropRecordingModel()
    (cropped,) = predict_slices(model, [grey], class_names=CLASS_NAMES, crop=crop_rule("body", "phantom"))
    (whole,) = predict_slices(model, [grey], class_names=CLASS_NAMES)  # the default: crop mode none
    assert model.sizes == [(y1 - y0, x1 - x0), grey.shape]
    assert cropped.crop.box == box and cropped.crop.basis == "lungs" and whole.crop.box is None
    assert cropped.size == whole.size == grey.shape  # the whole slice, for the overlays
    (lesion,) = cropped.lesions
    assert lesion.box == (5.0 + x0, 5.0 + y0, 15.0 + x0, 15.0 + y0) and lesion.area_px == 100
    assert cropped.lung_area_px == whole.lung_area_px == 400 and lesion.percent_of_lung == pytest.approx(25.0)
    assert np.array_equal(np.argwhere(cropped.lesion_map), np.argwhere(whole.lesion_map) + [y0, x0])
    assert cropped.attention["roi_boxes"][0] == [1.0 + x0, 1.0 + y0, 10.0 + x0, 10.0 + y0]
    record = cropped.to_json()
    assert record["crop"] == {"box": list(box), "basis": "lungs", "reason": cropped.crop.reason}
    assert (record["height"], record["width"]) == grey.shape


def _crop_series(sample_data: Path, folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(sample_data / "dicom-series" / "P001" / CROP_DICOM, folder / CROP_DICOM)
    return folder


def _inside(box: list[float], outer: list[int]) -> bool:
    return outer[0] <= box[0] <= box[2] <= outer[2] and outer[1] <= box[1] <= box[3] <= outer[3]


def test_cli_crop_body_records_the_crop_and_draws_in_the_whole_slice(run_dir: Path, sample_data: Path,
                                                                      tmp_path: Path, capsys):
    from lstmattn.viz.overlays import CROP_COLOUR

    series = _crop_series(sample_data, tmp_path / "series")
    out = tmp_path / "out"
    status = main(["predict", str(series), "--run", str(run_dir), "--out", str(out), "--crop", "body",
                   "--score-threshold", "0.0", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "crop: crop mode 'body'" in captured.out and "(1 of 1 slices cropped)" in captured.out
    document = json.loads((out / "predictions.json").read_text())
    assert document["crop"] == {"mode": "body", "crop": True, "reason": document["crop"]["reason"]}
    (record,) = document["slices"]
    crop = record["crop"]
    x0, y0, x1, y1 = crop["box"]
    assert crop["basis"] == "lungs" and 0 < x0 < x1 < 512 and 0 < y0 < y1 < 512
    _assert_slice_record(record, (512, 512))  # sizes, boxes and overlay: the whole slice's pixels
    assert record["lesions"] and all(_inside(lesion["box"], crop["box"]) for lesion in record["lesions"])
    assert all(_inside(roi, crop["box"]) for roi in record["attention"]["roi_boxes"])
    _assert_overlay(out / record["overlay"], (512, 512))
    with Image.open(out / record["overlay"]) as overlay:
        panel = np.asarray(overlay.convert("RGB"))[header_height(512):, :512]
    frame = np.concatenate([panel[y0, x0:x1], panel[y1 - 1, x0:x1], panel[y0:y1, x0], panel[y0:y1, x1 - 1]])
    assert (frame == CROP_COLOUR).all(axis=-1).mean() > 0.5, "the overlay must frame the crop the model saw"


def test_cli_crop_auto_crops_for_a_run_trained_on_cropped_slices_only(run_dir: Path, sample_data: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch, capsys):
    from dataclasses import replace

    series = _crop_series(sample_data, tmp_path / "series")
    for source, cropped in (("phantom", False), ("class-folders", True)):  # the toy run trained on phantoms
        config = RunDirectory.config
        monkeypatch.setattr(RunDirectory, "config", lambda self, config=config, source=source: replace(
            config(self), data=replace(config(self).data, source=source)))
        out = tmp_path / source
        assert main(["predict", str(series), "--run", str(run_dir), "--out", str(out), "--no-overlays", "--no-progress"]) == 0
        capsys.readouterr()
        document = json.loads((out / "predictions.json").read_text())
        assert document["crop"]["mode"] == "auto" and document["crop"]["crop"] is cropped
        assert f"data.source {source!r}" in document["crop"]["reason"]
        (record,) = document["slices"]
        assert (record["crop"]["box"] is not None) is cropped
        if not cropped:
            assert record["crop"] == {"box": None, "basis": None, "reason": f"not cropped: {document['crop']['reason']}"}
        monkeypatch.undo()


def test_cli_crop_none_leaves_the_input_alone(run_dir: Path, model: nn.Module, sample_data: Path, tmp_path: Path, capsys):
    series = _crop_series(sample_data, tmp_path / "series")
    out = tmp_path / "out"
    status = main(["predict", str(series), "--run", str(run_dir), "--out", str(out), "--crop", "none",
                   "--no-overlays", "--no-progress"])
    assert status == 0 and "crop: crop mode 'none'" in capsys.readouterr().out
    (record,) = json.loads((out / "predictions.json").read_text())["slices"]
    assert record["crop"]["box"] is None and "crop mode 'none'" in record["crop"]["reason"]
    (whole,) = predict_slices(model, [series / CROP_DICOM], class_names=CLASS_NAMES, device="cpu")
    assert list(record["class_probabilities"].values()) == pytest.approx(list(whole.class_probs), abs=1e-5)
