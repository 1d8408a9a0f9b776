"""The one-line banner above every table: which data, profile, seeds and commits.

On synthetic phantom data it says plainly that the numbers are not a reproduction of
the paper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from lstmattn.results import RunResults

__all__ = ["COMMIT_LENGTH", "banner", "data_descriptions"]

COMMIT_LENGTH = 12
"""Characters of a git commit shown in banners and run columns."""


def data_descriptions(runs: Sequence[RunResults]) -> str:
    """The runs' data descriptions, sorted and joined with ``; `` (``""`` for none)."""
    return "; ".join(sorted({run.identity.data for run in runs}))


def banner(runs: Sequence[RunResults], profile: str, root: Path) -> str:
    """The banner of a table built from ``runs`` (profile ``profile`` under ``root``)."""
    if not runs:
        return f"No evaluated runs of profile '{profile}' under {root}: only the paper's values are shown."
    seeds = ", ".join(str(seed) for seed in sorted({run.identity.seed for run in runs}))
    commits = ", ".join(sorted({run.commit[:COMMIT_LENGTH] for run in runs}))
    if any(run.identity.is_phantom for run in runs):
        data = (f"PHANTOM DATA — these numbers are NOT a reproduction of the paper: the models were trained "
                f"and tested on {data_descriptions(runs)}, not on the paper's COVIDx-CT/CNCB data; the paper's "
                "values are shown only to read the layout.")
    else:
        data = f"Data: {data_descriptions(runs)}."
    reduced = "" if profile == "paper" else " (reduced settings, not the paper's training schedule)"
    checkpoints = ", ".join(sorted({run.checkpoint for run in runs if run.checkpoint}))
    evaluated = f"; evaluated checkpoint(s) {checkpoints}" if checkpoints else ""
    return (f"{data} Profile '{profile}'{reduced}; {len(runs)} run(s); seed(s) {seeds}{evaluated}; "
            f"commit(s) {commits}.")
