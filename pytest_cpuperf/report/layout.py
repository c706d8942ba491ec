"""What every report shows first, in one place: severity order, short test ids, the CI level.

Terminal, Markdown and HTML all put the verdict where the eye lands: the failures first, then
what needs a look (other machine, inconclusive), then improvements, and the unchanged rows last.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from ..judge.results import INFO_KINDS, MetricResult, RunReport
from ..knobs import BY_NAME
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


def severity(result: MetricResult) -> int:
    """Rank of ``result``: 0 is the most severe (a test that failed its own assertion); an
    ungated figure that got worse ranks with the inconclusive ones."""
    if test_failure(result):
        return 0
    status = Status.INCONCLUSIVE if worse_ungated(result) else result.status
    return 1 + SEVERITY.index(status)


def by_severity(results: Sequence[MetricResult]) -> list[MetricResult]:
    """``results`` most severe first, then by test id and metric."""
    return sorted(results, key=lambda r: (severity(r), r.test_id, r.metric))


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
