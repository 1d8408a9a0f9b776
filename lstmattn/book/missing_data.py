"""The page a real-data chapter becomes when the build has no real-data folder.

A chapter whose planned runs use a profile of their own on the real-data folder
(:func:`lstmattn.engine.plan.needs_real_data`: chapter 7) is not executed without
``real_data``; the build writes instead a short notebook with the chapter's introduction
(its first Markdown cell) and :data:`MISSING_REAL_DATA`: what data the chapter needs,
where to get it and how to check a copy.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from lstmattn.config import REAL_DATA_ENV, REAL_DATA_LAYOUT
from lstmattn.io import atomic_write_text

__all__ = ["MISSING_REAL_DATA", "write_missing_data_page"]

MISSING_REAL_DATA = f"""## This build has no real data

This chapter trains and evaluates its models on real CT slices, and this book was built
without a real-data folder, so nothing was run here. It needs one folder holding:

| sub-folder | what | where to get it |
|---|---|---|
| `{REAL_DATA_LAYOUT["root"]}/` | two-class slices, `COVID/` and `non-COVID/` (the SARS-CoV-2 CT-scan dataset, Soares et al. 2020; a sample of 500 per class, or the whole set) | Kaggle `plameneduardo/sarscov2-ctscan-dataset` |
| `{REAL_DATA_LAYOUT["segmentation_root"]}/` | 50 slices with GGO/consolidation masks, `Imgs/` and `GT/` (MedSeg, as packaged in COVID-SemiSeg by Inf-Net's authors; non-commercial use only) | `http://medicalsegmentation.com/covid19/`, the Inf-Net repository `DengPingFan/Inf-Net` |
| `dicom-series/P001/` (optional) | a raw DICOM series for `lstmattn predict` (COVID-CT-MD) | `https://doi.org/10.6084/m9.figshare.12991592` |

Check a copy against the manifests in `data_manifests/` (counts, SHA-256 over every file,
every image decodable), then build the book with it:

```bash
lstmattn data verify DIR/{REAL_DATA_LAYOUT["root"]}            # manifest sarscov2-ct
lstmattn data verify DIR/{REAL_DATA_LAYOUT["segmentation_root"]}   # manifest medseg-semiseg
make book REAL_DATA=DIR       # or: lstmattn book build --real-data DIR
```

`make book` uses `${REAL_DATA_ENV}` or `../shared/data` as `REAL_DATA` when that folder
exists. A copy of the whole published SARS-CoV-2 CT-scan set works too (it fails the
manifest's counts, not the chapter); the chapter's split is drawn from whatever the
class folders hold.
"""
"""What a real-data chapter shows instead of its results when no real-data folder is set."""


def write_missing_data_page(source: str | Path, target: str | Path) -> Path:
    """Write ``target``: the chapter notebook ``source``'s first Markdown cell (its title
    and introduction) followed by :data:`MISSING_REAL_DATA`; returns ``target``."""
    chapter = nbformat.read(Path(source), as_version=4)
    introduction = next((cell.source for cell in chapter.cells if cell.cell_type == "markdown"), "")
    page = nbformat.v4.new_notebook(metadata=chapter.metadata)
    page.cells = [nbformat.v4.new_markdown_cell(introduction), nbformat.v4.new_markdown_cell(MISSING_REAL_DATA)]
    return atomic_write_text(nbformat.writes(page), target)
