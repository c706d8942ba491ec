"""Hold one :class:`MetricRecord` against its baseline and thresholds -> :class:`MetricResult`.

Used by the plugin at the end of each test and by ``cpuperf compare``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..knobs import BY_NAME, JUDGE_KNOBS, thresholds_for
from ..records.artifact import SAME_MOMENT, SAME_MOMENT_KEY, STORED, STORED_WHY_KEY, short
from ..records.results import (
    ABSOLUTE_KINDS,
    RATIO_KINDS,
    RELATIVE_KINDS,
    SAMPLED_KINDS,
    BaselineRecord,
    MetricRecord,
    MetricResult,
    is_finite,
    rules_out_phrase,
)
from ..records.results import format_value as _fmt
from ..stats.contention import loss_bound
from ..stats.intervals import (
    Change,
    absolute_verdict,
    pooled_ratio,
    relative_verdict,
    throughput_change,
)
from ..stats.resolution import ruled_out
from ..status import Status
from .percentiles import ceiling_result, percentile_note

__all__ = ["Policy", "evaluate"]


REFERENCE_NOTE_KEY = "reference_note"
"""Key of a throughput record's ``extra``: why ``--cpuperf-reference auto`` measured it without
the same-run reference (said beside its verdict)."""


@dataclass(frozen=True)
class Policy:
    """How strictly one metric is judged: the judging knobs of :mod:`pytest_cpuperf.knobs`
    (their defaults are the table's) and the absolute floor or ceiling a marker set.

    Stored with every judged metric in the report, so ``cpuperf compare`` judges as the gate
    did. tests/test_knobs.py checks that the fields are exactly the table's judging knobs.
    """

    tolerance: float = BY_NAME["tolerance"].default
    """Allowed relative throughput loss (0.05 = 5%)."""
    accuracy_tolerance: float = BY_NAME["accuracy_tolerance"].default
    """Allowed absolute loss of accuracy-like metrics (0.005 = half a point)."""
    noise_floor: float = BY_NAME["noise_floor"].default
    """Least run-to-run standard deviation (log scale) assumed for throughput."""
    alpha: float = BY_NAME["alpha"].default
    """Significance level of a regression verdict (one-sided)."""
    max_busy: float = BY_NAME["max_busy"].default
    """Above this share of the CPU taken by other work, a change is reported as inconclusive."""
    floor: float | None = None
    """Absolute minimum (min_throughput, min_accuracy...), with or without a baseline."""
    ceiling: float | None = None
    """Absolute maximum (max_latency_ms, max_abs_diff...), with or without a baseline."""

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Policy:
        """A policy from judging knob values by name (others ignored, missing at default)."""
        return cls(**{k.name: float(values[k.name]) for k in JUDGE_KNOBS
                      if values.get(k.name) is not None})

    def for_metric(self, kind: str, metric: str, marker: Mapping[str, Any]) -> Policy:
        """This policy with a test's ``@pytest.mark.cpuperf`` keywords (already checked)
        applied: its judging knobs, and the floor or ceiling that names this metric."""
        floor, ceiling = thresholds_for(kind, metric, marker)
        knobs = {k.name: float(marker[k.name]) for k in JUDGE_KNOBS
                 if marker.get(k.name) is not None}
        return replace(self, **knobs, floor=floor, ceiling=ceiling)

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        known = {k: data[k] for k in cls.__dataclass_fields__ if data.get(k) is not None}
        return cls(**{k: float(v) for k, v in known.items()})


def _version_note(record: MetricRecord, baseline: BaselineRecord) -> str:
    old = baseline.latest.versions
    changed = [f"{k} {old.get(k, '?')} -> {v}" for k, v in sorted(record.versions.items())
               if old.get(k) != v]
    return f"; versions changed: {', '.join(changed)}" if changed else ""


def _baseline_note(baseline: BaselineRecord) -> str:
    latest = baseline.latest
    versions = ", ".join(f"{k} {v}" for k, v in sorted(latest.versions.items())) or "versions ?"
    runs = f"{len(baseline.runs)} runs, " if len(baseline.runs) > 1 else ""
    return f"baseline {_fmt(baseline.value, baseline.unit)} ({runs}{latest.date[:10]}, {versions})"


def evaluate(record: MetricRecord, baseline: BaselineRecord | None, policy: Policy, *,
             other_machine: str | None = None) -> MetricResult:
    """The verdict for ``record`` (see :func:`_verdict`), carrying the policy it was judged
    with and the confidence level of its interval."""
    result = _verdict(record, baseline, policy, other_machine=other_machine)
    _say_stored(result)
    if "bound" not in result.message:
        result.message += percentile_note(record)
    result.policy = policy.to_dict()
    if result.ci is not None and result.relative and result.ci[0] != result.ci[1]:
        result.ci_level = round(1.0 - 2 * policy.alpha, 6)
    return result


def _verdict(record: MetricRecord, baseline: BaselineRecord | None, policy: Policy, *,
             other_machine: str | None = None) -> MetricResult:
    """The verdict for ``record``: floors and ceilings first, then the baseline comparison.

    ``other_machine`` says how the baseline's machine differs from this one (see
    :func:`pytest_cpuperf.store.baselines.machine_mismatch`); such a baseline is not judged.
    """
    beside = _same_moment_data(record)
    if other_machine is not None and baseline is not None and beside is None:
        return _on_other_machine(record, baseline, policy, other_machine)
    name = f"{record.metric} of {record.test_id}"
    if not is_finite(record.value, [*record.samples, *record.contention]):
        return MetricResult(record, Status.INVALID, baseline=baseline,
                            message=f"{name} is invalid: its value or a sample is NaN or "
                                    f"infinite ({_fmt(record.value, record.unit)}); check the "
                                    f"model's outputs and what the test recorded")
    if policy.floor is not None and record.kind in RATIO_KINDS:
        return _claimed_speedup(record, baseline, policy.floor, name)
    if policy.floor is not None and record.value < policy.floor:
        return MetricResult(record, Status.BELOW_FLOOR, baseline=baseline,
                            message=f"{name} is {_fmt(record.value, record.unit)}, below the "
                                    f"floor {_fmt(policy.floor, record.unit)}")
    bounded = ceiling_result(record, policy.ceiling, name) if policy.ceiling is not None \
        and record.kind == "latency" else None
    if bounded is not None:  # a latency percentile: its ceiling holds its confidence bound
        bounded.baseline = baseline
        return bounded
    if policy.ceiling is not None and record.value > policy.ceiling:
        return MetricResult(record, Status.ABOVE_CEILING, baseline=baseline,
                            message=f"{name} is {_fmt(record.value, record.unit)}, above the "
                                    f"ceiling {_fmt(policy.ceiling, record.unit)}")
    if beside is not None:
        return _same_moment(record, baseline, policy, name, beside)
    if baseline is None and (policy.floor is not None or policy.ceiling is not None):
        return _within_thresholds(record, policy, name)
    if baseline is None:
        return MetricResult(record, Status.NO_BASELINE,
                            message=f"{name}: {_fmt(record.value, record.unit)}, no baseline "
                                    f"for this machine (record one with --cpuperf-update)")
    if record.kind in SAMPLED_KINDS and record.samples and all(
        r.samples for r in baseline.runs
    ):
        return _relative(record, baseline, policy, name)
    if record.kind in ABSOLUTE_KINDS:
        return _absolute(record, baseline, policy, name)
    change = record.value / baseline.value - 1.0 if baseline.value else None
    return MetricResult(record, Status.PASS, baseline=baseline, change=change,
                        message=f"{name}: {_fmt(record.value, record.unit)}, "
                                f"{_baseline_note(baseline)} (informational)")


JUDGED = (Status.PASS, Status.REGRESSION, Status.IMPROVEMENT, Status.INCONCLUSIVE)
"""Verdicts of a comparison with a baseline (the others: no baseline, a threshold, invalid...)."""


def _say_stored(result: MetricResult) -> None:
    """Mark a throughput verdict on the stored figure as such: its basis, the artifact hashes,
    and why no same-moment measurement ran."""
    record, baseline = result.record, result.baseline
    if result.against is not None or record.kind not in RELATIVE_KINDS or baseline is None \
            or result.status not in JUDGED:
        return
    result.against = STORED
    result.artifacts = _hashes(record.artifact.sha256 if record.artifact else None,
                               baseline.artifact.sha256 if baseline.artifact else None)
    why = str(record.extra.get(STORED_WHY_KEY) or "")
    if why:
        result.against_note = why
        result.message += f"; judged on the stored figure: {why}"


def _hashes(candidate: str | None, baseline: str | None) -> dict[str, str] | None:
    found = {k: v for k, v in (("candidate", candidate), ("baseline", baseline)) if v}
    return found or None


def _same_moment_data(record: MetricRecord) -> Mapping[str, Any] | None:
    """The baseline artifact's trials measured interleaved with ``record``'s, if any (pairs
    of equal count and positive rates)."""
    data = record.extra.get(SAME_MOMENT_KEY)
    if record.kind not in RELATIVE_KINDS or not isinstance(data, Mapping):
        return None
    samples = data.get("baseline_samples")
    if not isinstance(samples, list) or len(samples) != len(record.samples) or not all(
            isinstance(x, (int, float)) and x > 0 for x in [*samples, *record.samples]):
        return None
    return data


COMPILE_FLOOR = 0.01
"""Least standard deviation (log scale) of the offset between two compiles of one model in
one process, added to a same-moment ratio's error: pairing cancels the machine's drift, not
that (A/A of two compiles of one IR read x1.011 to x1.017 over 40 pairs of turns each;
docs/evidence/same-moment.md)."""

DECIDE_SAME_MOMENT = ("To decide it, more trials (trials=, trial_time=, or --cpuperf-trials): "
                      "the pairs set the interval")
"""What would decide an inconclusive same-moment verdict (said in its message)."""


def _same_moment(record: MetricRecord, baseline: BaselineRecord | None, policy: Policy,
                 name: str, data: Mapping[str, Any]) -> MetricResult:
    """The verdict on the ratio candidate/baseline of the two artifacts measured interleaved
    in this run, judged as ``cpuperf ab`` judges its ratio (:func:`relative_verdict`)."""
    confidence = 1.0 - 2 * policy.alpha
    base = [float(x) for x in data["baseline_samples"]]
    ratio = pooled_ratio([(record.samples, base)], COMPILE_FLOOR, confidence=confidence)
    # one-sided in the direction of the change: below alpha exactly when the two-sided
    # (1 - 2 alpha) interval excludes no change
    change = Change(ratio.ratio - 1.0, ratio.low - 1.0, ratio.high - 1.0, ratio.p_value / 2,
                    0.0)
    status = relative_verdict(change, policy.tolerance, policy.alpha, record.higher_is_better)
    old = str(data.get("baseline", ""))
    new = record.artifact.sha256 if record.artifact else ""
    note = str(data.get("note") or "")
    then = _fmt(float(data.get("baseline_value") or 0.0), record.unit)
    figures = (f"{_fmt(record.value, record.unit)} vs baseline artifact {short(old)} measured "
               f"beside it in this run ({then}): candidate/baseline "
               f"{ratio.describe(confidence)}, tolerance {policy.tolerance:.1%}; same-moment, "
               f"artifacts {short(new)} (candidate) vs {short(old)} (baseline)"
               + (f"; {note}" if note else ""))
    seen = rules_out_phrase(ruled_out(change.low, change.high, record.higher_is_better),
                            policy.tolerance if status is Status.INCONCLUSIVE else None,
                            confidence)
    message = {
        Status.REGRESSION: f"{name} regressed: {figures}",
        Status.INCONCLUSIVE: f"{_undecided(change, policy, record.higher_is_better, name)}: "
                             f"it {seen}: {figures}. {DECIDE_SAME_MOMENT}",
        Status.IMPROVEMENT: f"{name} improved: {figures}; run with --cpuperf-update to keep it",
    }.get(status, f"{name}: {figures}; {seen}")
    return MetricResult(record, status, message=message, baseline=baseline,
                        change=change.change, ci=(change.low, change.high),
                        p_value=change.p_value, tolerance=policy.tolerance, basis="raw",
                        against=SAME_MOMENT, artifacts=_hashes(new, old),
                        against_note=note or None)


def _within_thresholds(record: MetricRecord, policy: Policy, name: str) -> MetricResult:
    """A metric with no baseline that holds the floor or ceiling its marker set: that
    threshold is its gate, and it passed."""
    held = [f"{side} {_fmt(value, record.unit)}" for side, value in
            (("floor", policy.floor), ("ceiling", policy.ceiling)) if value is not None]
    return MetricResult(record, Status.PASS,
                        message=f"{name}: {_fmt(record.value, record.unit)}, within its "
                                f"{' and '.join(held)}; no baseline for this machine to "
                                f"compare with (record one with --cpuperf-update)")


def _claimed_speedup(record: MetricRecord, baseline: BaselineRecord | None, floor: float,
                     name: str) -> MetricResult:
    """A same-run ratio against its ``min_speedup`` claim, by its own interval: a pass rules
    the claim's failure out, a failure rules the claim out, anything else is inconclusive."""
    low = float(record.extra.get("ci_low", record.value))
    high = float(record.extra.get("ci_high", record.value))
    level = float(record.extra.get("ci_level", 0.95))
    a, b = record.extra.get("a", "A"), record.extra.get("b", "B")
    figures = (f"{a} / {b} = x{record.value:.3f} ({level:.0%} CI x{low:.3f}-x{high:.3f}) in "
               f"the same run, claim x{floor:g} or more (min_speedup)")
    if low >= floor:
        status, verdict = Status.PASS, f"rules out less than x{floor:g}"
    elif high < floor:
        status, verdict = Status.BELOW_FLOOR, f"rules out x{floor:g}: the claim fails"
    else:
        status, verdict = Status.INCONCLUSIVE, (
            f"could not rule out less than x{floor:g}; more trials (trials=, trial_time=) "
            f"would decide it")
    result = MetricResult(record, status, baseline=baseline, change=record.value - 1.0,
                          message=f"{name}: {figures}: {verdict}")
    result.ci = (low - 1.0, high - 1.0)
    result.ci_level = level
    return result


def _on_other_machine(record: MetricRecord, baseline: BaselineRecord, policy: Policy,
                      mismatch: str) -> MetricResult:
    """The verdict against a baseline of another machine class.

    Floors and ceilings still apply. Accuracy and agreement are judged (with a note): on the
    same data they measure the model, not the CPU. Throughput and latency are not judged.
    """
    note = f"the baseline was {mismatch}"
    if record.kind in ABSOLUTE_KINDS:
        result = evaluate(record, baseline, policy)
        result.message += f"; note: {note}"
        return result
    result = evaluate(record, None, policy)
    if result.status is not Status.NO_BASELINE:
        return result
    return MetricResult(record, Status.OTHER_MACHINE, baseline=baseline,
                        message=f"{record.metric} of {record.test_id}: "
                                f"{_fmt(record.value, record.unit)}, not judged against "
                                f"{_baseline_note(baseline)}: {note}. Record this machine's "
                                f"baseline with --cpuperf-update")


def _correction_note(record: MetricRecord, baseline: BaselineRecord) -> str:
    """Say how much the change was corrected for CPU time other work took, if at all."""
    now = record.correction
    then = sum(r.correction for r in baseline.runs) / len(baseline.runs)
    if max(now, then) <= 1.01:
        return ""
    return (f"; corrected for CPU time other processes took (this run x{now:.3f}, baseline "
            f"x{then:.3f}; raw values shown)")


def _busy_note(record: MetricRecord, baseline: BaselineRecord, policy: Policy) -> str | None:
    """Why the machine was too busy to trust a change, or None."""
    parts = []
    if _run_contended(record, policy):
        kept = int(record.extra.get("contended_trials") or 0)
        parts.append(f"other work took {record.busy or 0.0:.0%} of the CPU during this run"
                     + (f" ({kept} trial(s) contended after the repeat budget ran out)"
                        if kept else ""))
    old = [r.busy for r in baseline.runs if r.busy is not None]
    if old and max(old) > policy.max_busy:
        parts.append(f"other work took {max(old):.0%} of the CPU while the baseline was recorded")
    if not parts:
        return None
    return " and ".join(parts) + f" (limit {policy.max_busy:.0%}, --cpuperf-max-busy)"


def _run_contended(record: MetricRecord, policy: Policy) -> bool:
    """Whether this run was contended: busy beyond the limit, or trials the engine kept
    although contended (its repeat budget ran out)."""
    busy = record.busy is not None and record.busy > policy.max_busy
    return busy or bool(record.extra.get("contended_trials"))


def _same_run(record: MetricRecord, baseline: BaselineRecord) -> bool:
    """Whether the baseline is this very run (``cpuperf compare`` of a file with itself)."""
    return len(baseline.runs) == 1 and baseline.latest.samples == record.samples and \
        baseline.latest.date == record.date


def _contended_status(record: MetricRecord, baseline: BaselineRecord, policy: Policy,
                      raw: Change) -> Status:
    """The verdict of a contended comparison, from the *raw* (uncorrected) change.

    Contention only ever slows a run down, by at most the loss bound measured for the backend
    (:func:`~pytest_cpuperf.measure.busy.loss_bound`: for every backend any loss, far more
    than the CPU share taken, so no ``1/(1-s)`` correction is trusted here). So,
    when this run was contended, a raw pass or improvement stands, and a raw loss is a
    regression only when even its CI's best end is below ``(1 - tolerance) x (1 - bound)``; when
    the baseline's run was contended, a raw regression stands, and a gain is an improvement only
    beyond ``(1 + tolerance) / (1 - bound)``. When both were contended nothing but the same run
    compared with itself passes (alike busy shares do not mean alike losses: an OpenMP team's
    loss at one busy share varies widely). Everything else is inconclusive: a slower
    model never passes on a contended run, and an identical one never fails.
    """
    bound = loss_bound(record.extra.get("backend"))
    now = _run_contended(record, policy)
    then = any(r.busy is not None and r.busy > policy.max_busy for r in baseline.runs)
    status = relative_verdict(raw, policy.tolerance, policy.alpha, record.higher_is_better)
    low, high = sorted((raw.low, raw.high) if record.higher_is_better else (-raw.low, -raw.high))
    signed = raw.change if record.higher_is_better else -raw.change
    beyond_loss = 1.0 + high < (1.0 - policy.tolerance) * (1.0 - bound)
    beyond_gain = bound < 1.0 and 1.0 + low > (1.0 + policy.tolerance) / (1.0 - bound)
    if now and not then:
        if status in (Status.PASS, Status.IMPROVEMENT) and signed >= -policy.tolerance:
            return status
        return Status.REGRESSION if beyond_loss else Status.INCONCLUSIVE
    if then and not now and status is Status.REGRESSION:
        return status
    if status is Status.PASS and _same_run(record, baseline):
        return status
    if beyond_loss:
        return Status.REGRESSION
    return Status.IMPROVEMENT if beyond_gain else Status.INCONCLUSIVE


def _per_reference(samples: list[float], reference: Mapping[str, Any] | None
                   ) -> list[float] | None:
    """``samples`` divided by the same-run reference's rate of their round (None: no usable
    reference, one rate per sample)."""
    rates = list((reference or {}).get("samples") or [])
    if not samples or len(rates) != len(samples) or not all(r > 0 for r in rates):
        return None
    return [s / r for s, r in zip(samples, rates, strict=True)]


def _reference_basis(record: MetricRecord, baseline: BaselineRecord
                     ) -> tuple[list[float], list[list[float]], str] | str | None:
    """What to judge relative to the same-run reference: (this run, the baseline runs, a note),
    or a note why the raw throughput is judged although this run has a reference or ``auto``
    left it out (None: no reference in this run, and nothing to say)."""
    if not record.reference:
        return str(record.extra.get(REFERENCE_NOTE_KEY) or "") or None
    current = _per_reference(record.samples, record.reference)
    ident = str(record.reference.get("id", ""))
    old_ids = {str((r.reference or {}).get("id", "")) for r in baseline.runs}
    if current is None:
        return "judged on raw throughput: this run's reference rates do not pair with its trials"
    if old_ids != {ident}:
        why = ("the baseline was recorded without one" if old_ids == {""} else
               f"the reference changed ({', '.join(sorted(i or 'none' for i in old_ids))} -> "
               f"{ident})")
        return (f"judged on raw throughput, not relative to the same-run reference: {why}; "
                f"record the baseline again with --cpuperf-update, with the reference on as in "
                f"this run")
    runs = [_per_reference(r.samples, r.reference) for r in baseline.runs]
    if any(run is None for run in runs):
        return "judged on raw throughput: a baseline run's reference rates do not pair with it"
    return current, [run for run in runs if run is not None], ident


def _reference_note(record: MetricRecord, baseline: BaselineRecord, ident: str,
                    noise_floor: float, confidence: float) -> str:
    """How the raw throughput and the reference moved, for the message."""
    raw = throughput_change(record.samples, [r.samples for r in baseline.runs], noise_floor,
                            confidence=confidence)
    ref = throughput_change(list((record.reference or {}).get("samples") or []),
                            [list((r.reference or {}).get("samples") or [])
                             for r in baseline.runs], noise_floor, confidence=confidence)
    return (f"; judged relative to the same-run reference ({ident}): raw change "
            f"{raw.change:+.1%}, reference {ref.change:+.1%}")


DECIDE_STORED = ("To decide it, measure base and head side by side with `cpuperf ab`, or record "
                 "more baseline runs (--cpuperf-update again, so the verdict learns the "
                 "run-to-run noise); more --cpuperf-trials or --cpuperf-trial-time narrow only "
                 "this run's part of the interval")
"""What would decide an inconclusive stored-baseline verdict (said in its message)."""


def _undecided(change: Change, policy: Policy, higher_is_better: bool, name: str) -> str:
    """The head of an inconclusive message: a change beyond tolerance the noise cannot
    confirm, or one within tolerance whose interval reaches beyond it."""
    signed = change.change if higher_is_better else -change.change
    if signed < -policy.tolerance:
        return f"{name} may have regressed, but the noise is too large to tell"
    if signed > policy.tolerance:
        return f"{name} may have improved, but its interval is too wide to pass"
    return f"{name} is within tolerance, but its interval is too wide to pass"


def _relative(record: MetricRecord, baseline: BaselineRecord, policy: Policy,
              name: str) -> MetricResult:
    confidence = 1.0 - 2 * policy.alpha
    basis = _reference_basis(record, baseline)
    current, runs = record.corrected, [r.corrected for r in baseline.runs]
    reference_note = ""
    if isinstance(basis, tuple):
        current, runs, ident = basis
        reference_note = _reference_note(record, baseline, ident, policy.noise_floor,
                                         confidence)
    elif isinstance(basis, str):
        reference_note = f"; {basis}"
    change = throughput_change(current, runs, policy.noise_floor, confidence=confidence)
    status = relative_verdict(change, policy.tolerance, policy.alpha, record.higher_is_better)
    busy_note = _busy_note(record, baseline, policy)
    correction_note = "" if isinstance(basis, tuple) else _correction_note(record, baseline)
    basis_name = "reference" if isinstance(basis, tuple) else \
        "corrected" if correction_note else "raw"
    raw_note = ""
    if busy_note:
        # Raw throughput even where a reference exists: contention only ever lowers the raw
        # rate, which is what lets a contended pass stand; a rate relative to a reference that
        # was contended too can move either way (a slower model can read as a pass relative
        # to its reference with one core hogged).
        # The raw change decides, so it is the change shown (message, reports, JSON).
        raw = throughput_change(record.samples, [r.samples for r in baseline.runs],
                                policy.noise_floor, confidence=confidence)
        status = _contended_status(record, baseline, policy, raw)
        unused = ("relative to the same-run reference" if isinstance(basis, tuple) else
                  "corrected for contention" if correction_note else "")
        raw_note = (f"; judged on the raw change, without the contention correction"
                    f"{' or the reference' if isinstance(basis, tuple) else ''}, as contention "
                    f"can cost {record.extra.get('backend') or 'this backend'} up to "
                    f"{loss_bound(record.extra.get('backend')):.0%}"
                    + (f" ({unused} it read {change.change:+.1%}, not used)" if unused else ""))
        # why no reference was used (auto) still holds; a reference's figures do not
        reference_note = f"; {basis}" if isinstance(basis, str) else ""
        change, correction_note = raw, ""
        basis_name = "raw"
        if status is not Status.INCONCLUSIVE:
            busy_note = None
    ci_level = round(confidence * 100)
    figures = (f"{_fmt(record.value, record.unit)} vs {_baseline_note(baseline)}: "
               f"{change.change:+.1%} ({ci_level}% CI {change.low:+.1%} to {change.high:+.1%}, "
               f"p={change.p_value:.3g}), tolerance {policy.tolerance:.1%}"
               f"{correction_note}{reference_note}{raw_note}{_version_note(record, baseline)}")
    seen = rules_out_phrase(ruled_out(change.low, change.high, record.higher_is_better),
                            policy.tolerance, confidence)
    message = {
        Status.REGRESSION: f"{name} regressed: {figures}",
        Status.INCONCLUSIVE: f"{name} changed, but {busy_note}: {figures}; {seen}. Re-run on a "
                             f"quiet machine" if busy_note else
                             f"{_undecided(change, policy, record.higher_is_better, name)}: "
                             f"it {seen}: {figures}. {DECIDE_STORED}",
        Status.IMPROVEMENT: f"{name} improved: {figures}; run with --cpuperf-update to keep it",
    }.get(status, f"{name}: {figures}; {seen}")
    return MetricResult(record, status, message=message, baseline=baseline, change=change.change,
                        ci=(change.low, change.high), p_value=change.p_value,
                        tolerance=policy.tolerance, noise=change.noise, basis=basis_name)


def _absolute(record: MetricRecord, baseline: BaselineRecord, policy: Policy,
              name: str) -> MetricResult:
    status, delta = absolute_verdict(record.value, baseline.value, policy.accuracy_tolerance,
                                     record.higher_is_better)
    figures = (f"{_fmt(record.value, record.unit)} vs {_baseline_note(baseline)}: "
               f"{delta:+.4f} ({delta * 100:+.2f} points), tolerance "
               f"{policy.accuracy_tolerance:.4f}{_version_note(record, baseline)}")
    message = {
        Status.REGRESSION: f"{name} dropped: {figures}",
        Status.IMPROVEMENT: f"{name} improved: {figures}; run with --cpuperf-update to keep it",
    }.get(status, f"{name}: {figures}")
    return MetricResult(record, status, message=message, baseline=baseline, change=delta,
                        ci=(delta, delta), tolerance=policy.accuracy_tolerance)
