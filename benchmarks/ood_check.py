"""How often does ``lstmattn predict``'s out-of-distribution check flag each kind of slice?

    python benchmarks/ood_check.py RUN... --phantoms DIR [--real-data DIR] [--sample 300]

For each trained run (its ``results/feature_reference.npz`` is fitted first when missing,
:func:`~lstmattn.engine.feature_reference.write_feature_reference`), predicts, as
``lstmattn predict`` does (the run's crop rule, float32), the test slices of the phantom
set ``--phantoms`` (``covidx/test.txt``), the test split of the SARS-CoV-2 CT-scan slices
(the split list the real-data runs wrote, ``runs/_data/splits/sarscov2-ct-*/test.txt``),
the COVIDx-CT sample (``covidx-ct-sample/images``) and the DICOM series
``dicom-series/P001``, at most ``--sample`` slices of each (evenly spaced), and prints the
share flagged by the feature check, by the grey-level histogram check and by either.

A script that reports numbers, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from lstmattn.config import real_data_folder
from lstmattn.data.body_crop import crop_rule
from lstmattn.engine.datasets import data_cache_root
from lstmattn.engine.feature_reference import read_feature_reference, write_feature_reference
from lstmattn.engine.features import evenly_spaced
from lstmattn.engine.loading import load_trained_model
from lstmattn.engine.predict import TrainingData, predict_slices
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.slice_files import input_files, order_slice_files
from lstmattn.labels import class_names_for


def _domains(phantoms: Path, real: Path, sample: int) -> dict[str, list[Path]]:
    """Each domain's slice files, at most ``sample`` evenly spaced."""
    phantom_test = [phantoms / "covidx" / "images" / line.split()[0]
                    for line in (phantoms / "covidx" / "test.txt").read_text().splitlines() if line.strip()]
    (split_list,) = sorted((data_cache_root() / "splits").glob("sarscov2-ct-*/test.txt"))
    real_test = [real / "sarscov2-ct" / line for line in split_list.read_text().splitlines() if line.strip()]
    covidx = sorted((real / "covidx-ct-sample" / "images").glob("*.png"))
    series, _ = order_slice_files(input_files(real / "dicom-series" / "P001")[0])
    domains = {"phantom test": phantom_test, "sarscov2-ct test": real_test, "covidx-ct-sample": covidx,
               "P001 (DICOM)": [item.path for item in series]}
    return {name: [files[i] for i in evenly_spaced(len(files), sample)] for name, files in domains.items()}


def _measure(run: RunDirectory, domains: dict[str, list[Path]]) -> None:
    if read_feature_reference(run) is None:
        started = time.perf_counter()
        write_feature_reference(run, progress=False)
        print(f"{run.run_id}: fitted the feature reference in {time.perf_counter() - started:.0f} s")
    reference = read_feature_reference(run)
    config = run.config()
    training = TrainingData.from_record(run.record(), data_source=config.data.source, features=reference)
    model = load_trained_model(run)
    meta = reference.metadata
    print(f"\n{run.run_id} ({training.description}): {meta['dimensions']}-d features, fitted on {meta['n_fitted']}, "
          f"calibrated on {meta['n_calibrated']}, threshold {reference.threshold:.1f} "
          f"({100 * reference.false_alarm_rate:.0f} % of validation), histogram threshold "
          f"{training.intensity.threshold:.2f}")
    print(f"  {'slices':<18} {'n':>4}  {'features':>8}  {'histogram':>9}  {'either':>6}  feature distance median (range)")
    for name, files in domains.items():
        started = time.perf_counter()
        predictions = predict_slices(model, files, class_names=class_names_for(config.model.num_image_classes),
                                     training=training, crop=crop_rule("auto", config.data.source))
        features = np.array([p.features.out_of_distribution for p in predictions])
        histogram = np.array([p.intensity.out_of_distribution for p in predictions])
        distances = np.array([p.features.distance for p in predictions])
        print(f"  {name:<18} {len(files):>4}  {100 * features.mean():7.1f}%  {100 * histogram.mean():8.1f}%  "
              f"{100 * (features | histogram).mean():5.1f}%  {np.median(distances):.1f} "
              f"({distances.min():.1f}-{distances.max():.1f})  [{time.perf_counter() - started:.0f} s]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="trained run folders")
    parser.add_argument("--phantoms", type=Path, required=True, help="a phantom set (holds covidx/test.txt)")
    parser.add_argument("--real-data", type=Path, default=real_data_folder(), help="the real-data folder")
    parser.add_argument("--sample", type=int, default=300, help="slices per domain at most (evenly spaced)")
    args = parser.parse_args()
    domains = _domains(args.phantoms, args.real_data, args.sample)
    for run in args.runs:
        _measure(RunDirectory(run), domains)


if __name__ == "__main__":
    main()
