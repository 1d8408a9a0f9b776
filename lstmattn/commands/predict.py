"""``lstmattn predict``: classify slices, segment lesions and show the attention.

Exit status: 0 when every slice was predicted, 1 when some file failed (each failure is
reported on stderr and in the JSON), 2 for usage errors (missing input or run folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lstmattn.errors import LstmattnError

if TYPE_CHECKING:
    from lstmattn.engine.predict import PredictionReport, SlicePrediction

__all__ = ["register"]

_MAX_SLICE_LINES = 20

_EPILOG = """INPUT is a PNG/JPEG slice, a CT DICOM file, a DICOM series folder or a folder of
slices (PNG/JPEG/DICOM mixed). Writes OUT/predictions.json and OUT/overlays/*.png.
A folder also gets a scan-level summary, which is NOT part of the paper."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict class, lesions and attention for slices",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="slice file, DICOM file, DICOM series folder or folder of slices")
    parser.add_argument("--run", type=Path, required=True, help="trained run folder (runs/<run-id>)")
    parser.add_argument("--checkpoint", default="best", choices=["best", "last"])
    parser.add_argument("--out", type=Path, help="output folder (default: predictions/<input name>)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="detection score threshold for lesions and lungs (default 0.5)")
    parser.add_argument("--batch-size", type=int, default=4)
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


def _print_report(report: "PredictionReport", summary: dict | None) -> None:
    for prediction in report.predictions[:_MAX_SLICE_LINES]:
        print(_slice_line(prediction))
    if len(report.predictions) > _MAX_SLICE_LINES:
        print(f"... {len(report.predictions) - _MAX_SLICE_LINES} more slices in the JSON")
    for failure in report.failures:
        print(f"lstmattn: failed: {failure.error}", file=sys.stderr)
    if summary is not None:
        burden = summary["lesion_burden"]["fraction"]
        print(f"scan-level summary ({summary['note']}):")
        print(f"  slices per predicted class: {summary['slice_counts']}")
        print("  max / mean sigma(Delta): " + ", ".join(f"{name} {summary['max_probability'][name]:.3f} / {summary['mean_probability'][name]:.3f}" for name in summary["slice_counts"]))
        print(f"  lesion burden (lesion px / lung px): {'n/a (no lung detected)' if burden is None else f'{burden:.4f}'}")


def _predict(args: argparse.Namespace) -> int:
    from lstmattn.engine.loading import load_trained_model, resolve_device
    from lstmattn.engine.predict import predict_path, summarize_series, write_predictions_json
    from lstmattn.engine.runs import RunDirectory
    from lstmattn.labels import class_names_for
    from lstmattn.viz.prediction_files import write_overlays

    _check_arguments(args)
    run = RunDirectory(args.run)
    device = resolve_device(args.device)
    model = load_trained_model(run, args.checkpoint, device)
    class_names = class_names_for(run.config().model.num_image_classes)
    progress = not args.no_progress and sys.stderr.isatty()
    report = predict_path(
        model,
        args.input,
        class_names=class_names,
        score_threshold=args.score_threshold,
        batch_size=args.batch_size,
        device=device,
        progress=progress,
    )
    summary = summarize_series(report.predictions) if report.is_series and report.predictions else None
    header = {"input": str(args.input), "run": str(args.run), "run_id": run.run_id, "checkpoint": args.checkpoint, "class_names": list(class_names)}
    out = args.out or Path("predictions") / args.input.resolve().name
    overlays = [] if args.no_overlays else write_overlays(report.predictions, out, progress=progress and report.is_series)
    json_path = write_predictions_json(report.predictions, out, overlays=overlays, failures=report.failures, summary=summary, header=header)
    _print_report(report, summary)
    print(f"wrote {json_path} ({len(overlays)} overlay PNGs); {len(report.predictions)} predicted, {len(report.failures)} failed")
    return 1 if report.failures else 0
