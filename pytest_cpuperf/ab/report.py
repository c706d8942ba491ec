"""``cpuperf ab`` reports: the baseline gate's renderers, which label an A/B run base/head.

The sides (checkout, commit, Python, library versions) travel in ``RunReport.machine["ab"]``
(see :mod:`pytest_cpuperf.report.framing`), so a JSON report keeps them and ``cpuperf merge`` of
shard reports carries them on.
"""

from __future__ import annotations

from pathlib import Path

from ..records.results import RunReport
from ..report import check_report_path, render
from ..report.framing import AB_KEY
from ..store.fileio import atomic_write_text

__all__ = ["AB_KEY", "terminal_lines", "write_ab_report"]


def terminal_lines(run: RunReport) -> list[str]:
    """The terminal summary of an A/B run, with what failed to run."""
    from ..report.terminal import run_summary_lines

    return [*run_summary_lines(run), *(f"ERROR: {e}" for e in run.errors)]


def write_ab_report(path: Path, run: RunReport) -> None:
    atomic_write_text(check_report_path(str(path)), render(path, run))
