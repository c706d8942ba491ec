"""How models are timed: benchmark_app's async loop, a sync loop, trials and interleaving.

The async loop follows OpenVINO's benchmark_app (``async_inference_only``): every request has
its inputs set before the loop, one first inference is excluded, the loop does nothing per
iteration but wait for an idle request, read its previous latency and start it again, it runs
until the trial time is up *and* the iteration count is a multiple of the number of requests,
and the wall-clock duration includes the final drain. FPS = batch x iterations / duration.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from ..backends.base import AsyncTarget, CompiledModel, Inputs, SyncTarget
from ..defaults import (
    DEFAULT_MIN_ITERATIONS,
    DEFAULT_SETTLE_S,
    DEFAULT_TRIAL_TIME_S,
    DEFAULT_TRIALS,
    DEFAULT_WARMUP_S,
)
from .busy import foreign_share, snapshot, starved_share, thread_times
from .measurement import LatencySummary, Measurement, Trial

if TYPE_CHECKING:
    from ..judge.stats import Ratio

Progress = Callable[[str], None]


class TrialDriver(Protocol):
    """Decides from outside whether another round of trials runs (``cpuperf ab``'s workers).

    Asked after the warm-up and after every round; ``done[i]`` holds the trials of model i so far.
    """

    def another_round(self, labels: Sequence[str], done: Sequence[Sequence[Trial]]) -> bool: ...


TRIAL_DRIVER: ContextVar[TrialDriver | None] = ContextVar("cpuperf_trial_driver", default=None)
"""When set, it (not ``settings.trials``) decides how many rounds a measurement runs."""


@dataclass(frozen=True)
class EngineSettings:
    """How long and how often to time. Defaults suit CI on a 2-core machine (see README)."""

    trials: int = DEFAULT_TRIALS
    trial_time_s: float = DEFAULT_TRIAL_TIME_S
    warmup_s: float = DEFAULT_WARMUP_S
    min_iterations: int = DEFAULT_MIN_ITERATIONS
    settle_s: float = DEFAULT_SETTLE_S
    """Pause before each interleaved trial, so the previous model's thread pool (OpenMP threads
    spin-wait for ~200 ms after their last parallel region) is idle when the next one starts."""

    def __post_init__(self) -> None:
        _positive_int("trials", self.trials, minimum=2)
        _positive_number("trial_time", self.trial_time_s)
        if not isinstance(self.warmup_s, (int, float)) or self.warmup_s < 0:
            raise ValueError(f"warmup must be a number of seconds >= 0, got {self.warmup_s!r}")
        _positive_int("min_iterations", self.min_iterations, minimum=1)

    def with_overrides(self, **overrides: object) -> EngineSettings:
        """A copy with the non-``None`` overrides applied (validated)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **changes) if changes else self  # type: ignore[arg-type]


def _positive_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _positive_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")


# --- timing primitives -------------------------------------------------------------------


def async_first_inference(target: AsyncTarget) -> None:
    """Run every request once, untimed (benchmark_app's "first inference", on all requests)."""
    queue = target.queue
    for _ in range(len(queue)):
        queue.start_async()
    queue.wait_all()


def async_trial(target: AsyncTarget, seconds: float, latencies: list[float] | None) -> Trial:
    """One benchmark_app-style trial of ``seconds``; appends request latencies (ms)."""
    queue = target.queue
    nireq = len(queue)
    get_idle = queue.get_idle_request_id
    start = queue.start_async
    clock = time.perf_counter
    in_flight: set[int] = set()
    record = latencies.append if latencies is not None else None
    iterations = 0
    load_before, threads_before = snapshot(), thread_times()
    begin = clock()
    deadline = begin + seconds
    while clock() < deadline or iterations % nireq:
        idle = get_idle()
        if idle in in_flight:
            if record is not None:
                record(queue[idle].latency)
        else:
            in_flight.add(idle)
        start()
        iterations += 1
    queue.wait_all()
    duration = clock() - begin
    busy = foreign_share(load_before, snapshot())
    starved = starved_share(threads_before, thread_times())
    if record is not None:
        for idle in in_flight:
            record(queue[idle].latency)
    return Trial(iterations=iterations, duration_s=duration, batch_size=target.batch_size,
                 busy=busy, starved=starved)


def sync_trial(target: SyncTarget, seconds: float, min_iterations: int,
               latencies: list[float] | None) -> Trial:
    """Call ``target.call`` until ``seconds`` passed and ``min_iterations`` were done."""
    call = target.call
    clock = time.perf_counter
    iterations = 0
    load_before, threads_before = snapshot(), thread_times()
    begin = clock()
    deadline = begin + seconds
    now = begin
    while now < deadline or iterations < min_iterations:
        t0 = now
        call()
        now = clock()
        if latencies is not None:
            latencies.append((now - t0) * 1000.0)
        iterations += 1
    return Trial(iterations=iterations, duration_s=now - begin, batch_size=target.batch_size,
                 busy=foreign_share(load_before, snapshot()),
                 starved=starved_share(threads_before, thread_times()))


def _trial(target: AsyncTarget | SyncTarget, seconds: float, settings: EngineSettings,
           latencies: list[float] | None) -> Trial:
    if isinstance(target, AsyncTarget):
        return async_trial(target, seconds, latencies)
    return sync_trial(target, seconds, settings.min_iterations, latencies)


def _warm_up(target: AsyncTarget | SyncTarget, settings: EngineSettings) -> None:
    if isinstance(target, AsyncTarget):
        async_first_inference(target)
    else:
        target.call()
    if settings.warmup_s > 0:
        _trial(target, settings.warmup_s, settings, None)


def _requests(target: AsyncTarget | SyncTarget) -> int:
    return len(target.queue) if isinstance(target, AsyncTarget) else 1


# --- measurements ------------------------------------------------------------------------


def _rounds(count: int, names: Sequence[str], done: Sequence[Sequence[Trial]]) -> Iterator[int]:
    """Round numbers: ``count`` of them, or as many as the active :class:`TrialDriver` wants."""
    driver = TRIAL_DRIVER.get()
    round_no = 0
    while driver.another_round(names, done) if driver else round_no < count:
        yield round_no
        round_no += 1


def measure(compiled: CompiledModel, inputs: Inputs | None = None,
            settings: EngineSettings = EngineSettings(), label: str | None = None,
            progress: Progress | None = None) -> Measurement:
    """Time ``compiled`` in ``settings.trials`` trials after an excluded warm-up."""
    return measure_many([compiled], [inputs], settings, [label], progress)[0]


def measure_many(models: Sequence[CompiledModel], inputs: Sequence[Inputs | None],
                 settings: EngineSettings, labels: Sequence[str | None] | None = None,
                 progress: Progress | None = None) -> list[Measurement]:
    """Time several models in interleaved trials: trial i of every model before trial i+1.

    The order within a round alternates (ABAB then BABA...), so that a steady drift of the
    machine does not favour the model that always runs first.
    """
    labels = list(labels) if labels is not None else [None] * len(models)
    targets = [m.timing_target(i if i is not None else m.example_inputs())
               for m, i in zip(models, inputs, strict=True)]
    for model, target in zip(models, targets, strict=True):
        if progress:
            progress(f"warming up {model.label} ({settings.warmup_s:g} s)")
        _warm_up(target, settings)
    trials: list[list[Trial]] = [[] for _ in models]
    latencies: list[list[float]] = [[] for _ in models]
    order = list(range(len(models)))
    names = [label or m.label for label, m in zip(labels, models, strict=True)]
    for round_no in _rounds(settings.trials, names, trials):
        if progress:
            progress(f"trial {round_no + 1}/{settings.trials}")
        for index in (order if round_no % 2 == 0 else order[::-1]):
            if len(models) > 1 and settings.settle_s > 0:
                time.sleep(settings.settle_s)
            trials[index].append(
                _trial(targets[index], settings.trial_time_s, settings, latencies[index]))
    results = []
    for index, model in enumerate(models):
        results.append(Measurement(
            label=labels[index] or model.label,
            backend=model.backend,
            trials=tuple(trials[index]),
            latency=LatencySummary.from_samples(latencies[index]),
            config=model.effective_config(),
            kernels=model.kernels(),
            versions=model.versions(),
            requests=_requests(targets[index]),
            warmup_s=settings.warmup_s,
        ))
    return results


@dataclass(frozen=True)
class Comparison:
    """Result of an interleaved A/B measurement: both measurements and the ratio A/B."""

    a: Measurement
    b: Measurement
    ratio: Ratio

    def describe(self) -> str:
        return f"{self.a.label} / {self.b.label} = {self.ratio.describe()}"

    def assert_faster(self, at_least: float = 1.0, confidence_bound: bool = True) -> None:
        """Fail unless A is at least ``at_least`` times B (by the CI's low bound by default)."""
        value = self.ratio.low if confidence_bound else self.ratio.ratio
        if not value >= at_least or math.isnan(value):
            which = "lower 95% bound" if confidence_bound else "ratio"
            raise AssertionError(
                f"expected {self.a.label} >= x{at_least:g} {self.b.label}, but the {which} "
                f"is x{value:.3f}: {self.describe()}")


def compare(a: CompiledModel, b: CompiledModel, inputs: Inputs | None = None,
            settings: EngineSettings = EngineSettings(), inputs_b: Inputs | None = None,
            progress: Progress | None = None) -> Comparison:
    """Interleaved A/B trials; the ratio's interval comes from the paired trials."""
    from ..judge.stats import paired_ratio

    ma, mb = measure_many([a, b], [inputs, inputs_b if inputs_b is not None else inputs],
                          settings, None, progress)
    return Comparison(ma, mb, paired_ratio(ma.throughputs, mb.throughputs))
