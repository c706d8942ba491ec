"""Engine: benchmark_app's loop arithmetic on a real OpenVINO model, the sync loop, stats."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from pytest_cpuperf.backends.base import SyncTarget
from pytest_cpuperf.judge.stats import log_mean_ci, paired_ratio
from pytest_cpuperf.measure import engine
from pytest_cpuperf.measure.measurement import LatencySummary, nearest_rank

FAST = engine.EngineSettings(trials=3, trial_time_s=0.3, warmup_s=0.1)


def test_nearest_rank_matches_benchmark_app() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert nearest_rank(values, 50) == 2.0  # lower middle, no interpolation
    assert nearest_rank(values, 90) == 4.0
    assert nearest_rank(list(map(float, range(1, 101))), 99) == 99.0
    summary = LatencySummary.from_samples([5.0, 1.0, 3.0])
    assert (summary.p50, summary.min, summary.max, summary.count) == (3.0, 1.0, 5.0, 3)


def test_async_trial_follows_benchmark_app(tiny_int8_ir: Path) -> None:
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    compiled = compile_model(tiny_int8_ir, check_options(streams=2))
    target = compiled.timing_target(compiled.example_inputs())
    nireq = len(target.queue)
    assert nireq == compiled.property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    engine.async_first_inference(target)
    latencies: list[float] = []
    trial = engine.async_trial(target, 0.3, latencies)
    assert trial.iterations % nireq == 0
    assert trial.duration_s >= 0.3
    assert len(latencies) == trial.iterations  # every request's latency, drain included
    assert all(lat > 0 for lat in latencies)
    assert trial.throughput == pytest.approx(trial.iterations / trial.duration_s)


def test_measure_reports_trials_latency_kernels(tiny_int8_ir: Path) -> None:
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    compiled = compile_model(tiny_int8_ir, check_options())
    m = engine.measure(compiled, settings=FAST)
    assert len(m.throughputs) == 3 and all(t > 0 for t in m.throughputs)
    low, high = m.ci95
    assert low <= m.throughput <= high
    assert m.latency.p50 <= m.latency.p90 <= m.latency.p99 <= m.latency.max
    assert m.latency.count == m.iterations
    assert m.versions["openvino"]
    assert m.config["PERFORMANCE_HINT"] == "THROUGHPUT"
    assert m.kernels is not None and m.kernels.matmul_layers > 0
    again = type(m).from_dict(m.to_dict())
    assert again.throughputs == m.throughputs and again.kernels == m.kernels


def test_sync_trial_honours_time_and_min_iterations() -> None:
    target = SyncTarget(call=lambda: time.sleep(0.01), batch_size=4)
    latencies: list[float] = []
    trial = engine.sync_trial(target, 0.0001, min_iterations=5, latencies=latencies)
    assert trial.iterations == 5 and len(latencies) == 5
    assert all(lat >= 9.0 for lat in latencies)
    assert trial.throughput == pytest.approx(4 * 5 / trial.duration_s)
    longer = engine.sync_trial(target, 0.1, min_iterations=1, latencies=None)
    assert longer.duration_s >= 0.1 and longer.iterations >= 5


@pytest.mark.parametrize("bad", [{"trials": 1}, {"trial_time_s": 0}, {"warmup_s": -1},
                                 {"trials": 2.5}])
def test_engine_settings_reject_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad)).removesuffix("_s")):
        engine.EngineSettings(**bad)


def test_paired_ratio_and_ci() -> None:
    a = [110.0, 112.0, 108.0, 111.0]
    b = [100.0, 101.0, 99.0, 100.5]
    ratio = paired_ratio(a, b)
    assert ratio.low < ratio.ratio < ratio.high
    logs = [math.log(x / y) for x, y in zip(a, b, strict=True)]
    assert ratio.ratio == pytest.approx(math.exp(sum(logs) / 4))
    assert ratio.p_value < 0.01
    low, high = log_mean_ci([100.0, 100.0, 100.0])
    assert low == high == pytest.approx(100.0)
