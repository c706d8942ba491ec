"""Latency percentiles with their order-statistic bound (latency.py, percentiles.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.records.measurement import LatencySummary
from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.stats.percentiles import bound_rank, min_samples, percentile_bound
from pytest_cpuperf.status import Status


def test_loadgen_sample_counts() -> None:
    """LoadGen's minimum query counts, from the binomial formula at confidence 0.99 and
    tolerance 0 with one request above the bound (its EarlyStopping's t = 1)."""
    assert min_samples(90, 0.99) == 64
    assert min_samples(99, 0.99) == 662
    assert min_samples(99.9, 0.99) == 6636
    assert bound_rank(64, 90) == 63 and bound_rank(63, 90) is None
    assert bound_rank(662, 99) == 661 and bound_rank(661, 99) is None


@pytest.mark.parametrize("count", [70, 200, 1000, 4097])
@pytest.mark.parametrize("percent", [50, 90, 99])
def test_rank_is_the_smallest_with_the_confidence(count: int, percent: float) -> None:
    rank = bound_rank(count, percent)
    p = percent / 100
    if rank is None:
        assert binom.cdf(count - 2, count, p) < 0.99
        return
    assert binom.cdf(rank - 1, count, p) >= 0.99
    assert binom.cdf(rank - 2, count, p) < 0.99


def test_bound_covers_the_true_percentile_99_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true_p90 = -math.log(0.1)  # exponential(1)
    covered = []
    for _ in range(2000):
        values = np.sort(rng.exponential(size=300))
        bound = percentile_bound(values.tolist(), 90).bound
        assert bound is not None
        covered.append(bound >= true_p90)
    assert 0.98 <= float(np.mean(covered)) <= 1.0


def test_summary_has_bounds_only_with_enough_samples() -> None:
    few = LatencySummary.from_samples([float(v) for v in range(1, 51)])
    assert math.isnan(few.p90_bound) and math.isnan(few.p99_bound)
    some = LatencySummary.from_samples([float(v) for v in range(1, 101)])
    assert some.p90_bound > some.p90 and math.isnan(some.p99_bound)
    assert [b.describe() for b in some.bounds()][1] == \
        "too few samples for p99 (100 requests, its 99% bound needs 662)"
    old = {k: v for k, v in some.__dict__.items() if not k.endswith("_bound")}
    assert math.isnan(LatencySummary(**old).p90_bound)  # stored before bounds existed


def _latency(values: list[float]) -> MetricRecord:
    summary = LatencySummary.from_samples(values)
    return MetricRecord(test_id="t.py::test", metric="latency_p90_ms", kind="latency",
                        unit="ms", value=summary.p90, higher_is_better=False,
                        extra={"p99": summary.p99, "count": summary.count,
                               "p90_bound": summary.p90_bound, "p99_bound": summary.p99_bound})


def test_ceiling_holds_the_bound_not_the_estimate() -> None:
    rng = np.random.default_rng(3)
    record = _latency((10 + rng.exponential(size=400)).tolist())
    bound = record.extra["p90_bound"]
    assert record.value < bound
    between = (record.value + bound) / 2
    result = evaluate(record, None, Policy(ceiling=between))
    assert result.status is Status.ABOVE_CEILING
    assert "upper bound" in result.message and "not the estimate" in result.message
    passed = evaluate(record, None, Policy(ceiling=bound + 0.01))
    assert passed.status is Status.PASS  # the ceiling is its gate, baseline or not
    assert "within its ceiling" in passed.message
    assert "p90 <= " in passed.message and "too few samples for p99" in passed.message


def test_ceiling_without_enough_samples_is_invalid() -> None:
    record = _latency([10.0 + v / 100 for v in range(40)])
    result = evaluate(record, None, Policy(ceiling=1000.0))
    assert result.status is Status.INVALID and result.status.fails
    assert "too few samples for p90 (40 requests, its 99% bound needs 64)" in result.message


def test_user_latency_records_keep_the_value_ceiling() -> None:
    record = MetricRecord(test_id="t", metric="latency_p90_ms", kind="latency", unit="ms",
                          value=5.0, higher_is_better=False)
    assert evaluate(record, None, Policy(ceiling=4.0)).status is Status.ABOVE_CEILING
    assert evaluate(record, None, Policy(ceiling=6.0)).status is Status.PASS


def test_measurements_stored_with_or_without_bounds_load() -> None:
    from pytest_cpuperf.records.measurement import Measurement, Trial

    summary = LatencySummary.from_samples([1.0 + v / 1000 for v in range(700)])
    measurement = Measurement(label="m", backend="openvino", trials=(Trial(700, 1.0, 1),),
                              latency=summary)
    data = measurement.to_dict()
    assert Measurement.from_dict(data).latency == summary
    data["latency_ms"]["p99_bound"] = None  # strict JSON writes NaN as null
    assert math.isnan(Measurement.from_dict(data).latency.p99_bound)
    for key in ("p90_bound", "p99_bound"):  # written before the bounds existed
        del data["latency_ms"][key]
    assert math.isnan(Measurement.from_dict(data).latency.p90_bound)
