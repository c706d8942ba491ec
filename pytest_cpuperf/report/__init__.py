"""Reports of a session's results: terminal summary, JSON, Markdown, HTML, pytest-benchmark JSON.

``--cpuperf-report PATH`` picks the format from the extension of ``PATH``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import CpuperfUsageError
from ..judge.results import RunReport
from ..store.fileio import atomic_write_text

REPORT_FORMATS = {".json", ".md", ".html"}


def check_report_path(path: str) -> Path:
    """``path`` as a Path; a usage error unless its extension is one of :data:`REPORT_FORMATS`."""
    suffix = Path(path).suffix.lower()
    if suffix not in REPORT_FORMATS:
        accepted = ", ".join(sorted(REPORT_FORMATS))
        raise CpuperfUsageError(
            f"--cpuperf-report {path}: unknown report format {suffix or '(no extension)'!r}; "
            f"the extension chooses the format, one of {accepted}")
    return Path(path)


def _renderer(suffix: str) -> Callable[[RunReport], str]:
    if suffix == ".md":
        from .markdown import to_markdown

        return to_markdown
    if suffix == ".html":
        from .html import to_html

        return to_html
    from .json_report import to_json

    return to_json


def render(path: Path, run: RunReport) -> str:
    """The text of the report ``path`` asks for (its extension chooses the format)."""
    return _renderer(check_report_path(str(path)).suffix.lower())(run)


def write_report(path: Path, run: RunReport) -> None:
    """Write ``run`` to ``path`` in the format of its extension, atomically."""
    atomic_write_text(Path(path), render(Path(path), run))
