"""Judging latency percentiles by their confidence bound (see stats/percentiles.py).

A ``latency_pNN_ms`` metric recorded by ``cpuperf.measure`` carries the 99% upper bound of p90
and p99 in its ``extra``. A ``max_latency_ms`` ceiling is held against the bound, not the point
estimate: a pass then means the true p90 is under the ceiling with 99% confidence. When the
requests were too few for a bound the ceiling cannot be checked, and the metric is invalid
(it fails, as a LoadGen run without enough queries is invalid).
"""

from __future__ import annotations

import math
import re

from ..records.results import MetricRecord, MetricResult
from ..stats.percentiles import CONFIDENCE, PercentileBound, min_samples
from ..status import Status

_PERCENTILE = re.compile(r"^latency_p(\d+(?:\.\d+)?)_ms$")
BOUND_KEYS = {90.0: "p90_bound", 99.0: "p99_bound"}
ESTIMATE_KEYS = {90.0: "p90", 99.0: "p99"}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def bounds_of(record: MetricRecord) -> list[PercentileBound]:
    """The p90 and p99 bounds a latency record carries (none for older or user records)."""
    extra = record.extra
    if record.kind != "latency" or not all(key in extra for key in BOUND_KEYS.values()):
        return []
    count = int(extra.get("count") or 0)
    gated = gated_percent(record)
    bounds = []
    for percent, key in BOUND_KEYS.items():
        estimate = record.value if percent == gated else _number(extra.get(ESTIMATE_KEYS[percent]))
        bounds.append(PercentileBound(percent, count, math.nan if estimate is None else estimate,
                                      _number(extra.get(key)), min_samples(percent)))
    return bounds


def gated_percent(record: MetricRecord) -> float | None:
    """The percentile a ``latency_pNN_ms`` metric is (None for other names)."""
    match = _PERCENTILE.match(record.metric.rsplit("/", 1)[-1])
    return float(match.group(1)) if match else None


def percentile_note(record: MetricRecord) -> str:
    """``; p90 <= 19.20 ms (99% bound; ...); too few samples for p99 (...)`` or ``""``."""
    bounds = bounds_of(record)
    return "".join(f"; {b.describe()}" for b in bounds)


def cell_note(record: MetricRecord) -> str:
    """What a report's "current" cell adds to a latency percentile: its bound, and which
    percentile the samples were too few for: `` (<= 2.310 at 99%; too few samples for p99)``."""
    bounds = bounds_of(record)
    if not bounds:
        return ""
    gated = gated_percent(record)
    parts = []
    for bound in bounds:
        if bound.bound is None:
            parts.append(f"too few samples for {bound.name}")
        elif bound.percent == gated:
            parts.append(f"<= {bound.bound:.3f} at {bound.confidence:.0%}")
    return f" ({'; '.join(parts)})" if parts else ""


def ceiling_result(record: MetricRecord, ceiling: float, name: str) -> MetricResult | None:
    """The verdict of ``max_latency_ms`` on a record with bounds (None: judge the value as
    usual, for records without them)."""
    percent = gated_percent(record)
    bound = next((b for b in bounds_of(record) if b.percent == percent), None)
    if bound is None:
        return None
    shown = f"ceiling {ceiling:.3f} ms (max_latency_ms)"
    if bound.bound is None:
        return MetricResult(
            record, Status.INVALID,
            message=f"{name}: {bound.describe()}, so the {shown} cannot be checked at "
                    f"{CONFIDENCE:.0%} confidence; give the measurement more requests "
                    f"(--cpuperf-trial-time or trials=)")
    if bound.bound > ceiling:
        return MetricResult(
            record, Status.ABOVE_CEILING,
            message=f"{name}: its {bound.confidence:.0%} upper bound {bound.bound:.3f} ms is "
                    f"above the {shown} (estimate {bound.estimate:.3f} ms, {bound.count} "
                    f"requests; the ceiling is held against the bound, not the estimate)")
    return None
