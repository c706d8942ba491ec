"""Pure statistics: summaries, confidence intervals, paired comparisons and verdicts.

Throughput is compared on the log scale (ratios are what matter and they are symmetric there).
The noise model behind a verdict has two parts:

* within-run noise: the spread of the trials of one run, known from the samples;
* between-run noise: how much a whole run moves with the machine's moment. Trials of one run
  share that moment, so they cannot reveal it. It is learned from the baseline's history of
  repeated recordings (``--cpuperf-update`` run several times) and never taken below a floor
  (``cpuperf_noise_floor``, measured on the shared CI machines; see README), nor below
  :data:`WITHIN_SCALE` x the within-run spread the runs themselves show: a model whose trials
  scatter widely (fast models: a few ms per inference, at the mercy of every scheduler tick)
  also moves further between runs than the floor, tuned on bert-base, assumes.

A regression is declared only when the change is beyond the tolerance *and* significant under
that noise model; a change beyond tolerance that the noise cannot confirm is "inconclusive". A
pass is declared only when the interval rules out a regression beyond the tolerance
(:func:`ruled_out`); a change within tolerance whose interval reaches beyond it is
"inconclusive" too.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps

from ..status import Status
from .resolution import ruled_out

__all__ = ["Status"]  # re-exported for convenience


def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else math.nan


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation over mean (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    arr = np.asarray(values, dtype=float)
    return float(arr.std(ddof=1) / arr.mean())


def log_mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """t-interval of the geometric mean of positive ``values``."""
    arr = np.log(np.asarray(values, dtype=float))
    if arr.size < 2:
        v = float(np.exp(arr.mean())) if arr.size else math.nan
        return v, v
    se = arr.std(ddof=1) / math.sqrt(arr.size)
    half = float(_sps.t.ppf(0.5 + confidence / 2, arr.size - 1)) * se
    centre = float(arr.mean())
    return math.exp(centre - half), math.exp(centre + half)


def log_spread(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, standard error of the mean, n) of ``log(values)``."""
    arr = np.log(np.asarray(values, dtype=float))
    if arr.size == 0:
        return math.nan, math.nan, 0
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else 0.0
    return float(arr.mean()), se, int(arr.size)


@dataclass(frozen=True)
class Ratio:
    """``a / b`` with a confidence interval and the p-value of "no difference"."""

    ratio: float
    low: float
    high: float
    p_value: float
    pairs: int

    def describe(self, confidence: float = 0.95) -> str:
        return (
            f"x{self.ratio:.3f} ({confidence:.0%} CI x{self.low:.3f}-x{self.high:.3f}, "
            f"p={self.p_value:.3g}, {self.pairs} pairs)"
        )


def paired_ratio(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Ratio:
    """Ratio of two interleaved series (a_i measured next to b_i): t-test on log(a_i / b_i).

    Pairing cancels the machine drift the two share, which is why ``cpuperf.compare`` runs
    ABAB...: the interval is of the ratio, not of either throughput.
    """
    if len(a) != len(b) or not len(a):
        raise ValueError("paired_ratio needs two non-empty series of equal length")
    diffs = np.log(np.asarray(a, dtype=float)) - np.log(np.asarray(b, dtype=float))
    centre = float(diffs.mean())
    if diffs.size < 2 or float(diffs.std(ddof=1)) == 0.0:
        r = math.exp(centre)
        return Ratio(r, r, r, 0.0 if centre else 1.0, int(diffs.size))
    se = float(diffs.std(ddof=1)) / math.sqrt(diffs.size)
    half = float(_sps.t.ppf(0.5 + confidence / 2, diffs.size - 1)) * se
    p_value = float(_sps.ttest_1samp(diffs, 0.0).pvalue)
    return Ratio(math.exp(centre), math.exp(centre - half), math.exp(centre + half), p_value,
                 int(diffs.size))


WITHIN_SCALE = 1.0
"""The between-run noise a verdict assumes is at least this multiple of the pooled within-run
standard deviation of log throughput: a model whose trials scatter widely moves as much
between runs."""


def pooled_within_sd(runs: Sequence[Sequence[float]]) -> float:
    """Pooled standard deviation of log throughput within runs (0 when no run has 2 trials)."""
    logs = [np.log(np.asarray(run, dtype=float)) for run in runs if len(run) >= 2]
    if not logs:
        return 0.0
    squares = sum(float(((x - x.mean()) ** 2).sum()) for x in logs)
    dof = sum(x.size - 1 for x in logs)
    return math.sqrt(squares / dof)


@dataclass(frozen=True)
class Change:
    """Relative change of current against baseline, with its 95% CI and one-sided p-value."""

    change: float
    low: float
    high: float
    p_value: float
    """One-sided p-value of "no change" against the direction the change went."""
    noise: float
    """Standard deviation of log(current / baseline) the verdict assumed."""


def throughput_change(
    current: Sequence[float],
    baseline_runs: Sequence[Sequence[float]],
    noise_floor: float,
    confidence: float = 0.95,
    within_scale: float = WITHIN_SCALE,
) -> Change:
    """Compare current trials with one or more baseline runs under the two-level noise model.

    ``baseline_runs`` holds the trial samples of each recorded baseline run (newest last).
    The between-run standard deviation is the largest of ``noise_floor``, ``within_scale`` x
    the pooled within-run spread of all runs, and the spread of the baseline's run means (when
    it has three runs or more).
    """
    cur_mean, cur_se, _ = log_spread(current)
    run_means = [log_spread(run)[0] for run in baseline_runs if len(run)]
    run_ses = [log_spread(run)[1] for run in baseline_runs if len(run)]
    k = len(run_means)
    if k == 0 or math.isnan(cur_mean):
        raise ValueError("throughput_change needs current samples and at least one baseline run")
    base_mean = float(np.mean(run_means))
    between = max(noise_floor, within_scale * pooled_within_sd([current, *baseline_runs]))
    # a between-run spread learned from k runs is itself uncertain: t with k-1 degrees of
    # freedom when it, not the floor, sets the noise; the normal distribution otherwise
    dist: _sps.rv_continuous = _sps.norm
    if k >= 3:
        learned = float(np.std(run_means, ddof=1))
        if learned > between:
            between, dist = learned, _sps.t(k - 1)
    within_base = math.sqrt(sum(se * se for se in run_ses)) / k
    sd = math.sqrt(cur_se**2 + within_base**2 + between**2 * (1.0 + 1.0 / k))
    delta = cur_mean - base_mean
    z = float(dist.ppf(0.5 + confidence / 2))
    # one-sided p-value of "no change" against the direction the change went
    p_value = float(dist.sf(abs(delta) / sd)) if sd > 0 else (0.0 if delta else 1.0)
    return Change(
        change=math.expm1(delta),
        low=math.expm1(delta - z * sd),
        high=math.expm1(delta + z * sd),
        p_value=p_value,
        noise=sd,
    )


def relative_verdict(change: Change, tolerance: float, alpha: float,
                     higher_is_better: bool = True, *, require_ruled_out: bool = True) -> Status:
    """Regression only when beyond tolerance and significant at ``alpha``; improvement only when
    beyond tolerance and significant; pass only when the interval rules out a regression beyond
    the tolerance (:func:`ruled_out`); inconclusive otherwise. With ``require_ruled_out`` False
    (``cpuperf ab``), a change within the tolerance passes whatever its interval.

    ``change.p_value`` is one-sided in the direction the change went."""
    signed = change.change if higher_is_better else -change.change
    if signed < -tolerance:
        return Status.REGRESSION if change.p_value < alpha else Status.INCONCLUSIVE
    if signed > tolerance and change.p_value < alpha:
        return Status.IMPROVEMENT
    if not require_ruled_out or ruled_out(change.low, change.high, higher_is_better) <= tolerance:
        return Status.PASS
    return Status.INCONCLUSIVE


def absolute_verdict(current: float, baseline: float, tolerance: float,
                     higher_is_better: bool = True) -> tuple[Status, float]:
    """Deterministic metrics (accuracy): regression when worse by more than ``tolerance``."""
    delta = current - baseline
    signed = delta if higher_is_better else -delta
    if signed < -tolerance:
        return Status.REGRESSION, delta
    if signed > tolerance:
        return Status.IMPROVEMENT, delta
    return Status.PASS, delta


def pooled_ratio(pairs: Sequence[tuple[Sequence[float], Sequence[float]]],
                 process_floor: float, confidence: float = 0.95,
                 orders: Sequence[Hashable] | None = None) -> Ratio:
    """head/base from the per-round (head, base) samples of one or more pairs (of worker
    processes, or of compiles in one process): the mean of the pairs' mean log ratios. Its
    standard error adds to the rounds' own error the offset between the two sides of a pair
    (two processes, two compiles of one model), at least ``process_floor`` (log scale) and,
    with two pairs or more, what the pairs' means spread beyond their rounds' error (a moment
    estimate; normal approximation for that part, Welch-Satterthwaite degrees of freedom), at
    the two-sided ``confidence``. One pair with ``process_floor`` 0 is the paired t-test on log
    ratios.

    ``orders`` names each pair's order (which side was started, compiled and measured first).
    Each order's pairs are averaged first and the orders weigh alike, so an effect of the order
    cancels between them. With two pairs or more of every order the spread is read around each
    order's own mean (the order's effect is a fixed one); with fewer, an order's effect cannot
    be told from one pair's offset, so the spread of all pairs around their mean counts."""
    usable = [(h, b, o) for (h, b), o in zip(pairs, orders or [None] * len(pairs), strict=True)
              if len(h) == len(b) >= 2]
    if not usable or (len(usable) == 1 and process_floor <= 0):
        return paired_ratio(*(usable[0][:2] if usable else pairs[0]), confidence=confidence)
    logs = [np.log(np.asarray(h, dtype=float)) - np.log(np.asarray(b, dtype=float))
            for h, b, _ in usable]
    means = np.array([d.mean() for d in logs])
    within = np.array([d.var(ddof=1) / d.size for d in logs])
    groups: dict[Hashable, list[int]] = {}
    for index, (_, _, order) in enumerate(usable):
        groups.setdefault(order, []).append(index)
    members = list(groups.values())
    g = len(members)
    centre = float(np.mean([means[m].mean() for m in members]))
    rounds_var = sum(float(within[m].sum()) / len(m) ** 2 for m in members) / g ** 2
    # the groups the spread is read in: each order's, or all pairs as one
    around = members if min(len(m) for m in members) >= 2 else [list(range(len(means)))]
    residual_dof = sum(len(m) - 1 for m in around)
    residual = sum(float(((means[m] - means[m].mean()) ** 2).sum()) for m in around)
    spread = residual / residual_dof - float(within.mean()) if residual_dof else 0.0
    offset_var = max(process_floor ** 2, spread) * sum(1 / len(m) for m in members) / g ** 2
    se = math.sqrt(rounds_var + offset_var)
    rounds_dof = float(sum(d.size - 1 for d in logs))
    if se == 0.0:
        return Ratio(math.exp(centre), math.exp(centre), math.exp(centre),
                     0.0 if centre else 1.0, sum(d.size for d in logs))
    dof = se ** 4 / (rounds_var ** 2 / rounds_dof) if rounds_var > 0 else math.inf
    dist = _sps.t(dof) if math.isfinite(dof) else _sps.norm
    half = float(dist.ppf(0.5 + confidence / 2)) * se
    p_value = float(2 * dist.sf(abs(centre) / se))
    return Ratio(math.exp(centre), math.exp(centre - half), math.exp(centre + half), p_value,
                 sum(d.size for d in logs))
