"""Paired verdicts of ``cpuperf ab``: head / base per metric, as a :class:`RunReport`.

Throughput: the ratio head/base of the per-round pairs (base and head trial r ran back to back),
its 95% CI and p-value (:func:`~pytest_cpuperf.judge.stats.paired_ratio`); "regression" only when
beyond the tolerance *and* significant (two-sided p below alpha: the 95% CI excludes no
change at the default 0.05), "inconclusive" when beyond the
tolerance but not significant, as for baselines. Accuracy and agreement: the exact difference
against the accuracy tolerance. Latency and info figures: shown, not gated. The results carry
base as their baseline and head as their record, so every report renderer works unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..judge.results import (
    ABSOLUTE_KINDS,
    RELATIVE_KINDS,
    BaselineRecord,
    MetricRecord,
    MetricResult,
    format_value,
    is_finite,
)
from ..knobs import BY_NAME
from ..status import Status

if TYPE_CHECKING:
    from ..judge.stats import Ratio

DEFAULT_AB_TOLERANCE = 0.015
DEFAULT_ACCURACY_TOLERANCE = BY_NAME["accuracy_tolerance"].default
DEFAULT_ALPHA = BY_NAME["alpha"].default
"""Allowed throughput loss of head against base. Pairing within one job cancels the
between-run noise (1.6-3.2% here) that sets the baseline gate's 5%; see README, "cpuperf ab"."""


DEFAULT_PROCESS_FLOOR = 0.01
"""Least standard deviation (log scale) of the offset between two worker processes of one
environment: two compiles of one model, in two processes, differ by a little that pairing
cannot cancel (A/A runs, README "cpuperf ab"). Added to the pairs' standard error."""


SPOILED_RATIO = 1.3
"""A round is spoiled when other work slowed one side's trial much more than the other's: their
contention factors (busy.py) differ by more than this ratio. Steady load slows both alike and
cancels in the pair; a burst during one trial does not, so that pair is left out (and the
coordinator runs another round in its place)."""


def spoiled(factors: Sequence[float]) -> bool:
    """Whether the contention factors of one round's trials (every model, both sides) differ
    too much for the pair to be trusted."""
    return bool(factors) and max(factors) > SPOILED_RATIO * min(factors)


def clean_pairs(base: MetricRecord, head: MetricRecord) -> tuple[list[float], list[float], int]:
    """(base, head, spoiled count): the contention-corrected per-round samples of the rounds
    not spoiled by a burst of other work."""
    pairs = min(len(base.samples), len(head.samples))
    ones = [1.0] * pairs
    base_c = base.contention[:pairs] if len(base.contention) >= pairs else ones
    head_c = head.contention[:pairs] if len(head.contention) >= pairs else ones
    kept = [i for i in range(pairs) if not spoiled([base_c[i], head_c[i]])]
    return ([base.samples[i] * base_c[i] for i in kept],
            [head.samples[i] * head_c[i] for i in kept], pairs - len(kept))


@dataclass(frozen=True)
class AbPolicy:
    tolerance: float = DEFAULT_AB_TOLERANCE
    accuracy_tolerance: float = DEFAULT_ACCURACY_TOLERANCE
    alpha: float = DEFAULT_ALPHA
    process_floor: float = DEFAULT_PROCESS_FLOOR


def ab_ratio(head: Sequence[float], base: Sequence[float], process_floor: float) -> Ratio:
    """head/base from per-round pairs: the paired t-interval on log ratios, widened by the
    between-process offset ``process_floor`` (normal approximation for that part)."""
    import math

    import numpy as np
    from scipy import stats

    from ..judge.stats import Ratio, paired_ratio

    paired = paired_ratio(head, base)
    if paired.pairs < 2 or process_floor <= 0:
        return paired
    diffs = np.log(np.asarray(head, dtype=float)) - np.log(np.asarray(base, dtype=float))
    centre = float(diffs.mean())
    se = math.sqrt(float(diffs.var(ddof=1)) / diffs.size + process_floor ** 2)
    # degrees of freedom of the sum (Welch-Satterthwaite; the floor counts as known)
    pair_var = float(diffs.var(ddof=1)) / diffs.size
    dof = (se ** 4) / (pair_var ** 2 / (diffs.size - 1)) if pair_var > 0 else math.inf
    dist = stats.t(dof) if math.isfinite(dof) else stats.norm
    half = float(dist.ppf(0.975)) * se
    p_value = float(2 * dist.sf(abs(centre) / se))
    return Ratio(math.exp(centre), math.exp(centre - half), math.exp(centre + half), p_value,
                 paired.pairs)


def kernel_summary(kernels: Mapping[str, Any] | None) -> str | None:
    if not kernels:
        return None
    from ..measure.measurement import KernelReport

    return KernelReport.from_dict(kernels).summary()


def kernel_note(base: MetricRecord, head: MetricRecord) -> str:
    """``; kernels differ: base: 55/56 FC sparse...; head: 0/56 ...`` or ``""``."""
    old, new = kernel_summary(base.kernels), kernel_summary(head.kernels)
    if old == new:
        return ""
    return f"; kernels differ: base: {old or 'unknown'}; head: {new or 'unknown'}"


def version_note(base: MetricRecord, head: MetricRecord) -> str:
    changed = [f"{k} {base.versions.get(k, '?')} -> {v}" for k, v in sorted(head.versions.items())
               if base.versions.get(k) != v]
    return f"; versions: {', '.join(changed)}" if changed else ""


def judge_pair(base: MetricRecord, head: MetricRecord, policy: AbPolicy) -> MetricResult:
    """The verdict of head's ``metric`` against base's."""
    name = f"{head.metric} of {head.test_id}"
    baseline = BaselineRecord.from_record(base)
    if not (is_finite(base.value, base.samples) and is_finite(head.value, head.samples)):
        return MetricResult(head, Status.INVALID, baseline=baseline,
                            message=f"{name} is invalid on one side (NaN or infinite: base "
                                    f"{base.value!r}, head {head.value!r})")
    notes = kernel_note(base, head) + version_note(base, head)
    if head.kind in RELATIVE_KINDS and base.samples and head.samples:
        return _paired(base, head, policy, name, baseline, notes)
    if head.kind in ABSOLUTE_KINDS:
        return _exact(base, head, policy, name, baseline, notes)
    change = head.value / base.value - 1.0 if base.value else None
    shown = f"{change:+.1%}" if change is not None else "n/a"
    return MetricResult(head, Status.PASS, baseline=baseline, change=change,
                        message=f"{name}: head {format_value(head.value, head.unit)}, base "
                                f"{format_value(base.value, base.unit)} ({shown}, "
                                f"informational){notes}")


def _paired(base: MetricRecord, head: MetricRecord, policy: AbPolicy, name: str,
            baseline: BaselineRecord, notes: str) -> MetricResult:
    from ..judge.stats import Change, relative_verdict

    base_samples, head_samples, left_out = clean_pairs(base, head)
    pairs = len(base_samples)
    if pairs < 2:
        return MetricResult(head, Status.INCONCLUSIVE, baseline=baseline,
                            message=f"{name}: other work spoiled {left_out} of "
                                    f"{left_out + pairs} rounds; nothing to judge. Re-run on a "
                                    f"quieter machine or with more --rounds")
    ratio = ab_ratio(head_samples, base_samples, policy.process_floor)
    if left_out:
        notes += f"; {left_out} round(s) left out: a burst of other work hit one side"
    worse = ratio.ratio < 1.0 if head.higher_is_better else ratio.ratio > 1.0
    # two-sided p at alpha: a regression's 95% CI (alpha 0.05) lies wholly below no change
    change = Change(ratio.ratio - 1.0, ratio.low - 1.0, ratio.high - 1.0, ratio.p_value, 0.0)
    status = relative_verdict(change, policy.tolerance, policy.alpha, head.higher_is_better)
    figures = (f"head {format_value(head.value, head.unit)} vs base "
               f"{format_value(base.value, base.unit)}: head/base {ratio.describe()}, tolerance "
               f"{policy.tolerance:.1%}{notes}")
    message = {
        Status.REGRESSION: f"{name} is slower on head: {figures}",
        Status.INCONCLUSIVE: f"{name} may be slower on head, but the rounds cannot tell: "
                             f"{figures}. Hint: more --rounds",
        Status.IMPROVEMENT: f"{name} is faster on head: {figures}",
    }.get(status, f"{name}: {figures}")
    if status is Status.PASS and worse and ratio.high < 1.0:
        message += " (a significant change within tolerance)"
    return MetricResult(head, status, message=message, baseline=baseline, change=change.change,
                        ci=(change.low, change.high), p_value=ratio.p_value,
                        tolerance=policy.tolerance)


def _exact(base: MetricRecord, head: MetricRecord, policy: AbPolicy, name: str,
           baseline: BaselineRecord, notes: str) -> MetricResult:
    from ..judge.stats import absolute_verdict

    status, delta = absolute_verdict(head.value, base.value, policy.accuracy_tolerance,
                                     head.higher_is_better)
    figures = (f"head {format_value(head.value, head.unit)} vs base "
               f"{format_value(base.value, base.unit)}: {delta:+.4f}, tolerance "
               f"{policy.accuracy_tolerance:.4f}{notes}")
    message = {Status.REGRESSION: f"{name} dropped on head: {figures}",
               Status.IMPROVEMENT: f"{name} improved on head: {figures}"}.get(
        status, f"{name}: {figures}")
    return MetricResult(head, status, message=message, baseline=baseline, change=delta,
                        ci=(delta, delta), tolerance=policy.accuracy_tolerance)


CONFIRMED = (Status.REGRESSION, Status.IMPROVEMENT)
"""Paired verdicts that must reproduce in a fresh pair of worker processes: two processes of
one environment can differ as a whole (A/A here: x0.842 and x1.131 in 2 of 20 runs of a fast
model, README "cpuperf ab"), which no number of rounds within one pair can cancel."""


def _to_confirm(result: MetricResult) -> bool:
    """Whether ``result`` is a paired verdict that a fresh pair of workers must reproduce."""
    return result.status in CONFIRMED and result.record.kind in RELATIVE_KINDS


def needs_confirmation(results: Sequence[MetricResult]) -> str | None:
    """What a fresh pair of workers must reproduce (``"a regression"``), or None."""
    found = sorted({r.status.value for r in results if _to_confirm(r)})
    return " and ".join(f"{'an' if status[0] in 'aeiou' else 'a'} {status}"
                        for status in found) or None


def _same_way(first: MetricResult, again: MetricResult) -> bool:
    """Whether ``again`` reads a change beyond the tolerance in ``first``'s direction."""
    if again.change is None or first.tolerance is None:
        return False
    signed = again.change if again.record.higher_is_better else -again.change
    return signed < -first.tolerance if first.status is Status.REGRESSION else \
        signed > first.tolerance


def confirmed(first: MetricResult, again: MetricResult | None, why_not: str = "") -> MetricResult:
    """``first`` (a regression or improvement of the first pair of workers) held against the
    same metric measured again by a fresh pair: it stands if ``again`` reads a change beyond the
    tolerance the same way (significant or not: the first run already was); otherwise it is
    inconclusive and both figures are shown. Replayed on the stored runs (README "cpuperf ab"):
    this keeps the first run's detection and cuts the fast model's A/A false regressions from
    1 in 20 runs to 1.8% of run pairs; requiring a significant second run cut them to 0 but
    caught a 7.5% slower model in 20% of pairs instead of 50%."""
    if not _to_confirm(first):
        return first
    if again is None:
        return replace(first, message=f"{first.message}; not confirmed: the fresh pair of "
                                      f"workers did not measure it{why_not}")
    shown = (f"head/base x{1 + again.change:.3f}" if again.change is not None else "no ratio")
    if again.ci is not None:
        shown += f" (95% CI x{1 + again.ci[0]:.3f}-x{1 + again.ci[1]:.3f})"
    if _same_way(first, again):
        return replace(first, message=f"{first.message}; confirmed in a fresh pair of worker "
                                      f"processes: {shown}")
    return replace(first, status=Status.INCONCLUSIVE,
                   message=f"{first.message}; NOT confirmed: a fresh pair of worker processes "
                           f"read {shown}, {again.status.value}. Two processes of one "
                           f"environment can differ by this much; re-run to tell")


def head_only(head: MetricRecord, why: str) -> MetricResult:
    return MetricResult(head, Status.NO_BASELINE,
                        message=f"{head.metric} of {head.test_id}: head "
                                f"{format_value(head.value, head.unit)}; {why}")


def judge_test(base: Sequence[Mapping[str, Any]], head: Sequence[Mapping[str, Any]],
               policy: AbPolicy) -> tuple[list[MetricResult], list[str]]:
    """Results of one test's metrics, and notes on metrics only base recorded."""
    base_records = {r.metric: r for r in map(MetricRecord.from_dict, base)}
    results, notes = [], []
    for record in map(MetricRecord.from_dict, head):
        other = base_records.pop(record.metric, None)
        if other is None:
            results.append(head_only(record, "base did not record this metric"))
        else:
            results.append(judge_pair(other, record, policy))
    for metric, record in base_records.items():
        notes.append(f"{metric} of {record.test_id}: recorded by base only "
                     f"({format_value(record.value, record.unit)}); head did not record it")
    return results, notes
