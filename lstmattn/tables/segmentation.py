"""Table 1 (§4.2): lesion segmentation, mask AP on the segmentation test split."""

from __future__ import annotations

from pathlib import Path

from lstmattn.errors import LstmattnError
from lstmattn.labels import LESION_NAMES, SEGMENTATION_NAMES
from lstmattn.results import AP_VARIANTS, RunResults, read_runs
from lstmattn.tables.banner import banner
from lstmattn.tables.paper_values import TABLE1
from lstmattn.tables.result import TableResult
from lstmattn.tables.rows import Row, frame, paper_table_rows, segmentation_values, used_runs

__all__ = ["table1"]


def table1(runs_root: str | Path, profile: str = "quick", *, ap_variant: str = "per_image/all_classes",
           seed: int | None = None) -> TableResult:
    """Table 1 (§4.2): mask AP@0.5, AP@0.75 and AP@[0.5:0.95] on the segmentation test split.

    ``ap_variant`` is one of :data:`lstmattn.results.AP_VARIANTS`: per-image (the
    authors' template) or data-set-level AP, over all classes or the lesion classes only.
    """
    if ap_variant not in AP_VARIANTS:
        raise LstmattnError(f"ap_variant must be one of {AP_VARIANTS}, got {ap_variant!r}")
    root = Path(runs_root)
    runs = read_runs(root, profile=profile, seed=seed)

    def extract(run: RunResults) -> tuple[Row, int] | None:
        if run.segmentation is None:
            return None
        return segmentation_values(run.segmentation, TABLE1.columns, ap_variant), run.segmentation.n

    rows = paper_table_rows(TABLE1, runs, extract)
    aggregation, scope = ap_variant.split("/")
    how = ("AP per test image, averaged over images (VOC all-point, the authors' template)" if aggregation == "per_image"
           else "AP over the pooled test set, per class")
    which = (f"all classes ({', '.join(SEGMENTATION_NAMES.values())})" if scope == "all_classes"
             else f"lesion classes only ({', '.join(LESION_NAMES)})")
    notes = (f"AP variant: {ap_variant}: {how}; {which}.", *TABLE1.notes)
    return TableResult(TABLE1.name, f"{TABLE1.title} [{ap_variant}]", TABLE1.columns,
                       {column: TABLE1.unit for column in TABLE1.columns}, frame(rows, TABLE1.columns),
                       banner(used_runs(runs, rows), profile, root), notes)
