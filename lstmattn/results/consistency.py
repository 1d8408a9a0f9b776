"""Is a run retrained in this build consistent with its stored twin?

A build retrains a sample of the stored runs (the headline one-shot run at least) and
compares each, metric by metric, with the stored run of the same key. The yardstick is
the seed noise chapter 5 measures: the range (max − min) of the metric over the stored
runs of the same arm under the other seeds, twin included. A metric is **consistent**
when the live value differs from the twin's by no more than that range, i.e. no more
than two seeds of the stored arm differ from each other. Differences of CPU, thread
count and precision between the two machines move a run; this says whether they moved
it further than a change of seed does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from lstmattn.labels import IMAGE_CLASS_NAMES
from lstmattn.results.classification import ClassificationResult, Estimate
from lstmattn.results.run import RunResults

_COVID = IMAGE_CLASS_NAMES[-1]  # the last class in both the three- and two-class orders

__all__ = ["COMPARED_METRICS", "MetricComparison", "LiveComparison", "metric_value", "compare_live"]


def _test_estimate(pick: Callable[[ClassificationResult], Estimate | None]) -> Callable[[RunResults], float | None]:
    """A reader of one estimate of the test split, in percent (``pick`` chooses it)."""
    def read(run: RunResults) -> float | None:
        test = run.classification.get("test")
        estimate = None if test is None else pick(test)
        return None if estimate is None else 100 * estimate.estimate
    return read


def _dice(lesion: str) -> Callable[[RunResults], float | None]:
    def read(run: RunResults) -> float | None:
        value = None if run.segmentation is None else run.segmentation.dice.get("dataset", {}).get(lesion)
        return None if value is None or math.isnan(value) else float(value)
    return read


def _lesion_ap(run: RunResults) -> float | None:
    if run.segmentation is None or "per_image/lesions" not in run.segmentation.ap:
        return None
    value = run.segmentation.ap["per_image/lesions"].get("AP@0.5")
    return None if value is None or math.isnan(value) else float(value)


#: Metric label → how to read it from a run (percent for classification, fractions for
#: segmentation), in the order the book shows them.
COMPARED_METRICS: dict[str, Callable[[RunResults], float | None]] = {
    "F1 %": _test_estimate(lambda test: test.metric("f1")),
    "accuracy %": _test_estimate(lambda test: test.metric("accuracy")),
    "COVID-19 sensitivity %": _test_estimate(lambda test: test.sensitivity(_COVID)),
    "GGO Dice": _dice("GGO"),
    "consolidation Dice": _dice("consolidation"),
    "lesion mask AP@0.5": _lesion_ap,
}


def metric_value(run: RunResults, metric: str) -> float | None:
    """The value of one :data:`COMPARED_METRICS` metric of ``run`` (``None``: not computed)."""
    return COMPARED_METRICS[metric](run)


@dataclass(frozen=True)
class MetricComparison:
    """One metric: the live value, the twin's, the stored seeds' values and the verdict."""

    metric: str
    live: float
    stored: float
    seed_values: tuple[float, ...]

    @property
    def seed_range(self) -> float:
        return max(self.seed_values) - min(self.seed_values)

    @property
    def difference(self) -> float:
        return self.live - self.stored

    @property
    def consistent(self) -> bool:
        return abs(self.difference) <= self.seed_range + 1e-9


@dataclass(frozen=True)
class LiveComparison:
    """A live run against its stored twin: one :class:`MetricComparison` per metric both
    have, or a ``reason`` why there is nothing to compare with."""

    live_run: str
    stored_run: str | None
    metrics: tuple[MetricComparison, ...]
    reason: str | None = None

    @property
    def compared(self) -> bool:
        return self.reason is None

    @property
    def consistent(self) -> bool:
        return self.compared and all(m.consistent for m in self.metrics)

    def summary(self) -> str:
        """``recomputed here: F1 % 95.8; stored: 96.5; seed range 94.3–96.5: consistent; ...``."""
        if not self.compared:
            return f"{self.live_run}: not compared ({self.reason})"
        parts = []
        for m in self.metrics:
            places = 2 if m.metric.endswith("%") else 3
            low, high = min(m.seed_values), max(m.seed_values)
            parts.append(f"{m.metric}: recomputed here {m.live:.{places}f}; stored {m.stored:.{places}f}; seed range "
                         f"{low:.{places}f}–{high:.{places}f} ({len(m.seed_values)} seeds): "
                         f"{'consistent' if m.consistent else 'OUTSIDE the seed noise'}")
        return "; ".join(parts)


def compare_live(live: RunResults, twin: RunResults | None, seeds: Sequence[RunResults]) -> LiveComparison:
    """Compare ``live`` with its stored ``twin`` against the spread of ``seeds`` (the stored
    runs of the same arm under every seed, the twin among them)."""
    if twin is None:
        return LiveComparison(live.run_id, None, (), "no stored twin")
    if len(seeds) < 2:
        return LiveComparison(live.run_id, twin.run_id, (), f"{len(seeds)} stored seed(s) of its arm; the seed noise needs two")
    rows = []
    for metric in COMPARED_METRICS:
        values = [metric_value(run, metric) for run in seeds]
        live_value, stored_value = metric_value(live, metric), metric_value(twin, metric)
        if live_value is None or stored_value is None or any(v is None for v in values):
            continue
        rows.append(MetricComparison(metric, live_value, stored_value, tuple(float(v) for v in values)))
    if not rows:
        return LiveComparison(live.run_id, twin.run_id, (), "no metric both runs computed")
    return LiveComparison(live.run_id, twin.run_id, tuple(rows))
