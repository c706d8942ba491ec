"""Reports of a session's results: terminal summary, JSON, Markdown, HTML, pytest-benchmark JSON.

Every report is a :class:`Renderer` in one registry, of a kind: :data:`REPORT` (a run's report
files, found by name or by the end of the path: ``--cpuperf-report PATH`` picks the format
from the extension, ``.benchmark.json`` being pytest-benchmark's saved-run format,
``--cpuperf-benchmark-json`` asks for it by name), :data:`TERMINAL` (a run's summary as a
command prints it) and :data:`HISTORY` (the trend charts of ``cpuperf history report``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CpuperfUsageError
from ..records.results import RunReport
from ..store.fileio import atomic_write_text

REPORT = "report"
"""A report file of a run (a :class:`RunReport`), chosen by its path's ending."""
TERMINAL = "terminal"
"""A run's summary as text, as the ``cpuperf`` commands print it."""
HISTORY = "history"
"""A report of the history's series (``cpuperf history report``: a list of charts)."""


@dataclass(frozen=True)
class Renderer:
    """One report format: its name, the path endings that choose it, and its renderer."""

    name: str
    endings: tuple[str, ...]
    module: str
    function: str
    points_to_full: bool = False
    """Whether the renderer may shorten the report, and names the full reports when it does
    (its function takes ``full_reports``)."""
    kind: str = REPORT
    """What it renders: :data:`REPORT`, :data:`TERMINAL` or :data:`HISTORY`."""

    def render(self, subject: Any, others: Sequence[str | Path] = (), **options: Any) -> str:
        """The report's text of ``subject`` (a run, or the charts of a :data:`HISTORY`
        renderer; the renderer's module is imported only now); ``others`` are the other
        reports the run writes, where a shortened report says the full one is; ``options``
        go to the renderer's function."""
        from importlib import import_module

        renderer: Callable[..., str] = getattr(import_module(self.module, __name__),
                                               self.function)
        if self.points_to_full:
            options["full_reports"] = full_reports(others)
        return renderer(subject, **options)


RENDERERS: tuple[Renderer, ...] = (
    Renderer("pytest-benchmark", (".benchmark.json",), ".benchmark_json", "to_benchmark_text"),
    Renderer("markdown", (".md",), ".markdown", "to_markdown", points_to_full=True),
    Renderer("html", (".html",), ".html", "to_html"),
    Renderer("json", (".json",), ".json_report", "to_json"),
)
"""The report files of a run. Most specific ending first: ``x.benchmark.json`` is
pytest-benchmark, ``x.json`` the report."""
REGISTRY: tuple[Renderer, ...] = (
    *RENDERERS,
    Renderer("summary", (), ".terminal", "summary_text", kind=TERMINAL),
    Renderer("html", (".html",), "..history.report_html", "render", kind=HISTORY),
)
"""Every renderer, of every kind."""

REPORT_FORMATS = {".json", ".md", ".html"}
"""The plain extensions ``--cpuperf-report`` accepts (plus ``.benchmark.json``)."""


def _accepted() -> str:
    return ", ".join(ending for r in RENDERERS for ending in r.endings)


def renderer_named(name: str, kind: str = REPORT) -> Renderer:
    """The renderer of ``kind`` called ``name``; a usage error lists the names there are."""
    of_kind = [r for r in REGISTRY if r.kind == kind]
    for renderer in of_kind:
        if renderer.name == name:
            return renderer
    names = ", ".join(r.name for r in of_kind)
    raise CpuperfUsageError(f"unknown report format {name!r}; one of {names}")


def renderer_for(path: str | Path, name: str | None = None) -> Renderer:
    """The renderer of ``path``: by ``name`` when given, else by how the path ends.

    Raises :class:`CpuperfUsageError` (naming ``--cpuperf-report`` and the accepted endings)
    before anything is measured, so a typo costs no run.
    """
    if name is not None:
        return renderer_named(name)
    lowered = Path(path).name.lower()
    for renderer in RENDERERS:
        if any(lowered.endswith(ending) for ending in renderer.endings):
            return renderer
    suffix = Path(path).suffix.lower()
    raise CpuperfUsageError(
        f"--cpuperf-report {path}: unknown report format {suffix or '(no extension)'!r}; "
        f"the extension chooses the format, one of {_accepted()}")


def check_report_path(path: str) -> Path:
    """``path`` as a Path; a usage error unless a renderer takes its extension."""
    renderer_for(path)
    return Path(path)


def render(path: Path, run: RunReport) -> str:
    """The text of the report ``path`` asks for (its extension chooses the format)."""
    return renderer_for(path).render(run)


def full_reports(paths: Iterable[str | Path]) -> list[str]:
    """The paths among ``paths`` that hold a run's whole report (JSON, HTML)."""
    found = []
    for path in paths:
        try:
            name = renderer_for(path).name
        except CpuperfUsageError:
            continue
        if name in ("html", "json"):
            found.append(str(path))
    return found


def write_report(path: Path, run: RunReport, name: str | None = None,
                 others: Sequence[str | Path] = ()) -> None:
    """Write ``run`` to ``path`` in the format of its extension (or ``name``), atomically;
    ``others`` are the run's other reports (a shortened Markdown report names them)."""
    atomic_write_text(Path(path), renderer_for(path, name).render(run, others))


def write_reports(paths: Iterable[str | Path], run: RunReport) -> list[Path]:
    """Write every report ``paths`` ask for; every path is checked before the first is written."""
    checked = [(Path(p), renderer_for(p)) for p in paths]
    for path, renderer in checked:
        atomic_write_text(path, renderer.render(run, [p for p, _ in checked]))
    return [path for path, _ in checked]
