"""What every report shows the same way: severity order, short test ids, the CI level,
and what a change figure is.

Terminal, Markdown and HTML all put the verdict where the eye lands: the failed gates first
(regressions...), then the tests that failed, then what needs a look (other machine,
inconclusive), then improvements, and the unchanged rows last.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Sequence

from ..knobs import BY_NAME
from ..records.artifact import SAME_MOMENT, short
from ..records.results import INFO_KINDS, SAMPLED_KINDS, MetricResult, RunReport
from ..status import Status

SEVERITY: tuple[Status, ...] = (
    Status.INVALID, Status.KERNELS_CHANGED, Status.KERNEL_RULE, Status.REGRESSION,
    Status.BELOW_FLOOR, Status.ABOVE_CEILING,
    Status.OTHER_MACHINE, Status.INCONCLUSIVE, Status.IMPROVEMENT, Status.NO_BASELINE,
    Status.PASS,
)
"""Most severe first; every :class:`Status` appears once."""
QUIET = (Status.PASS, Status.NO_BASELINE)
"""Statuses whose rows are collapsed (nothing to act on)."""


def test_failure(result: MetricResult) -> str | None:
    """The test's own failure (its assertion), when the plugin recorded one."""
    text = result.test_failure.strip() if result.test_failure else ""
    return text or None


def worse_ungated(result: MetricResult) -> bool:
    """An ungated figure (latency...) that passed but moved the wrong way by more than the
    tolerance: never drawn or listed as if nothing happened."""
    if result.record.kind not in INFO_KINDS or result.status is not Status.PASS \
            or result.change is None:
        return False
    if abs(result.change) <= (result.tolerance or default_tolerance()):
        return False
    return (result.change < 0) == result.record.higher_is_better


GATE_FAILED, TEST_FAILED, OTHERS = 0, 1, 2
"""The groups every report lists in this order: failed gates (a regression, a floor...), then
tests that failed their own assertion (with or without metrics), then the rest."""


def group(result: MetricResult) -> int:
    """:data:`GATE_FAILED`, :data:`TEST_FAILED` or :data:`OTHERS`."""
    if result.status.fails:
        return GATE_FAILED
    return TEST_FAILED if test_failure(result) else OTHERS


def severity(result: MetricResult) -> tuple[int, int]:
    """Rank of ``result`` (lowest first): its :func:`group`, then its status in
    :data:`SEVERITY`; an ungated figure that got worse ranks with the inconclusive ones."""
    status = Status.INCONCLUSIVE if worse_ungated(result) else result.status
    return group(result), SEVERITY.index(status)


def by_severity(results: Sequence[MetricResult]) -> list[MetricResult]:
    """``results`` most severe first, then by test id and metric."""
    return sorted(results, key=lambda r: (severity(r), r.test_id, r.metric))


def failed_rank(test_id: str) -> tuple[tuple[int, int], str, str]:
    """Where a test that failed without recording a metric sorts among :func:`by_severity`'s
    rows: first of the failed tests."""
    return (TEST_FAILED, -1), test_id, ""


def needs_attention(result: MetricResult) -> bool:
    """Whether the row is worth a look (shown expanded, with its message)."""
    return bool(test_failure(result)) or result.status not in QUIET or worse_ungated(result)


def fails(result: MetricResult) -> bool:
    return bool(test_failure(result)) or result.status.fails


def short_ids(test_ids: Sequence[str]) -> dict[str, str]:
    """Each test id without the directories every id shares (the module name stays, so the
    id still finds the test): ``tests/perf/test_bert.py::test_dense`` -> ``test_bert.py::
    test_dense``; ids in different directories keep the part of the path that differs."""
    unique = sorted(set(test_ids))
    dirs = {posixpath.dirname(test_id.partition("::")[0]) for test_id in unique}
    common = posixpath.commonpath(sorted(dirs)) if dirs and all(dirs) else ""
    cut = len(common) + 1 if common else 0
    return {t: t[cut:] for t in unique}


def rules_out_cell(result: MetricResult) -> str | None:
    """What the verdict's interval could see, for a table cell: ``rules out >1.8%``, ``rules
    out any loss``, ``up to 31%`` (a regression it could not rule out); None: no such figure
    (:meth:`MetricResult.rules_out_phrase`)."""
    if result.rules_out_phrase() is None or result.rules_out is None:
        return None
    if result.tolerance is not None and result.rules_out > result.tolerance:
        return f"up to {result.rules_out:.1%}"
    if result.rules_out <= 0.0:
        return "rules out any loss"
    return f"rules out >{result.rules_out:.1%}"


def result_level(result: MetricResult) -> float | None:
    """The level of this result's change interval, when the verdict recorded it."""
    return None if result.ci_level is None else float(result.ci_level)


def confidence(run: RunReport | None = None) -> float:
    """The level of the verdict's two-sided change interval (``1 - 2 * alpha``): the one most
    results of ``run`` recorded, else that of the default alpha."""
    level = getattr(run, "confidence", None)
    if isinstance(level, (int, float)):
        return float(level)
    levels = [lv for r in (run.results if run else []) if (lv := result_level(r)) is not None]
    if levels:
        return max(set(levels), key=levels.count)
    return 1.0 - 2 * float(BY_NAME["alpha"].default)


def failed_without_metrics(run: RunReport) -> dict[str, str]:
    """Tests that failed before recording a metric (id -> why): no row shows them."""
    failed = run.failed_tests
    shown = {r.test_id for r in run.results}
    return {test: str(why) for test, why in sorted(failed.items()) if test not in shown}


def default_tolerance() -> float:
    """The default allowed relative change (``--cpuperf-tolerance``)."""
    return float(BY_NAME["tolerance"].default)


def ci_label(level: float) -> str:
    """``90% CI``: the name every report gives the change interval."""
    return f"{level * 100:.0f}% CI"


BASIS_LABELS = {"reference": "vs reference", "corrected": "corrected"}
"""What a change computed on another basis than the raw figures says after its figure."""
SAME_MOMENT_LABEL = "same-moment"
"""What a change of the ratio candidate/baseline measured side by side in the run says."""


def _log_mean(samples: Sequence[float]) -> float | None:
    positive = [math.log(s) for s in samples if s > 0 and math.isfinite(s)]
    return sum(positive) / len(positive) if positive else None


def raw_change(result: MetricResult) -> float | None:
    """The change of the raw figures (what the baseline and current columns show), estimated
    as the verdict estimates its own (log-mean of the trials against the mean of the baseline
    runs'); the figures' ratio where there are no trials. None: no change against a
    baseline's figure (accuracy's is absolute, a same-run ratio's is not against the baseline)."""
    baseline = result.baseline
    kinds = (*SAMPLED_KINDS, *INFO_KINDS)
    if result.change is None or result.record.kind not in kinds or baseline is None:
        return None
    current = _log_mean(result.record.samples)
    runs = [_log_mean(run.samples) for run in baseline.runs]
    if current is not None and runs and all(r is not None for r in runs):
        return math.expm1(current - sum(r for r in runs if r is not None) / len(runs))
    if baseline.value > 0 and math.isfinite(result.record.value):
        return result.record.value / baseline.value - 1.0
    return None


def basis_label(result: MetricResult) -> str:
    """``vs reference`` or ``corrected`` when the change is not of the raw figures, else ``""``
    (a result without a ``basis``, written before it was kept, is corrected when its
    contention factors say so)."""
    if result.change is None:
        return ""
    if result.against == SAME_MOMENT:
        return SAME_MOMENT_LABEL
    basis = result.basis or ("corrected" if result.corrected else "")
    return BASIS_LABELS.get(basis, "")


def against_text(result: MetricResult, note: bool = True) -> str:
    """What a throughput verdict was held against, with the short artifact hashes:
    ``same-moment: artifact 9aac58 vs baseline artifact 51dfbe``, ``stored figure: artifact
    51dfbe (baseline 51dfbe)``, plus why no same-moment measurement ran; ``""`` for other
    metrics and for results written before it was kept."""
    if result.against is None:
        return ""
    hashes = result.artifacts or {}
    candidate, baseline = hashes.get("candidate"), hashes.get("baseline")
    if result.against == SAME_MOMENT:
        text = (f"same-moment: artifact {short(candidate or '')} vs baseline artifact "
                f"{short(baseline or '')}, measured side by side in this run")
    else:
        known = [f"{side} artifact {short(h)}" for side, h in
                 (("candidate", candidate), ("baseline", baseline)) if h]
        text = "stored figure" + (f" ({', '.join(known)})" if known else "")
    return text + (f"; {result.against_note}" if note and result.against_note else "")
