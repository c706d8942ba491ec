"""Reports of a session's results: terminal summary, JSON, Markdown, HTML, pytest-benchmark JSON.

Every file format is a :class:`Renderer` in one registry, found by name or by the end of the
path: ``--cpuperf-report PATH`` picks the format from the extension (``.benchmark.json`` is
pytest-benchmark's saved-run format), ``--cpuperf-benchmark-json`` asks for it by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CpuperfUsageError
from ..records.results import RunReport
from ..store.fileio import atomic_write_text


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

    def render(self, run: RunReport, others: Sequence[str | Path] = ()) -> str:
        """The report's text (the renderer's module is imported only now); ``others`` are the
        other reports the run writes, where a shortened report says the full one is."""
        from importlib import import_module

        renderer: Callable[..., str] = getattr(import_module(self.module, __name__),
                                               self.function)
        options: dict[str, Any] = {}
        if self.points_to_full:
            options["full_reports"] = full_reports(others)
        return renderer(run, **options)


RENDERERS: tuple[Renderer, ...] = (
    Renderer("pytest-benchmark", (".benchmark.json",), ".benchmark_json", "to_benchmark_text"),
    Renderer("markdown", (".md",), ".markdown", "to_markdown", points_to_full=True),
    Renderer("html", (".html",), ".html", "to_html"),
    Renderer("json", (".json",), ".json_report", "to_json"),
)
"""Most specific ending first: ``x.benchmark.json`` is pytest-benchmark, ``x.json`` the report."""

REPORT_FORMATS = {".json", ".md", ".html"}
"""The plain extensions ``--cpuperf-report`` accepts (plus ``.benchmark.json``)."""


def _accepted() -> str:
    return ", ".join(ending for r in RENDERERS for ending in r.endings)


def renderer_named(name: str) -> Renderer:
    """The renderer called ``name``; a usage error lists the names there are."""
    for renderer in RENDERERS:
        if renderer.name == name:
            return renderer
    names = ", ".join(r.name for r in RENDERERS)
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
