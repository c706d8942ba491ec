"""How models are timed: benchmark_app's async loop, a sync loop, trials and interleaving.

The async loop follows OpenVINO's benchmark_app (``async_inference_only``): every request has
its inputs set before the loop, one first inference is excluded, the loop does nothing per
iteration but wait for an idle request, read its previous latency and start it again, it runs
until the trial time is up *and* the iteration count is a multiple of the number of requests,
and the wall-clock duration includes the final drain. FPS = batch x iterations / duration
(:func:`async_trial`, kept as benchmark_app's loop for the harness).

The engine counts windows instead (:func:`pipelined_trials`): each trial counts the
completions seen in its own time window, from completion to completion, so no trial pays for
a drain at its end and a refill at its start. A single model keeps its queue full from the
first trial to the last; in interleaved comparisons, where each turn must end before the
other model's, a turn fills the queue, counts one window and drains untimed
(:func:`drained_trial`).

Around the trials:

* **Warm-up until steady** (:func:`warm_up`): after the first inference, short windows run
  until at least ``warmup_s`` passed *and* the last :data:`STEADY_WINDOWS` window rates lie
  within :data:`STEADY_SPREAD` of each other (a JIT that still specializes fails that), capped
  at ``warmup_max_s``. The length and whether it got steady are kept in the Measurement.
* **Contended trials are repeated** (:func:`_run_with_retries`): a trial during which other
  work took the CPU our threads waited for (:func:`~.busy.is_contended`) is dropped, the engine
  waits for the machine to be quiet and runs it again, within a budget of ``retry_budget`` x
  the planned measuring time. Dropped trials, retries and the budget spent are kept; a trial
  still contended when the budget is gone is kept and marked ``contended`` (the verdict then
  follows the contended-run rule in judge/evaluate.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Protocol

from ..backends.base import AsyncTarget, CompiledModel, Inputs, SyncTarget
from ..progress import Progress
from ..records.measurement import LatencySummary, Measurement, Trial
from ..stats.contention import contention_factor, is_contended
from ..stats.intervals import Ratio, paired_ratio
from .busy import foreign_share, snapshot, starved_share, thread_times, wait_for_quiet
from .settings import EngineSettings as EngineSettings  # re-exported: the engine's settings

STEADY_WINDOWS = 3
"""Consecutive warm-up windows whose rates must agree before the warm-up ends."""
STEADY_SPREAD = 0.15
"""Largest relative spread (max/min - 1) of those window rates that counts as steady."""
MIN_WARMUP_WINDOW_S = 0.2
MIN_ROUNDS_PER_TURN = 4
"""An interleaved turn of an async model lasts at least this many rounds of its requests (at
its warm-up rate), however short the trial time: a turn of a slow model then holds whole
rounds, not a fraction of one, beside the untimed fill and drain around it."""
REFERENCE_TRIAL_FRACTION = 0.5
"""A same-run reference's trial lasts this share of the measured trial (it measures the
moment, not the model: half the time costs a third more measuring time)."""


@dataclass(frozen=True)
class Reference:
    """A same-run reference (reference.py): a fixed model timed between a measurement's trials,
    and what identifies it (stored with its samples)."""

    model: CompiledModel
    identity: str


class TrialDriver(Protocol):
    """Decides from outside whether another round of trials runs (``cpuperf ab``'s workers).

    Asked after the warm-up and after every round; ``done[i]`` holds the trials of model i so
    far, ``backends[i]`` its backend (whether its threads spin after a turn).
    """

    def another_round(self, labels: Sequence[str], done: Sequence[Sequence[Trial]],
                      backends: Sequence[str]) -> bool: ...


TRIAL_DRIVER: ContextVar[TrialDriver | None] = ContextVar("cpuperf_trial_driver", default=None)
"""When set, it (not ``settings.trials``) decides how many rounds a measurement runs."""


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


def pipelined_trials(target: AsyncTarget, seconds: float, count: int,
                     latencies: list[list[float]] | None,
                     stop: Callable[[Trial], bool] = lambda trial: False) -> list[Trial]:
    """Up to ``count`` back-to-back trials of ``seconds`` with the queue kept full throughout.

    The queue is filled and one whole round of ``nireq`` completions is run untimed (the
    refill); then each trial counts the completions observed in its window, and a window ends
    at the first completion observed after its deadline that closes a whole round of
    ``nireq`` completions (that completion opens the next window), so windows tile time
    without gaps: a window from one completion to another counts the one that opens it and
    not the one that closes it, as many completions as intervals between them. Whole rounds,
    because streams that finish their requests together complete them in bunches: a window
    opened at the first of a bunch and closed at its second counts a completion for next to
    no time (at two samples a second, with the deadline four rounds on, +12.5% whenever it
    falls inside a bunch), and one opened at the last of a bunch counts ``nireq - 1`` short.
    The first window is opened by the first completion after the refill. No trial drains the
    queue; the drain after the last one is untimed. ``stop(trial)`` ends the run
    early after a trial (it is still returned). ``latencies`` gets one list of request
    latencies (ms) per trial.
    """
    queue = target.queue
    nireq = len(queue)
    get_idle, start, clock = queue.get_idle_request_id, queue.start_async, time.perf_counter
    for _ in range(2 * nireq):  # fill, then a whole untimed round of completions
        get_idle()
        start()
    trials: list[Trial] = []
    load, threads = snapshot(), thread_times()
    # the first completion after the refill opens the first window, timed where it is
    # observed, as every later window is timed from the completion that opens it
    idle = get_idle()
    begin = clock()
    window: list[float] = [queue[idle].latency]
    start()
    deadline, done = begin + seconds, 1
    while len(trials) < count:
        idle = get_idle()
        now = clock()
        latency = queue[idle].latency
        start()
        if now < deadline or done % nireq:
            done += 1
            window.append(latency)
            continue
        if latencies is not None:
            latencies.append(window)
        window = [latency]
        load_now, threads_now = snapshot(), thread_times()
        trial = Trial(iterations=done, duration_s=now - begin, batch_size=target.batch_size,
                      busy=foreign_share(load, load_now),
                      starved=starved_share(threads, threads_now))
        trials.append(trial)
        if stop(trial):
            break
        load, threads, begin, done = load_now, threads_now, now, 1
        deadline = begin + seconds
    queue.wait_all()
    return trials


def drained_trial(target: AsyncTarget, seconds: float, latencies: list[float] | None) -> Trial:
    """One turn between other models' turns: one window of :func:`pipelined_trials`.

    The queue is filled and runs one untimed round, the window of ``seconds`` is counted
    from completion to completion, and the queue drains untimed, so neither the ramp nor the
    drain (streams idle while the last requests finish) counts against the model. A whole-
    turn clock (:func:`async_trial`) charges a model at ten samples a second with most of a
    request's latency in every one-second turn; the window charges it none.
    """
    windows: list[list[float]] = []
    trial = pipelined_trials(target, seconds, 1, windows if latencies is not None else None)[0]
    if latencies is not None:
        latencies.extend(windows[0])
    return trial


def _trial(target: AsyncTarget | SyncTarget, seconds: float, settings: EngineSettings,
           latencies: list[float] | None) -> Trial:
    if isinstance(target, AsyncTarget):
        return drained_trial(target, seconds, latencies)
    return sync_trial(target, seconds, settings.min_iterations, latencies)


# --- warm-up -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Warmup:
    """How a warm-up went: its length, window rates and whether the rate got steady."""

    seconds: float
    rates: tuple[float, ...]
    steady: bool | None
    cap_s: float = 0.0
    """The most it could have taken (``warmup_max``)."""


def is_steady(rates: Sequence[float], windows: int = STEADY_WINDOWS,
              spread: float = STEADY_SPREAD) -> bool:
    """Whether the last ``windows`` rates are positive and within ``spread`` of each other."""
    last = list(rates[-windows:])
    return len(last) == windows and min(last) > 0 and max(last) / min(last) - 1.0 <= spread


def warm_up(target: AsyncTarget | SyncTarget, settings: EngineSettings) -> Warmup:
    """First inference, then windows until the rate is steady (at least ``warmup_s``, at most
    ``warmup_max_s``); ``warmup_s`` = 0 runs the first inference only. The window rates are
    corrected for contention (:func:`~.busy.contention_factor`)."""
    clock = time.perf_counter
    begin = clock()
    if isinstance(target, AsyncTarget):
        async_first_inference(target)
    else:
        target.call()
    if settings.warmup_s <= 0:
        return Warmup(clock() - begin, (), None, settings.warmup_max_s)
    window = max(MIN_WARMUP_WINDOW_S, settings.warmup_s / STEADY_WINDOWS)
    rates: list[float] = []

    def done(trial: Trial) -> bool:
        # corrected for CPU time other work took, so that a neighbour's bursts do not keep
        # the warm-up going (its own compile threads are never corrected away: see busy.py)
        rates.append(trial.throughput * contention_factor(trial.busy, trial.starved))
        elapsed = clock() - begin
        return (elapsed >= settings.warmup_s and is_steady(rates)) or \
            elapsed + window > settings.warmup_max_s

    if isinstance(target, AsyncTarget):
        pipelined_trials(target, window, 1 << 30, None, stop=done)
    else:
        while not done(sync_trial(target, window, settings.min_iterations, None)):
            pass
    return Warmup(clock() - begin, tuple(rates), is_steady(rates), settings.warmup_max_s)


def _warm_up(target: AsyncTarget | SyncTarget, settings: EngineSettings) -> None:
    warm_up(target, settings)


def _requests(target: AsyncTarget | SyncTarget) -> int:
    return len(target.queue) if isinstance(target, AsyncTarget) else 1


# --- contended trials --------------------------------------------------------------------


@dataclass
class RetryBudget:
    """Time the engine may spend on contended trials and on waiting for quiet, and its use."""

    total_s: float
    spent_s: float = 0.0

    @property
    def left_s(self) -> float:
        return max(0.0, self.total_s - self.spent_s)

    def wait_for_quiet(self) -> None:
        """Wait (charged to the budget) until the machine is quiet or the budget is gone."""
        begin = time.perf_counter()
        wait_for_quiet(self.left_s)
        self.spent_s += time.perf_counter() - begin


def _run_with_retries(run: Callable[[list[float]], Trial], budget: RetryBudget,
                      dropped: list[Trial], latencies: list[float]) -> Trial:
    """``run`` one trial; while it is contended and the budget allows, drop it, wait for a
    quiet machine and run it again. Latencies of dropped trials are not kept."""
    retries = 0
    while True:
        mine: list[float] = []
        trial = run(mine)
        contended = is_contended(trial.busy, trial.starved)
        if not contended or budget.left_s < trial.duration_s:
            latencies.extend(mine)
            return replace(trial, retries=retries, contended=contended)
        dropped.append(trial)
        budget.spent_s += trial.duration_s
        budget.wait_for_quiet()
        retries += 1


def _pipelined_with_retries(target: AsyncTarget, settings: EngineSettings,
                            budget: RetryBudget, dropped: list[Trial],
                            latencies: list[float], progress: Progress | None) -> list[Trial]:
    """``settings.trials`` pipelined trials; a contended one ends the pipeline, is dropped
    (while the budget allows) and the pipeline restarts, refilled, once the machine is quiet.
    ``progress`` hears "trial i/N" when trial i starts (as in interleaved measurements)."""
    kept: list[Trial] = []
    retries = 0
    while len(kept) < settings.trials:
        started = [len(kept) + 1]
        if progress:
            progress(f"trial {started[0]}/{settings.trials}")

        def retry_this(trial: Trial, started: list[int] = started) -> bool:
            retry = is_contended(trial.busy, trial.starved) and budget.left_s >= trial.duration_s
            if progress and not retry and started[0] < settings.trials:
                started[0] += 1
                progress(f"trial {started[0]}/{settings.trials}")
            return retry

        windows: list[list[float]] = []
        run = pipelined_trials(target, settings.trial_time_s, settings.trials - len(kept),
                               windows, stop=retry_this)
        if retry_this(run[-1]):
            dropped.append(run.pop())
            budget.spent_s += dropped[-1].duration_s
        for trial, window in zip(run, windows, strict=False):
            contended = is_contended(trial.busy, trial.starved)
            kept.append(replace(trial, retries=retries, contended=contended))
            latencies.extend(window)
            retries = 0
        if len(kept) < settings.trials:
            budget.wait_for_quiet()
            retries += 1
    return kept


# --- measurements ------------------------------------------------------------------------


def _rounds(count: int, names: Sequence[str], done: Sequence[Sequence[Trial]],
            backends: Sequence[str]) -> Iterator[int]:
    """Round numbers: ``count`` of them, or as many as the active :class:`TrialDriver` wants."""
    driver = TRIAL_DRIVER.get()
    round_no = 0
    while driver.another_round(names, done, backends) if driver else round_no < count:
        yield round_no
        round_no += 1


def timing_target_of(model: CompiledModel, inputs: Inputs | None) -> AsyncTarget | SyncTarget:
    """``model``'s timing target on ``inputs``, else on its own example inputs."""
    return model.timing_target(inputs if inputs is not None else model.example_inputs())


def measure(compiled: CompiledModel, inputs: Inputs | None = None,
            settings: EngineSettings = EngineSettings(), label: str | None = None,
            progress: Progress | None = None, reference: Reference | None = None
            ) -> Measurement:
    """Time ``compiled`` in ``settings.trials`` trials after a warm-up until steady.

    An OpenVINO model is timed pipelined (:func:`pipelined_trials`); a PyTorch model call by
    call. Contended trials are repeated within the budget (see the module docstring). With a
    ``reference`` (reference.py), each trial is followed or preceded by a shorter trial of it,
    alternating, and its rates are kept with the measurement (each trial then drains, untimed).
    """
    if reference is not None and TRIAL_DRIVER.get() is None:
        return _with_reference([compiled], [inputs], settings, [label], progress, reference)[0]
    target = timing_target_of(compiled, inputs)
    if not isinstance(target, AsyncTarget) or TRIAL_DRIVER.get() is not None:
        # call by call; or rounds a driver (cpuperf ab) asks for one at a time, each drained
        return _interleaved([compiled], [target], settings, [label], progress)[0]
    if progress:
        progress(f"warming up {compiled.label} (>= {settings.warmup_s:g} s, until steady)")
    warm = warm_up(target, settings)
    budget = RetryBudget(settings.retry_budget_s)
    dropped: list[Trial] = []
    latencies: list[float] = []
    trials = _pipelined_with_retries(target, settings, budget, dropped, latencies, progress)
    return _measurement(compiled, label, trials, latencies, len(target.queue), warm, dropped,
                        budget)


def _measurement(model: CompiledModel, label: str | None, trials: Sequence[Trial],
                 latencies: Sequence[float], requests: int, warm: Warmup,
                 dropped: Sequence[Trial], budget: RetryBudget, describe: bool = True
                 ) -> Measurement:
    """The measurement of ``model``; with ``describe`` its config, kernels (a profiling pass)
    and versions too (a same-run reference needs only its rates)."""
    return Measurement(
        label=label or model.label,
        backend=model.backend,
        trials=tuple(trials),
        latency=LatencySummary.from_samples(latencies),
        config=model.effective_config() if describe else {},
        kernels=model.kernels() if describe else None,
        versions=model.versions() if describe else {},
        requests=requests,
        warmup_s=warm.seconds,
        warmup_steady=warm.steady,
        warmup_max_s=warm.cap_s,
        dropped=tuple(dropped),
        retry_budget_s=budget.total_s,
        retry_spent_s=budget.spent_s,
    )


def measure_many(models: Sequence[CompiledModel], inputs: Sequence[Inputs | None],
                 settings: EngineSettings, labels: Sequence[str | None] | None = None,
                 progress: Progress | None = None) -> list[Measurement]:
    """Time several models in interleaved trials: trial i of every model before trial i+1.

    The order within a round alternates (ABAB then BABA...), so that a steady drift of the
    machine does not favour the model that always runs first. Each trial drains its queue
    untimed (the next trial is another model's). Contended trials are repeated within the
    budget.
    """
    labels = list(labels) if labels is not None else [None] * len(models)
    targets = [timing_target_of(m, i) for m, i in zip(models, inputs, strict=True)]
    return _interleaved(models, targets, settings, labels, progress)


def _with_reference(models: Sequence[CompiledModel], inputs: Sequence[Inputs | None],
                    settings: EngineSettings, labels: Sequence[str | None],
                    progress: Progress | None, reference: Reference) -> list[Measurement]:
    """``models`` interleaved with the reference, whose trial rates each measurement keeps."""
    everything = [*models, reference.model]
    targets = [timing_target_of(m, i) for m, i in zip(everything, [*inputs, None], strict=True)]
    times = [settings.trial_time_s] * len(models) + [
        settings.trial_time_s * REFERENCE_TRIAL_FRACTION]
    *measured, ref = _interleaved(everything, targets, settings, [*labels, "reference"],
                                  progress, times, bare_last=True)
    return [replace(m, reference=ref.throughputs, reference_id=reference.identity)
            for m in measured]


def least_turn_s(target: AsyncTarget | SyncTarget, warm: Warmup) -> float:
    """The shortest turn of ``target``: :data:`MIN_ROUNDS_PER_TURN` rounds of its requests at
    its last warm-up rate (0 for a call-by-call target, or with no warm-up window)."""
    if not isinstance(target, AsyncTarget) or not warm.rates or warm.rates[-1] <= 0:
        return 0.0
    return MIN_ROUNDS_PER_TURN * len(target.queue) * target.batch_size / warm.rates[-1]


def _interleaved(models: Sequence[CompiledModel], targets: Sequence[AsyncTarget | SyncTarget],
                 settings: EngineSettings, labels: Sequence[str | None],
                 progress: Progress | None, trial_times: Sequence[float] | None = None,
                 bare_last: bool = False) -> list[Measurement]:
    """Interleaved trials of ``models``; ``bare_last``: the last one is a same-run reference,
    measured for its rates alone."""
    warmups = []
    for model, target in zip(models, targets, strict=True):
        if progress:
            progress(f"warming up {model.label} (>= {settings.warmup_s:g} s, until steady)")
        warmups.append(warm_up(target, settings))
    trials: list[list[Trial]] = [[] for _ in models]
    latencies: list[list[float]] = [[] for _ in models]
    dropped: list[list[Trial]] = [[] for _ in models]
    shares = [t / settings.trial_time_s for t in trial_times] if trial_times else [1.0] * len(
        models)  # a shorter (reference) trial gets its share of the repeat budget
    budget = RetryBudget(settings.retry_budget_s * sum(shares))
    least = [least_turn_s(target, warm) for target, warm in zip(targets, warmups, strict=True)]
    order = list(range(len(models)))
    names = [label or m.label for label, m in zip(labels, models, strict=True)]
    for round_no in _rounds(settings.trials, names, trials, [m.backend for m in models]):
        if progress:
            progress(f"trial {round_no + 1}/{settings.trials}")
        for index in (order if round_no % 2 == 0 else order[::-1]):
            def run(sink: list[float], index: int = index) -> Trial:
                if len(models) > 1 and settings.settle_s > 0:
                    time.sleep(settings.settle_s)
                seconds = trial_times[index] if trial_times else settings.trial_time_s
                return _trial(targets[index], max(seconds, least[index]), settings, sink)

            trials[index].append(_run_with_retries(run, budget, dropped[index],
                                                   latencies[index]))
    return [_measurement(model, labels[index], trials[index], latencies[index],
                         _requests(targets[index]), warmups[index], dropped[index], budget,
                         describe=not (bare_last and index == len(models) - 1))
            for index, model in enumerate(models)]


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
            progress: Progress | None = None, reference: Reference | None = None
            ) -> Comparison:
    """Interleaved A/B trials; the ratio's interval comes from the paired trials. A
    ``reference`` runs in the same rounds (its rates go with both measurements)."""

    both = [inputs, inputs_b if inputs_b is not None else inputs]
    if reference is not None and TRIAL_DRIVER.get() is None:
        ma, mb = _with_reference([a, b], both, settings, [None, None], progress, reference)
    else:
        ma, mb = measure_many([a, b], both, settings, None, progress)
    return Comparison(ma, mb, paired_ratio(ma.throughputs, mb.throughputs))
