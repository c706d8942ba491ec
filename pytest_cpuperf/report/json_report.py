"""The JSON report: every result of a session, readable back by ``cpuperf compare``/``merge``."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BaselineFileError
from ..records.results import (
    REPORT_SCHEMA,
    REPORT_SCHEMA_VERSION,
    MetricResult,
    RunReport,
    json_safe,
    sorted_results,
)
from ..store.fileio import read_versioned_json
from .conventions import ci_label, confidence, raw_change
from .terminal import change_label


def change_fields(result: MetricResult) -> dict[str, object]:
    """What the other reports say of a change: ``change_label`` (``+3.2% vs reference``) and
    ``raw_change``, the change of the raw baseline and current figures (None: not relative)."""
    raw = raw_change(result)
    return json_safe({"change_label": change_label(result),
                      "raw_change": None if raw is None else float(f"{raw:.6g}")})


def to_json(run: RunReport) -> str:
    """Stable text: indent 2, results sorted by (test id, metric), the CI level named, each
    change labelled; ASCII, so any text (an undecodable file name too) is valid JSON."""
    data = run.to_dict()
    data.setdefault("confidence", round(confidence(run), 4))
    data.setdefault("ci_label", ci_label(confidence(run)))
    for written, result in zip(data["results"], sorted_results(run.results), strict=True):
        written.update(change_fields(result))
    return json.dumps(data, indent=2, allow_nan=False, ensure_ascii=True) + "\n"


def read_report(path: Path) -> RunReport:
    """Read a report written by :func:`to_json`. Raises :class:`BaselineFileError`."""
    data = read_versioned_json(
        Path(path), what="report", schema=REPORT_SCHEMA, max_version=REPORT_SCHEMA_VERSION,
        unreadable="write one with --cpuperf-report FILE.json",
        foreign="write one with --cpuperf-report FILE.json", newer="upgrade pytest-cpuperf")
    try:
        return RunReport.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineFileError(f"report file {path} is malformed: {exc}") from exc
