"""Latency percentiles with their one-sided order-statistic confidence bound (MLPerf LoadGen's
early-stopping idea).

A p99 read off 300 requests is one of the three slowest: it says little about the true p99.
For ``n`` independent latencies the ``k``-th smallest, ``X(k)``, is at least the true
``p``-quantile with probability ``P(Binomial(n, p) < k)`` (fewer than ``k`` requests fell below
the quantile). The upper bound reported here is ``X(k)`` for the smallest ``k`` with that
probability ``>= CONFIDENCE``. Like LoadGen (confidence 0.99, tolerance 0, one over-latency
query: ``t = 1`` in its ``EarlyStopping``), the bound must leave at least one request above it,
so a single outlier, the sample maximum, never is the bound: ``k <= n - 1``. That needs
:func:`min_samples` requests: 64 for p90, 662 for p99 (tests/test_latency_bounds.py). Below
that count there is no bound, and reports say "too few samples for p99" instead of a number.

The bound assumes independent requests; latencies of concurrent streams are correlated, so on a
throughput-hinted multi-stream model it is optimistic. Pure Python but for ``scipy.stats``
(imported when first used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

CONFIDENCE = 0.99
"""One-sided confidence of every reported percentile bound (LoadGen's)."""
ABOVE_BOUND = 1
"""Requests that must be slower than the bound (LoadGen's ``t = 1``)."""


def _check(percent: float, confidence: float) -> float:
    if not 0.0 < percent < 100.0:
        raise ValueError(f"percent must be in (0, 100), got {percent!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return percent / 100.0


def bound_rank(count: int, percent: float, confidence: float = CONFIDENCE) -> int | None:
    """1-based rank ``k`` of the order statistic bounding the ``percent``-th percentile of
    ``count`` latencies from above at ``confidence``: the smallest ``k`` with
    ``P(Binomial(count, p) < k) >= confidence``. None when ``k`` would leave fewer than
    :data:`ABOVE_BOUND` requests above it (too few samples)."""
    from scipy.stats import binom

    p = _check(percent, confidence)
    if count <= ABOVE_BOUND:
        return None
    # ppf: the smallest j with P(Bin <= j) >= confidence, so k - 1 = j
    k = int(binom.ppf(confidence, count, p)) + 1
    while k > 1 and binom.cdf(k - 2, count, p) >= confidence:  # guard ppf's float rounding
        k -= 1
    while binom.cdf(k - 1, count, p) < confidence:
        k += 1
    return k if k <= count - ABOVE_BOUND else None


@lru_cache(maxsize=64)
def min_samples(percent: float, confidence: float = CONFIDENCE) -> int:
    """The least request count with a bound for the ``percent``-th percentile (64 for p90 and
    662 for p99 at 99% confidence)."""
    _check(percent, confidence)
    low = ABOVE_BOUND + 1
    high = low
    while bound_rank(high, percent, confidence) is None:
        low, high = high, high * 2
    while low < high:  # having a bound is monotone in the count
        middle = (low + high) // 2
        if bound_rank(middle, percent, confidence) is None:
            low = middle + 1
        else:
            high = middle
    return high


def nearest_rank(sorted_values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile of already sorted values, as benchmark_app computes it."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(len(sorted_values) * percent / 100.0))
    return float(sorted_values[rank - 1])


@dataclass(frozen=True)
class PercentileBound:
    """A latency percentile, its point estimate and its upper confidence bound."""

    percent: float
    count: int
    estimate: float
    """Nearest-rank point estimate (as benchmark_app computes it), NaN without samples."""
    bound: float | None
    """Upper bound at :attr:`confidence`; None: too few samples."""
    needed: int
    """Requests the bound needs."""
    confidence: float = CONFIDENCE

    @property
    def name(self) -> str:
        return f"p{self.percent:g}"

    def describe(self) -> str:
        """``p90 <= 19.20 ms (99% bound; estimate 18.90 ms, 2048 requests)`` or
        ``too few samples for p99 (500 requests, its 99% bound needs 662)``."""
        if self.bound is None:
            return (f"too few samples for {self.name} ({self.count} requests, its "
                    f"{self.confidence:.0%} bound needs {self.needed})")
        return (f"{self.name} <= {self.bound:.2f} ms ({self.confidence:.0%} bound; estimate "
                f"{self.estimate:.2f} ms, {self.count} requests)")


def percentile_bound(sorted_ms: Sequence[float], percent: float,
                     confidence: float = CONFIDENCE) -> PercentileBound:
    """The ``percent``-th percentile of already sorted latencies with its upper bound."""
    count = len(sorted_ms)
    rank = bound_rank(count, percent, confidence)
    return PercentileBound(
        percent=percent, count=count, estimate=nearest_rank(sorted_ms, percent),
        bound=None if rank is None else float(sorted_ms[rank - 1]),
        needed=min_samples(percent, confidence), confidence=confidence)


def bound_or_nan(bound: PercentileBound) -> float:
    """The bound as a number for plain data (NaN: too few samples)."""
    return math.nan if bound.bound is None else bound.bound
