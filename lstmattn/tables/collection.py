"""Every table the book shows, by the file name it is written under."""

from __future__ import annotations

from pathlib import Path

from lstmattn.tables.ablation import ablation_table
from lstmattn.tables.classification import table2, table3, table4
from lstmattn.tables.result import TableResult
from lstmattn.tables.segmentation import table1
from lstmattn.variants import IDEAS

__all__ = ["all_tables"]


def all_tables(runs_root: str | Path, profile: str = "quick", *, seed: int | None = None) -> dict[str, TableResult]:
    """Tables 1 (all classes and lesions only), 2, 3, 4 and the two ablation tables (paper
    vs code; the paper's ideas taken out) of the runs of ``profile`` under ``runs_root``,
    keyed ``table1``, ``table1_lesions``, ``table2``, ``table3``, ``table4``,
    ``ablations``, ``ablation_ideas``."""
    return {
        "table1": table1(runs_root, profile, seed=seed),
        "table1_lesions": table1(runs_root, profile, ap_variant="per_image/lesions", seed=seed),
        "table2": table2(runs_root, profile, seed=seed),
        "table3": table3(runs_root, profile, seed=seed),
        "table4": table4(runs_root, profile, seed=seed),
        "ablations": ablation_table(runs_root, profile, seed=seed),
        "ablation_ideas": ablation_table(runs_root, profile, IDEAS, seed=seed),
    }
