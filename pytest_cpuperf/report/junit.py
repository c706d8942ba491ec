"""JUnit XML properties of one metric: value, unit, baseline, change and its CI, verdict.

The plugin appends these to ``item.user_properties``; CI systems show them beside the test.
"""

from __future__ import annotations

from ..judge.results import MetricResult
from .layout import ci_label, confidence, test_failure
from .terminal import format_change


def junit_properties(result: MetricResult,
                     level: float | None = None) -> list[tuple[str, str]]:
    """``cpuperf:<metric>:<field>`` name/value pairs (``cpuperf:<metric>`` is the value)."""
    name = f"cpuperf:{result.metric}"
    props = [(name, f"{result.record.value:.6g}"), (f"{name}:unit", result.record.unit),
             (f"{name}:verdict", result.status.value)]
    if result.baseline is not None:
        props.append((f"{name}:baseline", f"{result.baseline.value:.6g}"))
    if result.change is not None:
        props.append((f"{name}:change", format_change(result, result.change)))
    if result.ci is not None:
        low, high = (format_change(result, c) for c in result.ci)
        label = ci_label(level or confidence()).replace(" ", "_")
        props.append((f"{name}:{label}", f"[{low}, {high}]"))
    if test_failure(result):
        props.append((f"{name}:test_failed", "true"))
    return props
