"""Layer 4: one typed reader over a run's result files. Reads files; runs nothing.

:func:`read_run` / :func:`read_runs` turn run folders into :class:`RunResults`: the run's
:class:`RunIdentity` (from ``record.json``), its §4.3 classification metrics with
bootstrap intervals (:class:`ClassificationResult` of :class:`Estimate`), its §4.2 mask
AP and Dice with their bootstrap intervals over the test slices where the file has them
(:class:`SegmentationResult`), per-slice predictions and its config.
"""

from lstmattn.results.classification import ClassificationResult, Estimate
from lstmattn.results.run import RunIdentity, RunResults, read_run, read_runs
from lstmattn.results.segmentation import AP_VARIANTS, SegmentationResult

__all__ = [
    "AP_VARIANTS",
    "Estimate",
    "ClassificationResult",
    "SegmentationResult",
    "RunIdentity",
    "RunResults",
    "read_run",
    "read_runs",
]
