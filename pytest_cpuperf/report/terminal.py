"""Plain-text summary of the results, for the pytest terminal and ``cpuperf compare``.

The cell formatters here are shared by the Markdown and HTML reports, so all formats show the
same figures in the same order: the verdict first, rows most severe first (conventions.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..judge.percentiles import cell_note
from ..records.profile import EXPLAINED, NO_PROFILE
from ..records.results import MetricResult, RunReport, format_value
from ..status import Status
from .conventions import (
    GATE_FAILED,
    SAME_MOMENT_LABEL,
    SEVERITY,
    against_text,
    basis_label,
    by_severity,
    ci_label,
    confidence,
    failed_without_metrics,
    fails,
    group,
    raw_change,
    result_level,
    rules_out_cell,
    short_ids,
    test_failure,
    worse_ungated,
)
from .framing import GATE, Framing, framing
from .text import visible

MAX_TEST_WIDTH = 48
NOTEWORTHY = (Status.INVALID, Status.KERNELS_CHANGED, Status.KERNEL_RULE, Status.REGRESSION,
              Status.BELOW_FLOOR, Status.ABOVE_CEILING, Status.INCONCLUSIVE, Status.IMPROVEMENT,
              Status.OTHER_MACHINE)
"""Statuses whose message is worth printing after the table."""


def headers(level: float | None = None,
            columns: tuple[str, str] = GATE.columns) -> tuple[str, ...]:
    """Column names of :func:`cells`; the CI column says its level (``90% CI``), the value
    columns are ``columns`` (``baseline``/``current``, or ``base``/``head`` in an A/B run)."""
    return ("test", "metric", *columns, "change", ci_label(level or confidence()), "verdict")


def verdict_first(row: Sequence[str]) -> tuple[str, ...]:
    """A row of :func:`cells` (or :func:`headers`) reordered for a narrow page: verdict, test,
    metric, change, CI, baseline, current."""
    test, metric, baseline, current, change, ci, verdict = row
    return (verdict, test, metric, change, ci, baseline, current)


HEADERS = headers()


def shorten(text: str, width: int = MAX_TEST_WIDTH) -> str:
    """``text`` in at most ``width`` characters: drop the directories, then keep the end."""
    if len(text) <= width:
        return text
    path, sep, rest = text.partition("::")
    if sep and "/" in path:
        text = f"{path.rsplit('/', 1)[1]}::{rest}"
        if len(text) <= width:
            return text
    return "..." + text[-(width - 3):]


def format_change(result: MetricResult, value: float) -> str:
    """A change: ``+x.x%`` for relative metrics, ``+x.xxxx`` for absolute ones."""
    return f"{value:+.1%}" if result.relative else f"{value:+.4f}"


def change_label(result: MetricResult) -> str:
    """The verdict's change and what it is relative to: ``+3.2% vs reference``, ``-6.0%
    corrected`` (for contention), ``+1.0%`` (the raw figures); ``-`` when there is none."""
    if result.change is None:
        return "-"
    label = basis_label(result)
    return format_change(result, result.change) + (f" {label}" if label else "")


def change_cell(result: MetricResult) -> str:
    """:func:`change_label`, with the raw change beside a change of another basis:
    ``+3.2% vs reference (raw +8.6%)``, so it never reads as the change of the raw columns."""
    text = change_label(result)
    raw = raw_change(result) if basis_label(result) else None
    return text if raw is None else f"{text} (raw {format_change(result, raw)})"


def verdict(result: MetricResult) -> str:
    """The status, with what its interval could see (``pass, rules out >1.8%``,
    ``inconclusive, up to 31%``) and ``test failed`` when the test failed its own assertion."""
    worse = ", worse (not gated)" if worse_ungated(result) else ""
    seen = rules_out_cell(result)
    return (result.status.value + (f", {seen}" if seen else "") + worse
            + (" + test failed" if test_failure(result) else ""))


def cells(result: MetricResult,
          level: float | None = None) -> tuple[str, str, str, str, str, str, str]:
    """The table cells of one result, in :data:`HEADERS` order (the test id in full); a CI of
    another level than the column's (``level``) says its own."""
    record = result.record
    baseline = format_value(result.baseline.value, result.baseline.unit) if result.baseline \
        else "-"
    change = change_cell(result)
    ci = "-"
    if result.ci is not None:
        low, high = (format_change(result, c) for c in result.ci)
        ci = "exact" if low == high else f"[{low}, {high}]"
        own = result_level(result)
        if own is not None and ci != "exact" and round(own, 4) != round(level or own, 4):
            ci += f" ({own:.0%})"
    current = format_value(record.value, record.unit) + cell_note(record)
    return (record.test_id, record.metric, baseline, current, change, ci, verdict(result))


def count_line(results: Sequence[MetricResult], failed_tests: int = 0) -> str:
    """``cpuperf: 1 regression, 4 pass``: counts per status, most severe first;
    ``failed_tests`` counts the tests that failed without recording a metric."""

    counts = {status: sum(r.status is status for r in results) for status in SEVERITY}
    parts = [f"{n} {status.value}" for status, n in counts.items() if n]
    failed = sum(bool(test_failure(r)) for r in results)
    if failed:
        parts.insert(0, f"{failed} with a failed test")
    if failed_tests:
        parts.insert(0, f"{failed_tests} failed test{'s' * (failed_tests > 1)} without metrics")
    return "cpuperf: " + (", ".join(parts) if parts else "no metrics recorded")


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {2, 3, 4}  # numeric columns

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    return [line(rows[0]), "  ".join("-" * w for w in widths), *(line(r) for r in rows[1:])]


def summary_lines(results: Sequence[MetricResult], level: float | None = None,
                  failed_tests: Mapping[str, str] | None = None,
                  frame: Framing = GATE) -> list[str]:
    """Counts first, the table most severe first, then the messages worth reading.

    ``failed_tests`` (id -> why) are tests that failed without recording a metric; ``frame``
    names the value columns and adds what an A/B run compared."""
    failed_tests = failed_tests or {}
    failures = [f"TEST FAILED: {test}: {why}" for test, why in failed_tests.items()]
    if not results:
        return [visible(line) for line in
                (*frame.preamble, count_line(results, len(failed_tests)), *failures)]
    ordered = by_severity(results)
    short = short_ids([r.test_id for r in ordered])
    rows = [headers(level, frame.columns), *((shorten(short[c[0]]), *c[1:])
                              for c in (cells(r, level or confidence()) for r in ordered))]
    rows = [tuple(visible(cell, newlines=False) for cell in row) for row in rows]
    lines = [*frame.preamble, count_line(ordered, len(failed_tests)), *_table(rows),
             *_basis_notes(ordered, frame)]
    for result in ordered:  # the failed gates' messages, then the failed tests, then the rest
        if failures and group(result) != GATE_FAILED:
            lines, failures = [*lines, *failures], []
        lines += _messages(result)
    lines += failures
    if failed_tests or any(fails(r) for r in ordered):
        lines.append(count_line(ordered, len(failed_tests)))
    return [visible(line) for line in lines]


def _basis_notes(results: Sequence[MetricResult], frame: Framing) -> list[str]:
    """What a change that is not of the raw figures is relative to (the columns are raw)."""
    columns = " and ".join(frame.columns)
    notes = []
    corrected = [r for r in results if basis_label(r) == "corrected"]
    if corrected:
        notes.append(f"note: {len(corrected)} change(s) corrected for CPU time other processes "
                     f"took during a run (their CI too); {columns} columns show raw values")
    referenced = [r for r in results if basis_label(r) == "vs reference"]
    if referenced:
        notes.append(f"note: {len(referenced)} change(s) relative to the same-run reference "
                     f"('vs reference', their CI too), the raw change beside; {columns} columns "
                     f"show raw values")
    if any(basis_label(r) == SAME_MOMENT_LABEL for r in results):
        notes.append(f"note: a 'same-moment' change is the ratio of the model to its baseline's "
                     f"artifact measured side by side in this run (its CI too), the raw change "
                     f"beside; {columns} columns show raw values")
    short = short_ids([r.test_id for r in results])
    notes += [f"note: {short[r.test_id]} {r.metric}: {against_text(r, note=False)}"
              for r in results if basis_label(r) == SAME_MOMENT_LABEL]
    return notes


def _messages(result: MetricResult) -> list[str]:
    """The lines worth reading after the table about one result."""
    lines = []
    failure = test_failure(result)
    if failure:
        lines.append(f"TEST FAILED: {result.test_id}: {failure}")
    if result.status in NOTEWORTHY:
        lines.append(f"{result.status.value.upper()}: {result.message}")
    elif result.status is Status.NO_BASELINE and result.baseline is not None:
        lines.append(f"NO BASELINE: {result.message}")  # a part of it: kernels=
    elif EXPLAINED in result.message or NO_PROFILE in result.message:  # --cpuperf-profile
        lines.append(f"PROFILE: {result.message}")
    return lines


def inconclusive_line(run: RunReport) -> str | None:
    """``cpuperf: inconclusive: 3 (warn; --cpuperf-inconclusive=fail to fail them)``: how many
    verdicts were inconclusive and what that did (None: none, or the run does not say)."""
    count = sum(r.status is Status.INCONCLUSIVE for r in run.results)
    if not count or run.inconclusive is None:
        return None
    what = ("fail: they failed their tests; --cpuperf-inconclusive=warn to only warn"
            if run.inconclusive == "fail" else
            "warn; --cpuperf-inconclusive=fail to fail them")
    return f"cpuperf: inconclusive: {count} ({what})"


def run_summary_lines(run: RunReport) -> list[str]:
    """:func:`summary_lines` of a whole run: its CI level and the tests that failed without
    recording a metric and the stored metrics it did not produce (what the plugin and
    ``cpuperf compare`` print), and what its inconclusive verdicts did."""
    inconclusive = inconclusive_line(run)
    return [*summary_lines(run.results, confidence(run), failed_without_metrics(run),
                           framing(run)),
            *(f"cpuperf: not measured: {item['test_id']} {item['metric']} is in the baseline "
              f"file, but {item['why']}" for item in run.unmeasured),
            *([inconclusive] if inconclusive else [])]


def summary_text(run: RunReport) -> str:
    """:func:`run_summary_lines` as text, one line each (the :data:`~.TERMINAL` renderer)."""
    return "\n".join(run_summary_lines(run)) + "\n"
