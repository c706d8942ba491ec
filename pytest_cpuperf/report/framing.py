"""What a report compares, and what it calls both sides: the baseline gate or ``cpuperf ab``.

Every renderer asks :func:`framing` for the title, the two value columns and the lines that say
what was compared, so an A/B report is labelled base/head by the renderers themselves. The A/B
sides travel in ``RunReport.machine["ab"]``, so a JSON report (and ``cpuperf merge`` of shard
reports) keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..records.results import RunReport

AB_KEY = "ab"
"""Where ``cpuperf ab`` puts its sides, rounds and notes in ``RunReport.machine``."""


@dataclass(frozen=True)
class Framing:
    title: str
    """``cpuperf`` or ``cpuperf ab``."""
    columns: tuple[str, str]
    """The names of the reference and the measured value columns."""
    preamble: tuple[str, ...] = ()
    """Lines saying what was compared (an A/B run's sides, rounds and one-sided tests)."""


GATE = Framing("cpuperf", ("baseline", "current"))


def side_line(name: str, side: Mapping[str, Any]) -> str:
    """``base: abc1234 in /src (Python 3.11.9 at .../python; openvino 2025.4, ...)``."""
    sha, plus, state = str(side.get("commit") or "").partition("+")  # abc...+dirty
    commit = f"{sha[:12]}{plus}{state}" if sha else "no git commit"
    versions = ", ".join(f"{k} {v}" for k, v in sorted((side.get("versions") or {}).items()))
    env = " ".join(f"{k}={v}" for k, v in sorted((side.get("env") or {}).items()))
    commit += f" with {env}" if env else ""
    return (f"{name}: {commit} in {side.get('cwd', '?')} (Python "
            f"{side.get('python_version', '?')} at {side.get('python', '?')}; "
            f"{versions or 'versions unknown'})")


def cpus_text(cpus: Any) -> str:
    """``CPUs 0-3`` / ``CPU 1`` / ``every CPU``."""
    if not cpus:
        return "every CPU"
    ordered = sorted(int(c) for c in cpus)
    if len(ordered) == 1:
        return f"CPU {ordered[0]}"
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"CPUs {ordered[0]}-{ordered[-1]}"
    return "CPUs " + ",".join(map(str, ordered))


def layout_lines(info: Mapping[str, Any]) -> list[str]:
    """How the sides shared the machine: a duet's halves per pair of workers (first test's)."""
    if info.get("mode") != "duet":
        return []
    line = ("layout: duet: base and head ran at the same time, each worker on its own half of "
            "the CPUs, its threads sized to that half by the backends' defaults")
    per_test = info.get("cpus") or {}
    if per_test:
        test, pairs = next(iter(per_test.items()))
        line += "; " + ", ".join(
            f"pair {number + 1}: base on {cpus_text(base)}, head on {cpus_text(head)}"
            for number, (base, head) in enumerate(pairs))
        if len(per_test) > 1:
            line += f" (for {test}; each fresh pair of workers takes the other halves)"
    return [line]


def ab_lines(info: Mapping[str, Any]) -> tuple[str, ...]:
    """The lines of an A/B run's ``machine["ab"]``: sides, rounds, one-sided tests, notes."""
    sides = info.get("sides") or {}
    lines = [side_line(name, sides[name]) for name in ("base", "head") if name in sides]
    if info.get("rounds"):
        shard = f", shard {info['shard']}" if info.get("shard") else ""
        pairs = info.get("pairs") or 1
        swapped = " and on swapped halves" if info.get("mode") == "duet" else ""
        up_to = (f"; {pairs} pairs of worker processes per test in opposite orders{swapped}"
                 if pairs > 1 else "")
        up_to += (f"; up to {info['max_pairs']} pairs when a verdict is not a pass"
                  if (info.get("max_pairs") or 1) > pairs else "")
        together = ("base and head at once" if info.get("mode") == "duet"
                    else "base and head alternating")
        lines.append(f"rounds: {info['rounds']} per measurement, {together}"
                     f"{shard}{up_to}; tolerance {info.get('tolerance', 0):.1%}")
    lines += layout_lines(info)
    again = info.get("worker_pairs") or {}
    if again:
        lines.append(f"measured again by fresh pairs of workers, as their first verdict was "
                     f"not a pass ({len(again)}): " + ", ".join(
                         f"{test} ({pairs} pairs)" for test, pairs in again.items()))
    for which in ("base", "head"):
        only = info.get(f"only_{which}") or []
        if only:
            lines.append(f"only on {which} ({len(only)}, not compared): {', '.join(only)}")
    lines += [f"note: {note}" for note in info.get("notes") or []]
    return tuple(lines)


def framing(run: RunReport | None) -> Framing:
    """The framing of ``run``: ``cpuperf ab`` when it carries A/B sides, else the gate's."""
    info = run.machine.get(AB_KEY) if run is not None else None
    if not isinstance(info, Mapping):
        return GATE
    return Framing("cpuperf ab", ("base", "head"), ab_lines(info))
