"""GitHub-flavoured Markdown report, for a PR comment or ``$GITHUB_STEP_SUMMARY``.

The verdict comes first and fits a narrow comment: the rows to act on (failed gates, then
failed tests, then the rest), the unchanged rows collapsed in ``<details>``, then each message
with the full test id. Text a test or user controls is escaped (text.py): nothing of it renders
as Markdown, HTML, a link or a mention. The report fits a GitHub comment
(:data:`COMMENT_LIMIT`); a longer one leaves out its least important rows and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records.results import MetricResult, RunReport
from ..status import Status
from .changes import Change, changes
from .conventions import (
    QUIET,
    against_text,
    basis_label,
    by_severity,
    confidence,
    failed_rank,
    failed_without_metrics,
    fails,
    needs_attention,
    severity,
    short_ids,
    test_failure,
    worse_ungated,
)
from .framing import framing
from .terminal import NOTEWORTHY, cells, count_line, headers, verdict_first
from .text import clip, code_span, markdown_code, markdown_text

__all__ = ["COMMENT_LIMIT", "MARKER", "code_span", "headline", "to_markdown"]

COMMENT_LIMIT = 65_000
"""Most characters the report takes: GitHub takes 65,536 in a comment; the rest is room for
the lines a workflow adds (its marker, a link to the run's artifacts)."""
CELL_LIMIT, ID_LIMIT, LINE_LIMIT, MESSAGE_LIMIT = 200, 300, 1000, 2000
"""Most characters of user text shown in a table cell, a test id, a line, a message."""
MAX_LINES = 20
"""Most errors (and lines of an A/B run's preamble) shown: the head stays well in the limit."""

ICONS = {
    "pass": ":white_check_mark:", "improvement": ":rocket:", "regression": ":x:",
    "below floor": ":x:", "above ceiling": ":x:", "invalid": ":x:", "inconclusive": ":warning:",
    "kernels changed": ":x:", "kernel rule": ":x:",
}
MARKER = "<!-- pytest-cpuperf report -->"
"""Last line of the report (invisible when rendered): a CI step finds its earlier pull request
comment by it and updates that one (a sticky comment)."""


def icon(status: Status | None) -> str:
    """The icon of a status (``None``: the run had an error)."""
    if status is None:
        return ":x:"
    return ICONS.get(status.value, ":x:" if status.fails else ":grey_question:")


def headline(results: Sequence[MetricResult], errors: Sequence[str] = (),
             failed_tests: int = 0) -> tuple[Status | None, str]:
    """The overall verdict: the status that sets the tone (``None``: an error) and a phrase;
    ``failed_tests`` counts tests that failed without recording a metric."""
    if errors:
        status, text = headline(results, failed_tests=failed_tests)
        counted = f"{len(errors)} error{'s' if len(errors) > 1 else ''}"
        return None, counted + ("" if status is not None and not status.fails else f", {text}")
    failing = [r for r in results if r.status.fails]
    failed_tests += sum(bool(test_failure(r)) for r in results)
    inconclusive = sum(r.status is Status.INCONCLUSIVE for r in results)
    if failing:
        kinds: dict[Status, int] = {}
        for r in failing:
            kinds[r.status] = kinds.get(r.status, 0) + 1
        worst = max(kinds, key=lambda s: kinds[s])
        text = ", ".join(f"{kinds[s]} {_plural(s, kinds[s])}" for s in Status if s in kinds)
        plural = "s" * (failed_tests > 1)
        return worst, text + (f", {failed_tests} failed test{plural}" if failed_tests else "")
    if failed_tests:
        return Status.REGRESSION, f"{failed_tests} failed test{'s' * (failed_tests > 1)}"
    if inconclusive:
        return Status.INCONCLUSIVE, f"no regression, {inconclusive} inconclusive"
    ungated = sum(r.status in (Status.NO_BASELINE, Status.OTHER_MACHINE) for r in results)
    if results and ungated == len(results):  # a silent pass is the likeliest mistake here
        return Status.NO_BASELINE, (f"nothing gated: no baseline of this machine for any of "
                                    f"the {ungated} metrics")
    return Status.PASS, "no regression" + (f", {ungated} without a baseline" if ungated else "")


def _plural(status: Status, n: int) -> str:
    return status.value + ("s" if n > 1 and status is Status.REGRESSION else "")


def machine_line(machine: Mapping[str, Any]) -> str:
    """``cpu, N usable cores, ISA class x, baseline key k``."""
    parts = [str(machine.get("cpu") or "unknown CPU")]
    if machine.get("cores"):
        parts.append(f"{machine['cores']} usable cores")
    if machine.get("isa_class"):
        parts.append(f"ISA class {machine['isa_class']}")
    if machine.get("key"):
        parts.append(f"baseline key {machine['key']}")
    return ", ".join(parts)


def versions_line(versions: Mapping[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "not recorded"


def _cell(text: object, limit: int = CELL_LIMIT) -> str:
    return markdown_text(text, limit)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(rows: Sequence[str], level: float, columns: tuple[str, str]) -> list[str]:
    return [_row(verdict_first(headers(level, columns))),
            "|" + "|".join(["---", "---", "---", "--:", "--:", "--:", "--:"]) + "|", *rows]


def _result_row(result: MetricResult, short: Mapping[str, str], level: float) -> str:
    verdict, test, *rest = verdict_first(cells(result, level))
    icon_ = ":x:" if test_failure(result) else (
        ":warning:" if worse_ungated(result) else icon(result.status))
    return _row([f"{icon_} {_cell(verdict)}", markdown_code(short[test], ID_LIMIT),
                 *map(_cell, rest)])


def _detail(result: MetricResult) -> list[str]:
    """The message of one row, with the full test id, its test failure and what changed."""
    lines = [f"- {icon(result.status)} **{result.status.value}** "
             f"{markdown_code(result.test_id, ID_LIMIT)} {_cell(result.metric)}: "
             f"{_cell(result.message, MESSAGE_LIMIT)}"]
    failure = test_failure(result)
    if failure:
        lines.append(f"  - :x: **test failed:** {_first_line(failure)}")
    against = against_text(result, note=False)
    if against:
        lines.append(f"  - basis: {_cell(against, MESSAGE_LIMIT)}")
    found = _news(result)
    if found:
        lines.append("  - changed since the baseline: " + _cell(
            "; ".join(f"{c.area}: {c.text()}" for c in found), MESSAGE_LIMIT))
    return lines


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return _cell(lines[0] if lines else "failed", MESSAGE_LIMIT)


def _news(result: MetricResult) -> list[Change]:
    """What changed since the baseline that the message does not already say."""
    said = "versions changed" in result.message
    return [c for c in changes(result) if not (said and c.area == "versions")]


@dataclass(frozen=True)
class _Item:
    """One row of a table and the lines about it in the details."""

    row: str
    details: tuple[str, ...]
    loud: bool
    """Shown among the rows to act on (else among the unchanged rows, collapsed)."""
    status: Status | None = None
    """The verdict of the row (None: a test that failed without a metric)."""


def _items(results: Sequence[MetricResult], failed: Mapping[str, str],
           short: Mapping[str, str], level: float) -> list[_Item]:
    """Every row in report order: the failed gates, the failed tests (with or without
    metrics), the rest to look at; then the unchanged rows."""
    keyed = [((severity(r), r.test_id, r.metric), _Item(
        _result_row(r, short, level), tuple(_detail(r)) if _has_detail(r) else (),
        needs_attention(r), r.status)) for r in results]
    keyed += [(failed_rank(test), _Item(
        _row([":x: test failed", markdown_code(short[test], ID_LIMIT), *["-"] * 5]),
        (f"- :x: **test failed:** {markdown_code(test, ID_LIMIT)}: {_first_line(why)}",),
        True)) for test, why in failed.items()]
    ordered = [item for _, item in sorted(keyed, key=lambda pair: pair[0])]
    return [i for i in ordered if i.loud] + [i for i in ordered if not i.loud]


def _has_detail(result: MetricResult) -> bool:
    return result.status in NOTEWORTHY or fails(result) or bool(_news(result))


def _head(run: RunReport, status: Status | None, text: str, results: Sequence[MetricResult],
          failed: int) -> list[str]:
    """The verdict, what was compared, the errors and the counts: bounded, whatever the run."""
    frame = framing(run)
    preamble = [f"**{_cell(label)}:**{_cell(rest, LINE_LIMIT)}  " for label, _, rest in
                (line.partition(":") for line in frame.preamble[:MAX_LINES])]
    if len(frame.preamble) > MAX_LINES:
        preamble.append(f"and {len(frame.preamble) - MAX_LINES} more lines (left out here)  ")
    errors = [f"**Error:** {_cell(error, LINE_LIMIT)}  " for error in run.errors[:MAX_LINES]]
    if len(run.errors) > MAX_LINES:
        errors.append(f"**Error:** and {len(run.errors) - MAX_LINES} more errors left out here "
                      f"(the JSON report has them all)  ")
    return [f"## {icon(status)} {frame.title}: {text}", "", *preamble, *errors,
            *_unmeasured_lines(run),
            f"**Counts:** {count_line(results, failed).removeprefix('cpuperf: ')}", ""]


def _unmeasured_lines(run: RunReport) -> list[str]:
    """Stored metrics the run did not produce and cpuperf tests that recorded nothing:
    bounded, whatever the run."""
    lines = [f"**Not measured:** {_cell(item['test_id'])} {_cell(item['metric'])} is in the "
             f"baseline file, but {_cell(item['why'])}  " for item in run.unmeasured[:MAX_LINES]]
    if len(run.unmeasured) > MAX_LINES:
        lines.append(f"**Not measured:** and {len(run.unmeasured) - MAX_LINES} more (the JSON "
                     f"report has them all)  ")
    lines += [f"**Recorded nothing:** {_cell(test_id)} is a cpuperf test that recorded no "
              f"metric  " for test_id in run.empty_tests[:MAX_LINES]]
    if len(run.empty_tests) > MAX_LINES:
        lines.append(f"**Recorded nothing:** and {len(run.empty_tests) - MAX_LINES} more  ")
    return lines


def _foot(run: RunReport, results: Sequence[MetricResult], level: float) -> list[str]:
    referenced = any(basis_label(r) == "vs reference" for r in results)
    return [f"**Machine:** {_cell(machine_line(run.machine), LINE_LIMIT)}  ",
            f"**Versions:** {_cell(versions_line(run.versions), LINE_LIMIT)}  ",
            f"**CI:** the verdict's two-sided {level:.0%} confidence interval of the change"
            f" (corrected for CPU time other processes took, where noted)"
            + ("; a change marked 'vs reference' is relative to the same-run reference, the "
               "raw change beside it; the baseline and current columns are raw"
               if referenced else ""), "", MARKER, ""]


@dataclass(frozen=True)
class _Page:
    """What a report is made of, and how to put it together from a part of its items."""

    head: list[str]
    items: list[_Item]
    foot: list[str]
    level: float
    columns: tuple[str, str]
    full_reports: tuple[str, ...]

    def units(self) -> list[tuple[str, int]]:
        """What may be left out, least important last: the rows to act on, their details,
        the unchanged rows, their details."""
        loud = [i for i, item in enumerate(self.items) if item.loud]
        quiet = [i for i, item in enumerate(self.items) if not item.loud]
        return [*(("row", i) for i in loud),
                *(("detail", i) for i in loud if self.items[i].details),
                *(("row", i) for i in quiet),
                *(("detail", i) for i in quiet if self.items[i].details)]

    def text(self, kept: Sequence[tuple[str, int]]) -> str:
        """The report with the ``kept`` units (a notice says what was left out)."""
        rows = {i for kind, i in kept if kind == "row"}
        details = {i for kind, i in kept if kind == "detail"}
        loud = [item.row for i, item in enumerate(self.items) if item.loud and i in rows]
        quiet = [item for i, item in enumerate(self.items) if not item.loud and i in rows]
        lines = [*self.head, *self._notice(len(rows), len(details))]
        if loud:
            lines += [*_table(loud, self.level, self.columns), ""]
        if quiet:
            names = ", ".join(s.value for s in QUIET if any(i.status is s for i in quiet))
            lines += [f"<details><summary>{len(quiet)} unchanged rows ({names})</summary>", "",
                      *_table([i.row for i in quiet], self.level, self.columns), "",
                      "</details>", ""]
        said = [line for i, item in enumerate(self.items) if i in details
                for line in item.details]
        if said:
            lines += ["<details open><summary>Details</summary>", "", *said, "", "</details>",
                      ""]
        return "\n".join([*lines, *self.foot])

    def _notice(self, rows: int, details: int) -> list[str]:
        all_details = sum(bool(item.details) for item in self.items)
        if rows == len(self.items) and details == all_details:
            return []
        where = ", ".join(self.full_reports) or ("the run's JSON or HTML report "
                                                 "(--cpuperf-report FILE.json or FILE.html)")
        more = f", and the details of {all_details - details}" if details < all_details else ""
        return [f":warning: **Shortened to fit a GitHub comment:** {len(self.items) - rows} of "
                f"{len(self.items)} rows left out{more}; the full report is {_cell(where)} "
                f"(in CI, the job's artifact)", ""]


def comment_size(text: str) -> int:
    """The length GitHub counts: UTF-16 code units (a character beyond the BMP counts two)."""
    return len(text) + sum(ord(c) > 0xFFFF for c in text)


def _fit(page: _Page, limit: int) -> str:
    """The page with as many units as fit in ``limit`` (all when they do)."""
    units = page.units()
    whole = page.text(units)
    if comment_size(whole) <= limit:
        return whole
    low, high = 0, len(units) - 1  # the largest count of units that fits is in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if comment_size(page.text(units[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    text = page.text(units[:low])
    return text if comment_size(text) <= limit else _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    """The first lines of ``text`` that fit, then the marker (a last resort: the head alone
    is bounded well below the limit)."""
    tail = f"\n\n:warning: **Shortened to fit a GitHub comment**\n\n{MARKER}\n"
    kept: list[str] = []
    size = comment_size(tail)
    for line in text.split("\n"):
        size += comment_size(line) + 1
        if size > limit:
            break
        kept.append(line)
    return "\n".join(kept) + tail


def to_markdown(run: RunReport, full_reports: Sequence[str | Path] = (),
                limit: int = COMMENT_LIMIT) -> str:
    """The whole report as Markdown text, in at most ``limit`` characters (GitHub's count).

    When it is longer, the least important rows go first (unchanged rows, then the details of
    the rows to act on, then those rows from the end) and a notice says how many, and that
    the full report is in ``full_reports`` (the run's JSON and HTML reports)."""
    results = by_severity(run.results)
    level = confidence(run)
    failed = failed_without_metrics(run)
    short = short_ids([*(r.test_id for r in results), *failed])
    status, text = headline(results, run.errors, len(failed))
    page = _Page(_head(run, status, text, results, len(failed)),
                 _items(results, failed, short, level), _foot(run, results, level), level,
                 framing(run).columns, tuple(clip(str(p), ID_LIMIT) for p in full_reports))
    return _fit(page, limit)
