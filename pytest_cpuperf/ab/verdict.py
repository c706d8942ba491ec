"""Paired verdicts of ``cpuperf ab``: head / base per metric, as a :class:`RunReport`.

Throughput: the ratio head/base of the per-round pairs (base and head trial r ran back to back),
with its 95% CI and p-value, over every pair of worker processes that measured the test
(:func:`~pytest_cpuperf.stats.intervals.pooled_ratio`: the spread between the pairs counts);
"regression" only when beyond the tolerance *and* significant (two-sided p below alpha: the 95%
CI excludes no change at the default 0.05), "inconclusive" when beyond the tolerance but not
significant. Unlike a
stored baseline's, a pass does not need its CI to rule out a loss beyond the tolerance (one pair
of worker processes cannot: the process floor alone keeps its CI wider); every verdict says
which loss its CI rules out. With ``--rounds auto`` the level is ``alpha / looks``
(:attr:`AbPolicy.looks`), as at each look of the sequential rule that stopped the rounds.
Accuracy and agreement: the exact difference against the accuracy tolerance (first pair).
Latency and info figures: shown, not gated. The results carry
base as their baseline and head as their record, so every report renderer works unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..knobs import AB_BY_NAME
from ..records.kernels import KernelReport
from ..records.results import (
    ABSOLUTE_KINDS,
    RELATIVE_KINDS,
    BaselineRecord,
    MetricRecord,
    MetricResult,
    format_value,
    is_finite,
    rules_out_phrase,
)
from ..stats.intervals import (
    Change,
    absolute_verdict,
    paired_ratio,
    pooled_ratio,
    relative_verdict,
)
from ..stats.resolution import ruled_out
from ..stats.sequential import look_alpha
from ..status import Status

DEFAULT_AB_TOLERANCE = AB_BY_NAME["tolerance"].default
"""Allowed throughput loss of head against base (``cpuperf ab``'s row of the options table)."""
DEFAULT_ACCURACY_TOLERANCE = AB_BY_NAME["accuracy_tolerance"].default
DEFAULT_ALPHA = AB_BY_NAME["alpha"].default


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
    looks: int = 1
    """Looks of ``--rounds auto``'s sequential rule (stats/sequential.py): the verdict's level
    is ``alpha / looks``, the same as each look's."""

    @property
    def level_alpha(self) -> float:
        """The significance the verdict uses: ``alpha``, Bonferroni-adjusted for the looks."""
        return look_alpha(self.alpha, self.looks)


def kernel_summary(kernels: Mapping[str, Any] | None) -> str | None:
    if not kernels:
        return None

    return KernelReport.from_dict(kernels).summary()


def kernel_note(base: MetricRecord, head: MetricRecord) -> str:
    """``; kernels differ: base: 55/56 FC sparse...; head: 0/56 ...`` or ``""``."""
    old, new = kernel_summary(base.kernels), kernel_summary(head.kernels)
    if old == new:
        return ""
    return f"; kernels differ: base: {old or 'unknown'}; head: {new or 'unknown'}"


def version_note(base: MetricRecord, head: MetricRecord) -> str:
    """``; versions: torch 2.8.0 -> 2.13.0, intel_extension_for_pytorch 2.8.0 -> none`` or
    ``""``: what head runs with that base did not, and what only base had."""
    changed = [f"{k} {base.versions.get(k, '?')} -> {v}" for k, v in sorted(head.versions.items())
               if base.versions.get(k) != v]
    changed += [f"{k} {v} -> none" for k, v in sorted(base.versions.items())
                if k not in head.versions]
    return f"; versions: {', '.join(changed)}" if changed else ""


def model_label(record: MetricRecord) -> str:
    """The label of the model a record measured (``extra["label"]``), or of the candidate an
    agreement compared (``extra["candidate"]``); ``""`` when it names none."""
    return str(record.extra.get("label") or record.extra.get("candidate") or "")


def label_note(base: MetricRecord, head: MetricRecord) -> str:
    """``; models: base ipex-jit-int8, head torch-compile-int8`` when the sides' models carry
    different labels (two serving paths under one test id), else ``""``."""
    old, new = model_label(base), model_label(head)
    if old == new:
        return ""
    return f"; models: base {old or 'unlabelled'}, head {new or 'unlabelled'}"


def joined(records: Sequence[MetricRecord]) -> MetricRecord:
    """One record of a metric that several pairs of worker processes measured: the first
    pair's, with every pair's samples in order (their counts in ``extra["worker_pairs"]``) and
    as the value the pairs' values weighted by their trials (trials are of one length, so this
    is samples over time, as each pair's value is)."""
    if len(records) == 1:
        return records[0]
    samples = [s for r in records for s in r.samples]
    contention = ([c for r in records for c in r.contention]
                  if all(len(r.contention) == len(r.samples) for r in records) else [])
    counts = [len(r.samples) for r in records]
    value = (sum(n * r.value for n, r in zip(counts, records, strict=True)) / sum(counts)
             if all(counts) else records[0].value)
    return replace(records[0], samples=samples, contention=contention, value=value,
                   extra={**records[0].extra, "worker_pairs": [len(r.samples) for r in records]})


def judge_pair(base: MetricRecord, head: MetricRecord, policy: AbPolicy) -> MetricResult:
    """The verdict of head's ``metric`` against base's, measured by one pair of workers."""
    return judge_pairs([(base, head)], policy)


def judge_pairs(measured: Sequence[tuple[MetricRecord, MetricRecord]],
                policy: AbPolicy, firsts: Sequence[str] | None = None) -> MetricResult:
    """The verdict of head's metric against base's, measured by one or more pairs of worker
    processes, (base, head) each, the first pair first; ``firsts``: the side that went first
    in each pair (its effect cancels between the orders, :func:`pooled_ratio`)."""
    base, head = joined([b for b, _ in measured]), joined([h for _, h in measured])
    name = f"{head.metric} of {head.test_id}"
    baseline = BaselineRecord.from_record(base)
    if not all(is_finite(b.value, b.samples) and is_finite(h.value, h.samples)
               for b, h in measured):
        return MetricResult(head, Status.INVALID, baseline=baseline,
                            message=f"{name} is invalid on one side (NaN or infinite: base "
                                    f"{base.value!r}, head {head.value!r})")
    notes = label_note(base, head) + kernel_note(base, head) + version_note(base, head)
    if head.kind in RELATIVE_KINDS and all(b.samples and h.samples for b, h in measured):
        return _paired(measured, head, baseline, policy, name, notes, firsts)
    first_base, first_head = measured[0]
    if head.kind in ABSOLUTE_KINDS:
        return _exact(first_base, first_head, policy, name, baseline, notes)
    change = head.value / base.value - 1.0 if base.value else None
    shown = f"{change:+.1%}" if change is not None else "n/a"
    return MetricResult(head, Status.PASS, baseline=baseline, change=change,
                        message=f"{name}: head {format_value(head.value, head.unit)}, base "
                                f"{format_value(base.value, base.unit)} ({shown}, "
                                f"informational){notes}")


DECIDE_AB = "To decide it, more rounds (--rounds) or worker pairs (--max-pairs)"
"""What would decide an inconclusive paired verdict (said in its message)."""


def _paired(measured: Sequence[tuple[MetricRecord, MetricRecord]], head: MetricRecord,
            baseline: BaselineRecord, policy: AbPolicy, name: str, notes: str,
            firsts: Sequence[str] | None = None) -> MetricResult:
    """The paired verdict of ``measured`` (``head`` and ``baseline``: all pairs joined)."""

    cleaned = [clean_pairs(b, h) for b, h in measured]
    left_out = sum(spoilt for _, _, spoilt in cleaned)
    named = firsts is not None
    firsts = list(firsts) if firsts is not None else ["base"] * len(measured)
    kept = [i for i, (b, _, _) in enumerate(cleaned) if len(b) >= 2]
    usable = [(cleaned[i][1], cleaned[i][0]) for i in kept]
    rounds = sum(len(b) for b, _, _ in cleaned)
    if not usable:
        return MetricResult(head, Status.INCONCLUSIVE, baseline=baseline,
                            message=f"{name}: other work spoiled {left_out} of "
                                    f"{left_out + rounds} rounds; nothing to judge. Re-run on a "
                                    f"quieter machine or with more --rounds")
    alpha = policy.level_alpha
    level = 1.0 - alpha  # the two-sided CI that excludes no change exactly when p < alpha
    ratio = pooled_ratio(usable, policy.process_floor, level, [firsts[i] for i in kept])
    if left_out:
        notes += f"; {left_out} round(s) left out: a burst of other work hit one side"
    if len(measured) > 1:
        each = [f"x{paired_ratio(h, b).ratio:.3f}" + (f" {firsts[i]} first" if named else "")
                for i, (h, b) in zip(kept, usable, strict=True)]
        spread = ("the two orders weigh alike, so an effect of going first cancels, and the "
                  "spread between the pairs is in the CI"
                  if len({firsts[i] for i in kept}) > 1 else "the spread between them is in the CI")
        notes += (f"; measured by {len(measured)} pairs of worker processes (head/base "
                  f"{', '.join(each)}; {spread})")
    worse = ratio.ratio < 1.0 if head.higher_is_better else ratio.ratio > 1.0
    # two-sided p at alpha: a regression's 95% CI (alpha 0.05) lies wholly below no change
    change = Change(ratio.ratio - 1.0, ratio.low - 1.0, ratio.high - 1.0, ratio.p_value, 0.0)
    status = relative_verdict(change, policy.tolerance, alpha, head.higher_is_better,
                              require_ruled_out=False)
    figures = (f"head {format_value(head.value, head.unit)} vs base "
               f"{format_value(baseline.value, baseline.unit)}: head/base {ratio.describe(level)}, "
               f"tolerance {policy.tolerance:.1%}{notes}")
    seen = rules_out_phrase(ruled_out(change.low, change.high, head.higher_is_better),
                            policy.tolerance if status is Status.INCONCLUSIVE else None, level)
    message = {
        Status.REGRESSION: f"{name} is slower on head: {figures}",
        Status.INCONCLUSIVE: f"{name} may be slower on head, but the rounds cannot tell: it "
                             f"{seen}: {figures}. {DECIDE_AB}",
        Status.IMPROVEMENT: f"{name} is faster on head: {figures}",
    }.get(status, f"{name}: {figures}; {seen}")
    if status is Status.PASS and worse and ratio.high < 1.0:
        message += " (a significant change within tolerance)"
    return MetricResult(head, status, message=message, baseline=baseline, change=change.change,
                        ci=(change.low, change.high), p_value=ratio.p_value,
                        tolerance=policy.tolerance, ci_level=round(level, 6))


def _exact(base: MetricRecord, head: MetricRecord, policy: AbPolicy, name: str,
           baseline: BaselineRecord, notes: str) -> MetricResult:

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


AGAIN = (Status.REGRESSION, Status.IMPROVEMENT, Status.INCONCLUSIVE)
"""Paired verdicts after which a test is measured again by a fresh pair of worker processes
(up to ``--max-pairs``), and judged on all its pairs together. Two processes of one environment
can differ as a whole (A/A here: x0.842 and x1.131 in 2 of 20 runs of a fast model), which no
number of rounds within one pair cancels; see
:func:`~pytest_cpuperf.stats.intervals.pooled_ratio` and README "cpuperf ab"."""


def needs_another_pair(results: Sequence[MetricResult]) -> str | None:
    """Why a fresh pair of workers should measure the test again (``"throughput:
    regression"``), or None when every paired verdict is a pass."""
    found = [f"{r.metric}: {r.status.value}" for r in results
             if r.status in AGAIN and r.record.kind in RELATIVE_KINDS]
    return ", ".join(found) or None


def head_only(head: MetricRecord, why: str) -> MetricResult:
    return MetricResult(head, Status.NO_BASELINE,
                        message=f"{head.metric} of {head.test_id}: head "
                                f"{format_value(head.value, head.unit)}; {why}")


Records = Sequence[Mapping[str, Any]]


def judge_test(pairs: Sequence[tuple[Records, Records]], policy: AbPolicy,
               firsts: Sequence[str] | None = None) -> tuple[list[MetricResult], list[str]]:
    """Results of one test's metrics from the (base, head) records of each pair of workers that
    measured it (the first pair first; ``firsts``: the side each pair ran first), and notes on
    metrics only base recorded."""
    by_pair = [({r.metric: r for r in map(MetricRecord.from_dict, base)},
                {r.metric: r for r in map(MetricRecord.from_dict, head)}) for base, head in pairs]
    first_base, first_head = by_pair[0]
    results, notes = [], []
    for metric, record in first_head.items():
        if metric not in first_base:
            results.append(head_only(record, "base did not record this metric"))
            continue
        present = [i for i, (b, h) in enumerate(by_pair) if metric in b and metric in h]
        measured = [(by_pair[i][0][metric], by_pair[i][1][metric]) for i in present]
        results.append(judge_pairs(measured, policy,
                                   None if firsts is None else [firsts[i] for i in present]))
    for metric, record in first_base.items():
        if metric not in first_head:
            notes.append(f"{metric} of {record.test_id}: recorded by base only "
                         f"({format_value(record.value, record.unit)}); head did not record it")
    return results, notes
