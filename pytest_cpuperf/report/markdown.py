"""GitHub-flavoured Markdown report, for a PR comment or ``$GITHUB_STEP_SUMMARY``.

The verdict comes first and fits a narrow comment: the rows to act on (most severe first),
then the unchanged rows collapsed in ``<details>``, then each message with the full test id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..judge.results import MetricResult, RunReport
from ..status import Status
from .changes import Change, changes
from .framing import framing
from .layout import (
    QUIET,
    by_severity,
    confidence,
    failed_without_metrics,
    fails,
    needs_attention,
    short_ids,
    test_failure,
    worse_ungated,
)
from .terminal import NOTEWORTHY, cells, count_line, headers, verdict_first

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


def code_span(text: str) -> str:
    """``text`` as an inline code span no backtick inside can close (so nothing in it is
    Markdown or HTML): fenced by one more backtick than its longest run of them."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str, code: bool = False) -> str:
    """``text`` safe inside a table cell (and, unless ``code``, against inline HTML)."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return code_span(text) if code else text.replace("<", "&lt;")


def _table(results: Sequence[MetricResult], short: Mapping[str, str],
           level: float, columns: tuple[str, str]) -> list[str]:
    lines = ["| " + " | ".join(verdict_first(headers(level, columns))) + " |",
             "|" + "|".join(["---", "---", "---", "--:", "--:", "--:", "--:"]) + "|"]
    for result in results:
        verdict, test, *rest = verdict_first(cells(result, level))
        icon_ = ":x:" if test_failure(result) else (
            ":warning:" if worse_ungated(result) else icon(result.status))
        lines.append("| " + " | ".join([f"{icon_} {_cell(verdict)}",
                                        _cell(short[test], code=True), *map(_cell, rest)]) + " |")
    return lines


def _detail(result: MetricResult) -> list[str]:
    """The message of one row, with the full test id, its test failure and what changed."""
    lines = [f"- {icon(result.status)} **{result.status.value}** "
             f"{_cell(result.test_id, code=True)} {_cell(result.metric)}: {_cell(result.message)}"]
    failure = test_failure(result)
    if failure:
        lines.append(f"  - :x: **test failed:** {_cell(failure.strip().splitlines()[0])}")
    found = _news(result)
    if found:
        lines.append("  - changed since the baseline: "
                     + "; ".join(_cell(f"{c.area}: {c.text()}") for c in found))
    return lines


def _news(result: MetricResult) -> list[Change]:
    """What changed since the baseline that the message does not already say."""
    said = "versions changed" in result.message
    return [c for c in changes(result) if not (said and c.area == "versions")]


def _quiet_block(results: Sequence[MetricResult], short: Mapping[str, str],
                 level: float, columns: tuple[str, str]) -> list[str]:
    if not results:
        return []
    names = ", ".join(s.value for s in QUIET if any(r.status is s for r in results))
    return [f"<details><summary>{len(results)} unchanged rows ({names})</summary>", "",
            *_table(results, short, level, columns), "", "</details>", ""]


def to_markdown(run: RunReport) -> str:
    """The whole report as Markdown text."""
    results = by_severity(run.results)
    level = confidence(run)
    short = short_ids([r.test_id for r in results])
    status, text = headline(results, run.errors, len(failed_without_metrics(run)))
    loud = [r for r in results if needs_attention(r)]
    quiet = [r for r in results if not needs_attention(r)]
    failed = failed_without_metrics(run)
    frame = framing(run)
    lines = [f"## {icon(status)} {frame.title}: {text}", "",
             *(f"**{label}:**{_cell(rest)}  " for label, _, rest in
               (line.partition(":") for line in frame.preamble)),
             *(f"**Error:** {_cell(error)}  " for error in run.errors),
             *(f":x: **test failed:** {_cell(test, code=True)}: "
               f"{_cell(why.strip().splitlines()[0] if why.strip() else 'failed')}  "
               for test, why in failed.items()),
             f"**Counts:** {count_line(results, len(failed)).removeprefix('cpuperf: ')}", ""]
    if loud:
        lines += [*_table(loud, short, level, frame.columns), ""]
    lines += _quiet_block(quiet, short, level, frame.columns)
    details = [r for r in results if r.status in NOTEWORTHY or fails(r) or _news(r)]
    if details:
        lines += ["<details open><summary>Details</summary>", ""]
        lines += [line for r in details for line in _detail(r)]
        lines += ["", "</details>", ""]
    lines += [f"**Machine:** {_cell(machine_line(run.machine))}  ",
              f"**Versions:** {_cell(versions_line(run.versions))}  ",
              f"**CI:** the verdict's two-sided {level:.0%} confidence interval of the change"
              f" (corrected for CPU time other processes took, where noted)", "", MARKER, ""]
    return "\n".join(lines)
