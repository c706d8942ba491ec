"""``cpuperf ab`` reports: the baseline gate's renderers, labelled base/head with each side.

The sides (checkout, commit, Python, library versions) travel in ``RunReport.machine["ab"]``,
so a JSON report keeps them and ``cpuperf merge`` of shard reports carries them on.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..judge.results import RunReport
from ..report import check_report_path, render
from ..store.fileio import atomic_write_text

AB_KEY = "ab"


def side_line(name: str, side: Mapping[str, Any]) -> str:
    """``base: abc1234 in /src (Python 3.11.9 at .../python; openvino 2025.4, ...)``."""
    commit = str(side["commit"])[:12] if side.get("commit") else "no git commit"
    versions = ", ".join(f"{k} {v}" for k, v in sorted((side.get("versions") or {}).items()))
    return (f"{name}: {commit} in {side.get('cwd', '?')} (Python "
            f"{side.get('python_version', '?')} at {side.get('python', '?')}; "
            f"{versions or 'versions unknown'})")


def ab_lines(run: RunReport) -> list[str]:
    """The lines saying what was compared, and the one-sided tests and notes."""
    info = run.machine.get(AB_KEY) or {}
    sides = info.get("sides") or {}
    lines = [side_line(name, sides[name]) for name in ("base", "head") if name in sides]
    if info.get("rounds"):
        shard = f", shard {info['shard']}" if info.get("shard") else ""
        lines.append(f"rounds: {info['rounds']} per measurement, base and head alternating"
                     f"{shard}; tolerance {info.get('tolerance', 0):.1%}")
    for which in ("base", "head"):
        only = info.get(f"only_{which}") or []
        if only:
            lines.append(f"only on {which} ({len(only)}, not compared): {', '.join(only)}")
    lines += [f"note: {note}" for note in info.get("notes") or []]
    return lines


def terminal_lines(run: RunReport) -> list[str]:
    from ..report.terminal import summary_lines

    lines = summary_lines(run.results)
    if run.results:  # the gate's "baseline"/"current" columns are base and head here
        lines[0] = lines[0].replace("baseline", "    base", 1).replace("current", "   head", 1)
    return [*ab_lines(run), *lines, *(f"ERROR: {e}" for e in run.errors)]


def render_ab(path: Path, run: RunReport) -> str:
    text = render(path, run)
    suffix = path.suffix.lower()
    if suffix == ".md":
        text = text.replace("| baseline | current |", "| base | head |", 1)
        header, _, rest = text.partition("\n\n")
        sides = "\n".join(f"**{line.split(':', 1)[0]}:**{line.split(':', 1)[1]}  "
                          for line in ab_lines(run))
        return f"{header.replace('cpuperf:', 'cpuperf ab:', 1)}\n\n{sides}\n{rest}"
    if suffix == ".html":
        text = text.replace("<th>baseline</th><th>current</th>", "<th>base</th><th>head</th>", 1)
        items = "".join(f"<li>{html.escape(line)}</li>" for line in ab_lines(run))
        return text.replace("</h1>", f"</h1><h2>cpuperf ab: base vs head</h2><ul>{items}</ul>",
                            1)
    return text


def write_ab_report(path: Path, run: RunReport) -> None:
    atomic_write_text(check_report_path(str(path)), render_ab(Path(path), run))
