"""Layer 5: the paper's Tables 1-4, the ablation table and chapter 7's real-CT tables, as
pure formatting of run results.

Every table puts the paper's value and ours side by side (with Δ = ours − paper only
for runs on the paper's own data), one row per model and run (with run id, profile,
data set, seed and commit), and carries a banner that says which data and profile
produced it. On synthetic phantom data the banner says plainly that the numbers are not
a reproduction of the paper.

Sources of numbers:

* ours — the runs' result files, read by :func:`lstmattn.results.read_runs`;
* the paper — :mod:`lstmattn.tables.paper_values` (uncertain cells flagged with ``†``
  and never used for Δ; printed values that contradict their own row flagged with ``‡``
  and a generated note; rows quoted from other publications marked as such);
* results published on chapter 7's real data sets (not the paper's) —
  :mod:`lstmattn.tables.published_values`, shown beside ours with the protocol
  differences and never subtracted from ours (other splits, other training).

Formats: Tables 2-4 in percent with two decimals and the bootstrap 95 % interval,
``95.10 (93.20–96.80)``; Table 1 as AP fractions with three decimals and the bootstrap
95 % interval over the test slices, ``0.605 (0.571–0.640)``, or ``0.605 §`` for a run
evaluated before per-slice scores were kept (no interval; a note says so). A run that
does not exist is a ``not run`` cell, a split the data does not have a ``not available``
cell; neither raises.

Typical use::

    t2 = table2("runs", "quick")
    t2                               # renders as HTML in a notebook (banner, table, notes)
    write_table(t2, "runs/tables")   # table2.csv + table2.md
"""

from lstmattn.tables.ablation import ablation_table, effects_beyond_noise, seed_noise_summary
from lstmattn.tables.classification import confusion_frames, table2, table3, table4
from lstmattn.tables.collection import all_tables
from lstmattn.tables.format import NOT_AVAILABLE, NOT_RUN, format_delta, format_interval
from lstmattn.tables.real_ct import real_classification_table, real_segmentation_table
from lstmattn.tables.result import TableResult, write_table
from lstmattn.tables.segmentation import table1

__all__ = [
    "NOT_RUN",
    "NOT_AVAILABLE",
    "TableResult",
    "seed_noise_summary",
    "effects_beyond_noise",
    "table1",
    "table2",
    "table3",
    "table4",
    "ablation_table",
    "real_classification_table",
    "real_segmentation_table",
    "all_tables",
    "write_table",
    "confusion_frames",
    "format_interval",
    "format_delta",
]
