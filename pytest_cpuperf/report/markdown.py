"""GitHub-flavoured Markdown report, for a PR comment or ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..judge.results import MetricResult, RunReport, sorted_results
from ..status import Status
from .terminal import HEADERS, NOTEWORTHY, cells, count_line

ICONS = {
    "pass": ":white_check_mark:", "improvement": ":rocket:", "regression": ":x:",
    "below floor": ":x:", "above ceiling": ":x:", "invalid": ":x:", "inconclusive": ":warning:",
}


def icon(status: Status | None) -> str:
    """The icon of a status (``None``: the run had an error)."""
    if status is None:
        return ":x:"
    return ICONS.get(status.value, ":x:" if status.fails else ":grey_question:")


def headline(results: Sequence[MetricResult],
             errors: Sequence[str] = ()) -> tuple[Status | None, str]:
    """The overall verdict: the status that sets the tone (``None``: an error) and a phrase."""
    if errors:
        status, text = headline(results)
        counted = f"{len(errors)} error{'s' if len(errors) > 1 else ''}"
        return None, counted + ("" if status is not None and not status.fails else f", {text}")
    failing = [r for r in results if r.status.fails]
    inconclusive = sum(r.status is Status.INCONCLUSIVE for r in results)
    if failing:
        kinds: dict[Status, int] = {}
        for r in failing:
            kinds[r.status] = kinds.get(r.status, 0) + 1
        worst = max(kinds, key=lambda s: kinds[s])
        text = ", ".join(f"{kinds[s]} {_plural(s, kinds[s])}" for s in Status if s in kinds)
        return worst, text
    if inconclusive:
        return Status.INCONCLUSIVE, f"no regression, {inconclusive} inconclusive"
    return Status.PASS, "no regression"


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


def _table(results: Sequence[MetricResult]) -> list[str]:
    lines = ["| " + " | ".join(HEADERS) + " |",
             "|" + "|".join(["---", "---", "--:", "--:", "--:", "--:", "---"]) + "|"]
    for result in results:
        test, *rest = cells(result)
        rest[-1] = f"{icon(result.status)} {rest[-1]}"
        lines.append("| " + " | ".join([_cell(test, code=True), *map(_cell, rest)]) + " |")
    return lines


def to_markdown(run: RunReport) -> str:
    """The whole report as Markdown text."""
    results = sorted_results(run.results)
    status, text = headline(results, run.errors)
    lines = [f"## {icon(status)} cpuperf: {text}", "",
             *(f"**Error:** {_cell(error)}  " for error in run.errors),
             f"**Machine:** {_cell(machine_line(run.machine))}  ",
             f"**Versions:** {_cell(versions_line(run.versions))}  ",
             f"**Counts:** {count_line(results).removeprefix('cpuperf: ')}", ""]
    if results:
        lines += [*_table(results), ""]
    details = [r for r in results if r.status in NOTEWORTHY]
    if details:
        lines += ["<details open><summary>Details</summary>", ""]
        lines += [f"- {icon(r.status)} **{r.status.value}**: {_cell(r.message)}" for r in details]
        lines += ["", "</details>", ""]
    return "\n".join(lines)
