"""``lstmattn predict``: classify slices, segment lesions and show the attention.

Exit status: 0 when every slice was predicted, 1 when some file failed (each failure is
reported on stderr and in the JSON), 2 for usage errors (missing input or run folder, an
output location that is a file or cannot be written: checked before any inference).

Warnings (stderr, one line each, and the JSON's ``warnings``): a model trained on
synthetic phantoms, a run without a feature reference (the out-of-distribution check
unavailable) or training intensity statistics, slices unlike the training data (one line
per series, one line for all), and each slice far outside CT slice sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lstmattn.errors import LstmattnError

if TYPE_CHECKING:
    from lstmattn.engine.predict import PredictionReport, SlicePrediction
    from lstmattn.engine.runs import RunDirectory

__all__ = ["register"]

_MAX_SLICE_LINES = 20

_EPILOG = """INPUT is a PNG/JPEG slice, a CT DICOM file, a DICOM series folder or a folder of
slices (PNG/JPEG/DICOM mixed). Writes OUT/predictions.json and OUT/overlays/*.png.
A folder also gets a scan-level summary per DICOM series, which is NOT part of the paper.
Slices under 32 px a side are refused; slices over 1024 px are downscaled.
--crop auto (default) crops a full field-of-view slice around its lungs (else its body)
for a model trained on cropped slices (data.source class-folders: the SARS-CoV-2 CT-scan
screenshots) and leaves slices whole for the others (phantoms, COVIDx-CT, iCTCF); a slice
already framed on the body is never cropped. Each slice record says its crop; boxes,
masks and overlays are in the whole slice's pixels."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict class, lesions and attention for slices",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="slice file, DICOM file, DICOM series folder or folder of slices")
    parser.add_argument("--run", type=Path, required=True, help="trained run folder (runs/<run-id>)")
    parser.add_argument("--checkpoint", choices=["best", "last"],
                        help="which checkpoint to load (default: the one the run evaluates, train.evaluate_checkpoint)")
    parser.add_argument("--out", type=Path, help="output folder (default: predictions/<input name>)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="detection score threshold for lesions and lungs (default 0.5)")
    parser.add_argument("--batch-size", type=int, default=8, help="slices per forward pass (default 8)")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                        help="float32 (default: the evaluation's numbers) or bfloat16 autocast, faster on a CPU "
                             "with AVX512-BF16/AMX or a GPU (float32 elsewhere, with a warning)")
    parser.add_argument("--crop", choices=["auto", "body", "none"], default="auto",
                        help="crop each slice around its lungs (or body) before the model sees it: auto (default: "
                             "when the run trained on cropped slices), body (always) or none (never)")
    parser.add_argument("--no-overlays", action="store_true", help="write the JSON only")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=_predict)


def _check_arguments(args: argparse.Namespace) -> None:
    if not args.run.is_dir():
        raise LstmattnError(f"{args.run}: no such run folder")
    if not (args.run / "config.yaml").is_file():
        raise LstmattnError(f"{args.run}: not a run folder (no config.yaml)")
    if not args.input.exists():
        raise LstmattnError(f"{args.input}: no such file or folder")
    if not 0.0 <= args.score_threshold <= 1.0:
        raise LstmattnError(f"--score-threshold must lie in [0, 1], got {args.score_threshold}")
    if args.batch_size < 1:
        raise LstmattnError(f"--batch-size must be at least 1, got {args.batch_size}")


def _slice_line(prediction: "SlicePrediction") -> str:
    probabilities = ", ".join(f"{name} {p:.3f}" for name, p in zip(prediction.class_names, prediction.class_probs))
    return f"{prediction.source}: {prediction.predicted_class} ({probabilities}); {len(prediction.lesions)} lesion(s)"


def _print_summary(summary: dict, several: bool) -> None:
    burden = summary["lesion_burden"]["fraction"]
    series = f" of series {summary['series_instance_uid']} (patient {summary['patient_id']})" if several else ""
    print(f"scan-level summary{series} ({summary['note']}):")
    print(f"  slices per predicted class: {summary['slice_counts']}")
    print("  max / mean sigma(Delta): " + ", ".join(f"{name} {summary['max_probability'][name]:.3f} / {summary['mean_probability'][name]:.3f}" for name in summary["slice_counts"]))
    print(f"  lesion burden (lesion px / lung px): {'n/a (no lung detected)' if burden is None else f'{burden:.4f}'}")
    if summary["trained_on"]:
        print(f"  model trained on: {summary['trained_on']}")


def _print_report(report: "PredictionReport", summaries: list[dict], warnings: list[str]) -> None:
    for prediction in report.predictions[:_MAX_SLICE_LINES]:
        print(_slice_line(prediction))
    if len(report.predictions) > _MAX_SLICE_LINES:
        print(f"... {len(report.predictions) - _MAX_SLICE_LINES} more slices in the JSON")
    for failure in report.failures:
        print(f"lstmattn: failed: {failure.error}", file=sys.stderr)
    for summary in summaries:
        _print_summary(summary, several=len(summaries) > 1)
    input_warnings = [f"{p.source}: {warning}" for p in report.predictions for warning in p.input_warnings]
    series_warnings = [f"series {summary['series_instance_uid'] or '(PNG/JPEG slices)'}: {warning}"
                       for summary in summaries if summary["out_of_distribution_slices"]
                       for warning in summary["warnings"] if warning != f"model trained on {summary['trained_on']}"]
    for line in [*input_warnings[:_MAX_SLICE_LINES], *series_warnings, *warnings]:
        print(f"lstmattn: warning: {line}", file=sys.stderr)
    if len(input_warnings) > _MAX_SLICE_LINES:
        print(f"lstmattn: warning: ... {len(input_warnings) - _MAX_SLICE_LINES} more slice warnings in the JSON", file=sys.stderr)


def _cropped_count(report: "PredictionReport") -> int:
    """How many of the report's slices the model saw cropped."""
    return sum(p.crop is not None and p.crop.box is not None for p in report.predictions)


def _run_record(run: "RunDirectory") -> dict:
    """The run's ``record.json``, or ``{}`` when it is missing or unreadable (what the
    model was trained on then comes from ``config.yaml``)."""
    try:
        return run.record()
    except (OSError, ValueError, LstmattnError):
        return {}


def _predict(args: argparse.Namespace) -> int:
    # The decoding and overlay threads share the CPU with torch's OpenMP threads, which by
    # default spin while they wait; waiting passively leaves those cycles to the other
    # threads (benchmarks/MEASUREMENTS.md, "lstmattn predict on a series"). Read when
    # torch loads OpenMP, so it acts in the command's own process only, and a value the
    # user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from lstmattn.data.body_crop import crop_rule
    from lstmattn.engine.feature_reference import read_feature_reference
    from lstmattn.engine.loading import load_trained_model, resolve_checkpoint, resolve_device
    from lstmattn.engine.precision import inference_precision
    from lstmattn.engine.predict import (
        TrainingData,
        check_output_folder,
        out_of_distribution_check,
        predict_path,
        run_warnings,
        series_summaries,
        write_predictions_json,
    )
    from lstmattn.engine.runs import RunDirectory
    from lstmattn.labels import class_names_for
    from lstmattn.viz.prediction_files import OverlayWriter

    _check_arguments(args)
    out = args.out or Path("predictions") / args.input.resolve().name
    check_output_folder(out, overlays=not args.no_overlays)
    run = RunDirectory(args.run)
    config = run.config()
    training = TrainingData.from_record(_run_record(run), data_source=config.data.source,
                                        features=read_feature_reference(run))
    crop = crop_rule(args.crop, config.data.source)
    device = resolve_device(args.device)
    checkpoint = resolve_checkpoint(run, args.checkpoint)
    model = load_trained_model(run, checkpoint, device)
    class_names = class_names_for(config.model.num_image_classes)
    precision = inference_precision(args.precision == "bfloat16", device)
    progress = not args.no_progress and sys.stderr.isatty()
    started = time.perf_counter()
    overlay_writer = None if args.no_overlays else OverlayWriter(out)
    with overlay_writer or contextlib.nullcontext():  # an error below still stops the writer's threads
        report = predict_path(
            model,
            args.input,
            class_names=class_names,
            score_threshold=args.score_threshold,
            batch_size=args.batch_size,
            device=device,
            progress=progress,
            training=training,
            on_prediction=overlay_writer.submit if overlay_writer else None,
            precision=precision,
            crop=crop,
        )
    summaries = series_summaries(report.predictions) if report.is_series else []
    warnings = run_warnings(training, report.predictions, f"run {run.run_id}")
    header = {
        "input": str(args.input),
        "run": str(args.run),
        "run_id": run.run_id,
        "checkpoint": checkpoint,
        "precision": precision.describe(),
        "crop": crop.to_json(),
        "class_names": list(class_names),
        "trained_on": training.trained_on,
        "training_data": training.description,
        "out_of_distribution_check": out_of_distribution_check(training),
        "warnings": warnings,
    }
    try:
        overlays = overlay_writer.close() if overlay_writer else []
        json_path = write_predictions_json(report.predictions, out, overlays=overlays, failures=report.failures, summaries=summaries, header=header)
    except OSError as error:
        raise LstmattnError(f"{out}: cannot write the predictions ({error})") from None
    elapsed = time.perf_counter() - started
    _print_report(report, summaries, warnings)
    print(f"crop: {crop.reason}" + (f" ({_cropped_count(report)} of {len(report.predictions)} slices cropped)" if crop.crop else ""))
    rate = len(report.predictions) / elapsed if elapsed > 0 else 0.0
    print(f"wrote {json_path} ({len(overlays)} overlay PNGs); {len(report.predictions)} predicted, {len(report.failures)} failed; "
          f"{elapsed:.1f} s ({rate:.1f} slices/s)")
    return 1 if report.failures else 0
