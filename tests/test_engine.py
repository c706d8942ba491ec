"""Engine: benchmark_app's loop arithmetic on a real OpenVINO model, the sync loop, stats."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_cpuperf.backends.base import SyncTarget
from pytest_cpuperf.measure import engine
from pytest_cpuperf.records.measurement import LatencySummary
from pytest_cpuperf.stats.intervals import log_mean_ci, paired_ratio
from pytest_cpuperf.stats.percentiles import nearest_rank

FAST = engine.EngineSettings(trials=3, trial_time_s=0.3, warmup_s=0.1)


class CompletionRecorder:
    """A real ``AsyncInferQueue`` that notes when each completion of a started request is
    observed (the request comes back from ``get_idle_request_id``)."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.started: set[int] = set()
        self.completions: list[float] = []

    def __len__(self) -> int:
        return len(self.queue)

    def __getitem__(self, index: int) -> Any:
        return self.queue[index]

    def get_idle_request_id(self) -> int:
        idle = int(self.queue.get_idle_request_id())
        if idle in self.started:
            self.completions.append(time.perf_counter())
        self.started.add(idle)
        return idle

    def start_async(self, *args: Any) -> None:
        self.queue.start_async(*args)

    def wait_all(self) -> None:
        self.queue.wait_all()


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


def test_drained_trial_times_its_window_not_its_fill_or_drain(tiny_int8_ir: Path) -> None:
    """A turn between other models' turns counts completions in its window; the untimed
    round after the fill and the drain at the end (at least a request's latency between
    them) are not charged to the model, however slow it is."""
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    compiled = compile_model(tiny_int8_ir, check_options(streams=2))
    target = compiled.timing_target(compiled.example_inputs())
    engine.async_first_inference(target)
    latencies: list[float] = []
    began = time.perf_counter()
    trial = engine.drained_trial(target, 0.3, latencies)
    wall = time.perf_counter() - began
    assert trial.duration_s >= 0.3
    assert len(latencies) == trial.iterations
    assert trial.iterations % len(target.queue) == 0  # whole rounds
    assert wall - trial.duration_s >= min(latencies) / 1000.0


def test_a_turn_holds_a_few_rounds_of_a_slow_model() -> None:
    """At 8 samples a second with 2 requests of batch 1, four rounds take one second: a
    0.25 s turn grows to that; a call-by-call target keeps its own minimum (iterations)."""
    from pytest_cpuperf.backends.base import AsyncTarget

    warm = engine.Warmup(seconds=1.0, rates=(9.0, 8.0), steady=True)
    target = AsyncTarget(queue=[object(), object()], batch_size=1)  # type: ignore[arg-type]
    assert engine.least_turn_s(target, warm) == pytest.approx(
        engine.MIN_ROUNDS_PER_TURN * 2 / 8.0)
    assert engine.least_turn_s(target, engine.Warmup(0.1, (), None)) == 0.0
    assert engine.least_turn_s(SyncTarget(call=lambda: None, batch_size=1), warm) == 0.0


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


def test_pipelined_trials_count_as_many_completions_as_intervals(tiny_int8_ir: Path) -> None:
    """Windows tile the time from the first completion after the refill to the run's last
    one, and together count one completion per interval between them."""
    from pytest_cpuperf.backends.base import AsyncTarget
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    compiled = compile_model(tiny_int8_ir, check_options())
    target = compiled.timing_target(compiled.example_inputs())
    recorder = CompletionRecorder(target.queue)
    trials = engine.pipelined_trials(AsyncTarget(recorder, target.batch_size), 0.1, 3, None)
    nireq = len(recorder)
    first, last = nireq, len(recorder.completions) - 1  # the opening, the closing
    assert sum(t.iterations for t in trials) == last - first
    assert sum(t.duration_s for t in trials) == pytest.approx(
        recorder.completions[last] - recorder.completions[first], abs=1e-3)


def test_throughput_is_samples_over_time_as_benchmark_app_counts(tiny_int8_ir: Path) -> None:
    """The figure is the trials' samples over their time, not the median trial: a dip in one
    trial lowers it, as it lowers benchmark_app's iterations over duration."""
    from pytest_cpuperf.backends.openvino import check_options, compile_model
    from pytest_cpuperf.records.measurement import Measurement, Trial

    compiled = compile_model(tiny_int8_ir, check_options())
    m = engine.measure(compiled, settings=FAST)
    seconds = sum(t.duration_s for t in m.trials)
    assert m.throughput == pytest.approx(m.batch_size * m.iterations / seconds)
    dipped = Measurement(label="m", backend="openvino", latency=m.latency,
                         trials=(Trial(100, 1.0, 1), Trial(100, 1.0, 1), Trial(40, 1.0, 1)))
    assert dipped.throughput == pytest.approx(80.0)  # the median trial reads 100
    unequal = Measurement(label="m", backend="openvino", latency=m.latency,
                          trials=(Trial(300, 3.0, 2), Trial(50, 1.0, 2)))
    assert unequal.throughput == pytest.approx(2 * 350 / 4.0)


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


def _jit_like(compile_s: float, slow_s: float, fast_s: float) -> SyncTarget:
    """A call that speeds up while a "JIT" specializes and compiles: from ``slow_s`` to
    ``fast_s`` over the first ``compile_s`` seconds (the rate keeps climbing meanwhile)."""
    first: list[float] = []

    def call() -> None:
        now = time.perf_counter()
        first.append(first[0] if first else now)
        left = max(0.0, 1.0 - (now - first[0]) / compile_s)
        time.sleep(fast_s + (slow_s - fast_s) * left)

    return SyncTarget(call=call, batch_size=1)


def test_warm_up_runs_until_the_rate_is_steady() -> None:
    """A JIT that compiles for 1 s: a fixed 0.2 s warm-up would time it compiling."""
    settings = engine.EngineSettings(trials=3, trial_time_s=0.2, warmup_s=0.2, warmup_max_s=5.0)
    warm = engine.warm_up(_jit_like(1.0, 0.05, 0.01), settings)
    assert warm.seconds >= 0.9, "the warm-up ended while the rate was still climbing"
    # the rate climbed while it ran (by x5 on a quiet machine; a stall under load can start
    # its first window late, nearer the end of the "compile")
    assert warm.rates[0] < warm.rates[-1]
    # it ends when the rate is steady; on a loaded machine sleeps jitter and it may run to its
    # cap instead, but it never ends early and unsteady
    assert warm.steady is True or warm.seconds >= settings.warmup_max_s - 0.25, warm
    assert warm.steady is engine.is_steady(warm.rates)


def test_warm_up_stops_at_its_cap_and_says_so() -> None:
    settings = engine.EngineSettings(trials=2, trial_time_s=0.1, warmup_s=0.2, warmup_max_s=0.6)
    slowing = [0.001]

    def call() -> None:
        slowing[0] *= 1.3
        time.sleep(slowing[0])

    capped = engine.warm_up(SyncTarget(call=call, batch_size=1), settings)
    assert capped.steady is False and capped.seconds <= 0.6 + 0.5
    assert not engine.is_steady([100.0, 130.0, 170.0]) and engine.is_steady([100, 105, 110])


def test_measurement_keeps_warm_up_and_repeats() -> None:
    settings = engine.EngineSettings(trials=2, trial_time_s=0.1, warmup_s=0.2, warmup_max_s=3.0)

    class Model:
        label, backend = "jit-like", "torch"

        def timing_target(self, inputs: object) -> SyncTarget:
            return _jit_like(0.5, 0.01, 0.001)

        def example_inputs(self) -> None:
            return None

        def effective_config(self) -> dict:
            return {}

        def kernels(self) -> None:
            return None

        def versions(self) -> dict:
            return {}

    m = engine.measure(Model(), settings=settings)  # type: ignore[arg-type]
    assert m.warmup_s >= 0.5 and m.warmup_steady in (True, False)  # False: capped (load)
    again = type(m).from_dict(m.to_dict())
    assert (again.warmup_s, again.warmup_steady, again.dropped, again.retry_spent_s) == (
        m.warmup_s, m.warmup_steady, m.dropped, m.retry_spent_s)
    assert "warm-up" in m.describe()
    old = m.to_dict()
    for key in ("warmup_steady", "dropped", "retry_budget_s", "retry_spent_s"):
        del old[key]
    for trial in old["trials"]:
        del trial["retries"], trial["contended"]
    assert type(m).from_dict(old).throughputs == m.throughputs  # stored before these fields


def test_pipelined_trials_tile_time_without_draining(tiny_int8_ir: Path) -> None:
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    compiled = compile_model(tiny_int8_ir, check_options(streams=2))
    target = compiled.timing_target(compiled.example_inputs())
    engine.async_first_inference(target)
    windows: list[list[float]] = []
    begin = time.perf_counter()
    trials = engine.pipelined_trials(target, 0.2, 3, windows)
    elapsed = time.perf_counter() - begin
    assert len(trials) == 3 and [len(w) for w in windows] == [t.iterations for t in trials]
    assert all(t.duration_s >= 0.2 for t in trials)
    # each window holds whole rounds of the requests, wherever its deadline fell
    assert all(t.iterations % len(target.queue) == 0 for t in trials)
    # windows follow each other: together they cover the run but for the untimed fill/drain
    assert sum(t.duration_s for t in trials) <= elapsed
    stopped = engine.pipelined_trials(target, 0.1, 5, None, stop=lambda trial: True)
    assert len(stopped) == 1
    m = engine.measure(compiled, settings=FAST)
    assert m.latency.count == m.iterations and m.warmup_steady is not None


@pytest.mark.parametrize("bad", [{"warmup_max_s": -1}, {"retry_budget": -1},
                                 {"retry_budget": "2"}])
def test_engine_settings_reject_bad_warm_up_cap_and_budget(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad)).removesuffix("_s")):
        engine.EngineSettings(**bad)
    with pytest.raises(ValueError, match=r"warmup_max .* must be >= warmup"):
        engine.EngineSettings(warmup_s=3.0, warmup_max_s=1.0)
