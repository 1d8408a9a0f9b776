"""Tables 2-4 (§4.3-4.4): image classification, and the confusion matrices of chapter 4.

Table 2 is the COVIDx-CT test split, Table 3 its hold-out part of the train split
(``results/holdout_metrics.json``), Table 4 the two-class iCTCF test split. On phantom
data, Tables 3-4 are filled by stand-ins, labelled as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from lstmattn.results import ClassificationResult, RunResults, read_runs
from lstmattn.tables.banner import banner, data_descriptions
from lstmattn.tables.format import NOT_AVAILABLE, NOT_RUN
from lstmattn.tables.paper_values import TABLE2, TABLE3, TABLE4, TEXT_NOTES, PaperTable
from lstmattn.tables.result import TableResult
from lstmattn.tables.rows import Row, classification_values, frame, paper_table_rows, used_runs
from lstmattn.variants import TWO_CLASS

__all__ = ["table2", "table3", "table4", "confusion_frames"]

_INTERVAL_NOTE = "Ours: bootstrap 95 % intervals (1,000 resamples) in brackets."
_CLASSIFIER_PREFIX = "classifier-"  # registered names of the torchvision classifiers (Table 2 rows 4-10)


def table2(runs_root: str | Path, profile: str = "quick", *, f1_metric: str = "f1",
           seed: int | None = None) -> TableResult:
    """Table 2 (§4.3): per-class sensitivity (Eq. 11), F1 (Eq. 13), overall sensitivity
    and precision on the three-class test split.

    ``f1_metric`` is ``"f1"`` (Eq. 13 with the class shares of the evaluated set) or
    ``"f1_paper_weights"`` (the reference code's fixed 0.45/0.35/0.20).
    """
    root = Path(runs_root)
    runs = read_runs(root, profile=profile, seed=seed)

    def extract(run: RunResults) -> tuple[Row, int] | None:
        test = run.classification.get("test")
        if test is None or test.is_two_class:
            return None
        return classification_values(test, TABLE2.columns, f1_metric), test.n

    rows = paper_table_rows(TABLE2, runs, extract)
    used = used_runs(runs, rows)
    f1_note = ("F1 (ours): Eq. 13 with the class shares of the evaluated test set as weights."
               if f1_metric == "f1" else "F1 (ours): Eq. 13 with the reference code's fixed weights 0.45/0.35/0.20.")
    notes = (f1_note, _INTERVAL_NOTE, *_input_size_notes(used), *TABLE2.notes, *TEXT_NOTES)
    return TableResult(TABLE2.name, TABLE2.title, TABLE2.columns, {column: TABLE2.unit for column in TABLE2.columns},
                       frame(rows, TABLE2.columns), banner(used, profile, root), notes)


def _input_size_notes(used: Sequence[RunResults]) -> list[str]:
    """A note when the compared runs saw images of different sizes (e.g. the quick
    profile's torchvision classifiers at ``model.classifier_image_size``)."""
    sizes: dict[int, list[str]] = {}
    for run in used:
        if not run.config_path.is_file():
            continue
        model = run.config().model
        is_classifier = run.identity.model.startswith(_CLASSIFIER_PREFIX)
        size = (model.classifier_image_size or model.image_size) if is_classifier else model.image_size
        sizes.setdefault(size, []).append(run.identity.model)
    if len(sizes) < 2:
        return []
    listed = "; ".join(f"{size}² for {', '.join(sorted(models))}" for size, models in sorted(sizes.items()))
    return [f"Input sizes differ between rows: {listed} (model.image_size / model.classifier_image_size); "
            "read the comparison with that in mind."]


def _split_table(paper: PaperTable, runs_root: str | Path, profile: str, seed: int | None, *,
                 pick: Callable[[RunResults], ClassificationResult | None], missing_status: str,
                 missing_banner: str, phantom_notes: Iterable[str],
                 variants: Sequence[str | None] = (None,)) -> TableResult:
    """Table 3 or 4: ``paper``'s columns from the split ``pick`` finds in each run;
    ``missing_banner`` (formatted with ``profile``, ``data`` and ``root``) when no run
    has it, ``phantom_notes`` when phantom runs fill it."""
    root = Path(runs_root)
    runs = read_runs(root, profile=profile, seed=seed)

    def extract(run: RunResults) -> tuple[Row, int] | None:
        result = pick(run)
        if result is None:
            return None
        return classification_values(result, paper.columns, "f1"), result.n

    rows = paper_table_rows(paper, runs, extract, missing_status=missing_status, variants=variants)
    used = used_runs(runs, rows)
    if used:
        table_banner = banner(used, profile, root)
    else:
        table_banner = missing_banner.format(profile=profile, data=data_descriptions(runs) or "no evaluated runs",
                                             root=root)
    notes = ("Ours: bootstrap 95 % intervals (1,000 resamples) in brackets; F1 is Eq. 13 with the class "
             "shares of the evaluated set.", *paper.notes,
             *(phantom_notes if any(run.identity.is_phantom for run in used) else ()))
    return TableResult(paper.name, paper.title, paper.columns, {column: paper.unit for column in paper.columns},
                       frame(rows, paper.columns), table_banner, notes, available=bool(used))


def table3(runs_root: str | Path, profile: str = "quick", *, seed: int | None = None) -> TableResult:
    """Table 3 (§4.4): the hold-out part of the COVIDx-CT train split
    (``results/holdout_metrics.json``); the paper's values alone when no run has it.
    On phantoms the hold-out is the generator's ``holdout`` split."""
    return _split_table(
        TABLE3, runs_root, profile, seed,
        pick=lambda run: run.classification.get("holdout"),
        missing_status=NOT_AVAILABLE,
        missing_banner=("NOT AVAILABLE ON THIS DATA — the hold-out split (COVIDx CT-1 train minus the 3,000 training "
                        "slices) does not exist for the data of profile '{profile}' ({data}); only the paper's values "
                        "are shown."),
        phantom_notes=("Phantom stand-in: the hold-out split is a further set of phantom slices drawn like the "
                       "training set, from patients the model never saw. The paper's hold-out is the rest of the "
                       "COVIDx CT-1 train split, which shares patients with its 3,000 training slices, so the two are "
                       "not the same kind of test.",),
    )


def _two_class_result(run: RunResults) -> ClassificationResult | None:
    """The run's iCTCF split, or its test split when that is two-class."""
    if "ictcf" in run.classification:
        return run.classification["ictcf"]
    test = run.classification.get("test")
    return test if test is not None and test.is_two_class else None


def table4(runs_root: str | Path, profile: str = "quick", *, seed: int | None = None) -> TableResult:
    """Table 4 (§4.4): two-class iCTCF test split (``results/ictcf_metrics.json`` or a
    two-class ``test_metrics.json``) of default runs or runs of the
    :data:`~lstmattn.variants.TWO_CLASS` variant; ``not run`` cells and the paper's
    values otherwise. On phantoms the two-class run sees the Normal (as Negative) and
    COVID-19 phantoms only."""
    return _split_table(
        TABLE4, runs_root, profile, seed,
        pick=_two_class_result,
        missing_status=NOT_RUN,
        missing_banner=("NOT RUN — no run of profile '{profile}' under {root} has two-class results (a run with "
                        "model.num_image_classes=2: data.source='ictcf', or the two-class phantom variant); only the "
                        "paper's values are shown."),
        phantom_notes=("Phantom stand-in: two-class runs (model.num_image_classes=2) trained and tested on the Normal "
                       "(labelled Negative) and COVID-19 phantoms; the CP phantoms are left out. The paper trains on "
                       "600 iCTCF slices with a ResNeXt50+FPN backbone; the backbone here is the profile's.",),
        variants=(None, TWO_CLASS),
    )


def confusion_frames(runs_root: str | Path, profile: str = "quick", models: Sequence[str] | None = None, *,
                     split: str = "test", seed: int | None = None) -> dict[str, pd.DataFrame]:
    """Confusion matrices (rows true, columns predicted) of the default runs' ``split``;
    keyed by run id, in ``models`` order (default: every model, sorted)."""
    runs = [run for run in read_runs(runs_root, profile=profile, seed=seed) if run.identity.variant is None]
    frames: dict[str, pd.DataFrame] = {}
    for model in models if models is not None else sorted({run.identity.model for run in runs}):
        for run in runs:
            result = run.classification.get(split)
            if run.identity.model == model and result is not None:
                frames[run.run_id] = result.confusion_frame()
    return frames
