"""``cpuperf ab`` reports: the registry's renderers, which label an A/B run base/head.

The sides (checkout, commit, Python, library versions) travel in ``RunReport.machine["ab"]``
(see :mod:`pytest_cpuperf.report.framing`), so a JSON report keeps them and ``cpuperf merge`` of
shard reports carries them on.
"""

from __future__ import annotations

from pathlib import Path

from ..records.results import RunReport
from ..report import TERMINAL, renderer_named, write_report
from ..report.framing import AB_KEY

__all__ = ["AB_KEY", "terminal_lines", "write_ab_report"]


def terminal_lines(run: RunReport) -> list[str]:
    """The terminal summary of an A/B run, with what failed to run."""
    summary = renderer_named("summary", TERMINAL).render(run)
    return [*summary.removesuffix("\n").split("\n"), *(f"ERROR: {e}" for e in run.errors)]


def write_ab_report(path: Path, run: RunReport) -> None:
    """Write ``run`` as the report ``path``'s ending asks for (a usage error for another)."""
    write_report(path, run)
