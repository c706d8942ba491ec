"""Replay verdicts offline from stored per-trial samples: false alarms, detection, knobs.

Every verdict goes through :func:`pytest_cpuperf.judge.evaluate.evaluate` with a
:class:`~pytest_cpuperf.judge.evaluate.Policy`, exactly as the plugin judges a test. Multi-run
baselines are built as repeated ``--cpuperf-update`` runs build them: a run that passes
against the stored baseline is appended, any other starts a fresh history.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_cpuperf.defaults import DEFAULT_TRIAL_TIME_S, DEFAULT_TRIALS
from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.records.results import BaselineRecord, BaselineRun, MetricRecord
from pytest_cpuperf.stats.intervals import throughput_change
from pytest_cpuperf.status import Status

from .common import TEST_ID, median, rounded

Samples = Sequence[float]
Pair = tuple[list[Samples], Samples]
"""(baseline runs' samples, current samples)."""

NOISE_FLOORS = (0.01, 0.015, 0.02, 0.03)
ALPHAS = (0.01, 0.05)
SWEEP_TOLERANCE = 0.05
RECORDED_RUNS = 3
MIN_ADAPTIVE_TRIALS = 3


def record(samples: Samples) -> MetricRecord:
    return MetricRecord(test_id=TEST_ID, metric="throughput", kind="throughput",
                        unit="samples/s", value=median(samples), samples=list(samples))


def baseline(runs: Iterable[Samples]) -> BaselineRecord:
    return BaselineRecord(kind="throughput", unit="samples/s", higher_is_better=True,
                          runs=[BaselineRun.from_record(record(s)) for s in runs])


def verdict(pair: Pair, policy: Policy) -> Status:
    runs, current = pair
    return evaluate(record(current), baseline(runs), policy).status


def recorded(updates: Sequence[Samples], policy: Policy) -> list[Samples]:
    """The baseline runs that ``--cpuperf-update`` repeated over ``updates`` leaves stored."""
    runs: list[Samples] = [updates[0]]
    for samples in updates[1:]:
        runs = [*runs, samples] if verdict((runs, samples), policy) is Status.PASS else [samples]
    return runs


# --- pair sets -----------------------------------------------------------------------------


def by_variant(runs: Sequence[dict[str, Any]], trials: int,
               key: str = "samples") -> dict[str, list[Samples]]:
    """Samples of every run (first ``trials`` trials), grouped by variant in run order.

    ``key="cpu_samples"`` takes throughput per process CPU second instead of per wall second.
    """
    grouped: dict[str, list[Samples]] = {}
    for run in sorted(runs, key=lambda r: r["index"]):
        grouped.setdefault(run["variant"], []).append(run[key][:trials])
    return grouped


def aa_pairs(bases: list[Samples], currents: list[Samples], k: int,
             policy: Policy) -> list[Pair]:
    """A/A pairs over runs of one model (``bases[i]`` and ``currents[i]`` are run i, the
    former at the baseline's trial count). k=1: every ordered pair (i, j), i != j; k>1: runs
    i..i+k-1 recorded as the baseline, each later run as the current one."""
    if k == 1:
        return [([bases[i]], currents[j]) for i in range(len(bases))
                for j in range(len(bases)) if i != j]
    return [(recorded(bases[i:i + k], policy), currents[j])
            for i in range(len(bases) - k) for j in range(i + k, len(bases))]


def detection_pairs(bases: list[Samples], currents: list[Samples], k: int,
                    policy: Policy) -> list[Pair]:
    """Baseline from reference runs (each run, or k consecutive ones recorded), current from
    every run of the slower model."""
    if k == 1:
        return [([base], cur) for base in bases for cur in currents]
    return [(recorded(bases[i:i + k], policy), cur)
            for i in range(len(bases) - k + 1) for cur in currents]


def rate(pairs: Sequence[Pair], policy: Policy) -> dict[str, Any]:
    """Share of regression verdicts, with the other outcomes counted."""
    counts: dict[str, int] = {}
    for pair in pairs:
        status = verdict(pair, policy).value
        counts[status] = counts.get(status, 0) + 1
    regressions = counts.get(Status.REGRESSION.value, 0)
    return {"rate": rounded(regressions / len(pairs)) if pairs else math.nan,
            "regressions": regressions, "pairs": len(pairs), "outcomes": counts,
            "baseline_runs": _k_histogram(pairs)}


def _k_histogram(pairs: Sequence[Pair]) -> dict[str, int]:
    histogram: dict[str, int] = {}
    for runs, _ in pairs:
        histogram[str(len(runs))] = histogram.get(str(len(runs)), 0) + 1
    return histogram


def gate_figures(groups: dict[str, list[Samples]], policy: Policy) -> dict[str, Any]:
    """False-alarm and detection rates for one policy, with 1-run and recorded baselines."""
    reference = groups["reference"]
    result: dict[str, Any] = {}
    for k in (1, RECORDED_RUNS):
        label = f"k{k}"
        result[label] = {"false_alarm": rate(aa_pairs(reference, reference, k, policy),
                                             policy),
                         "detection": {name: rate(detection_pairs(reference, runs, k, policy),
                                                  policy)
                                       for name, runs in groups.items() if name != "reference"}}
    result["independent_aa_pairs"] = len(reference) // 2
    return result


def smallest_caught(variants: dict[str, Any], detection: dict[str, Any],
                    target: float = 0.95) -> dict[str, Any] | None:
    """The variant with the smallest measured slowdown detected in >= ``target`` of pairs."""
    caught = [(v["measured_slowdown"], name) for name, v in variants.items()
              if name in detection and detection[name]["rate"] >= target]
    if not caught:
        return None
    slowdown, name = min(caught)
    return {"variant": name, "measured_slowdown": slowdown,
            "nominal_work": variants[name]["nominal_work"], "rate": detection[name]["rate"]}


# --- noise ---------------------------------------------------------------------------------


def noise(groups: dict[str, list[Samples]]) -> dict[str, Any]:
    """Within-run trial CV and between-run spread (sd of log run means), per variant."""
    table = {}
    for name, runs in groups.items():
        log_means = [statistics.fmean(math.log(s) for s in run) for run in runs]
        cvs = [statistics.stdev(run) / statistics.fmean(run) for run in runs if len(run) > 1]
        table[name] = {"between_run_sd_log": rounded(statistics.stdev(log_means))
                       if len(log_means) > 1 else math.nan,
                       "median_within_run_cv": rounded(median(cvs))}
    return table


def contention(runs: Sequence[dict[str, Any]], trials: int) -> dict[str, Any]:
    """How much of the wall-clock noise is CPU stolen by other processes.

    Per run: the median share of the cores the measuring process got, and the correlation
    (over all runs of each variant) of log wall throughput with log CPU share.
    """
    table: dict[str, Any] = {}
    for name in dict.fromkeys(r["variant"] for r in runs):
        chosen = [r for r in runs if r["variant"] == name]
        shares = [median(r["cpu_share"][:trials]) for r in chosen]
        walls = [math.log(median(r["samples"][:trials])) for r in chosen]
        corr = (statistics.correlation([math.log(v) for v in shares], walls)
                if len(chosen) > 2 else math.nan)
        table[name] = {"median_cpu_share": rounded(median(shares)),
                       "min_cpu_share": rounded(min(shares)),
                       "corr_log_throughput_log_share": rounded(corr)}
    return table


# --- sweeps --------------------------------------------------------------------------------


def knob_sweep(runs: Sequence[dict[str, Any]], trials: int = DEFAULT_TRIALS,
               key: str = "samples") -> list[dict]:
    """FA and detection for every (noise_floor, alpha) at tolerance 0.05."""
    groups = by_variant(runs, trials, key)
    rows = []
    for floor in NOISE_FLOORS:
        for alpha in ALPHAS:
            policy = Policy(tolerance=SWEEP_TOLERANCE, noise_floor=floor, alpha=alpha)
            rows.append({"noise_floor": floor, "alpha": alpha, "tolerance": SWEEP_TOLERANCE,
                         **_compact(gate_figures(groups, policy))})
    return rows


def trials_sweep(runs: Sequence[dict[str, Any]], max_trials: int) -> list[dict]:
    """Default policy with fewer or more trials per run (prefixes of the stored samples)."""
    return [{"trials": n, **_compact(gate_figures(by_variant(runs, n), Policy()))}
            for n in range(MIN_ADAPTIVE_TRIALS, max_trials + 1)]


def _compact(figures: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in ("k1", f"k{RECORDED_RUNS}"):
        out[f"fa_{k}"] = figures[k]["false_alarm"]["rate"]
        for name, det in figures[k]["detection"].items():
            out[f"det_{name}_{k}"] = det["rate"]
    return out


# --- adaptive stopping ---------------------------------------------------------------------


@dataclass(frozen=True)
class StopRule:
    """When to stop adding trials to the current run (the baseline stays as recorded)."""

    name: str
    description: str
    decided: Callable[[Samples, list[Samples], Policy], bool]


def _bounds(current: Samples, runs: list[Samples], policy: Policy) -> tuple[float, float]:
    change = throughput_change(current, runs, policy.noise_floor,
                               confidence=1.0 - 2 * policy.alpha)
    return change.low, change.high


def _ci_clears(current: Samples, runs: list[Samples], policy: Policy) -> bool:
    low, high = _bounds(current, runs, policy)
    return low > -policy.tolerance or high < -policy.tolerance


def _within_clears(current: Samples, runs: list[Samples], policy: Policy) -> bool:
    """The part of the uncertainty more trials can shrink no longer straddles the tolerance."""
    mean = statistics.fmean(math.log(s) for s in current)
    se = statistics.stdev(math.log(s) for s in current) / math.sqrt(len(current))
    base = statistics.fmean(statistics.fmean(math.log(s) for s in r) for r in runs)
    z = statistics.NormalDist().inv_cdf(1.0 - policy.alpha)
    return abs(mean - base - math.log1p(-policy.tolerance)) > z * se


STOP_RULES = (
    StopRule("ci_clears", "stop once the verdict's CI (1-2*alpha) lies wholly above or below "
                          "-tolerance", _ci_clears),
    StopRule("within_clears", "stop once the current run's own standard error (the only part "
                              "more trials can shrink) no longer straddles -tolerance",
             _within_clears),
)


def stop_at(current: Samples, runs: list[Samples], policy: Policy, rule: StopRule,
            cap: int) -> int:
    for n in range(MIN_ADAPTIVE_TRIALS, cap):
        if rule.decided(current[:n], runs, policy):
            return n
    return cap


def adaptive(runs: Sequence[dict[str, Any]], max_trials: int, fixed_s: float,
             trial_s: float = DEFAULT_TRIAL_TIME_S) -> dict[str, Any]:
    """Stop rules replayed on sample prefixes: trials used, time to verdict, FA, detection.

    Baselines are recorded at the default trial count; ``cap`` is the most trials allowed.
    """
    policy = Policy()
    groups = by_variant(runs, DEFAULT_TRIALS)
    full = by_variant(runs, max_trials)
    out: dict[str, Any] = {}
    for rule in STOP_RULES:
        for cap in sorted({DEFAULT_TRIALS, max_trials}):
            out[f"{rule.name}_cap{cap}"] = _replay(groups, full, policy, rule, cap,
                                                   (fixed_s, trial_s)) | {"rule": rule.description}
    return out


def _replay(groups: dict[str, list[Samples]], full: dict[str, list[Samples]], policy: Policy,
            rule: StopRule, cap: int, seconds: tuple[float, float]) -> dict[str, Any]:
    used: list[int] = []

    def stopped(pairs: list[Pair]) -> list[Pair]:
        result = []
        for base, current in pairs:
            n = stop_at(current, base, policy, rule, cap)
            used.append(n)
            result.append((base, current[:n]))
        return result

    reference = groups["reference"]
    fa = {f"k{k}": rate(stopped(aa_pairs(reference, full["reference"], k, policy)),
                        policy)["rate"] for k in (1, RECORDED_RUNS)}
    detection = {f"{name}_k{k}": rate(stopped(detection_pairs(reference, full[name], k, policy)),
                                      policy)["rate"]
                 for name in groups if name != "reference" for k in (1, RECORDED_RUNS)}
    mean_trials = statistics.fmean(used)
    return {"cap": cap, "mean_trials": rounded(mean_trials),
            "share_stopped_early": rounded(sum(n < cap for n in used) / len(used)),
            "time_to_verdict_s": rounded(seconds[0] + mean_trials * seconds[1]),
            "false_alarm": fa, "detection": detection}
