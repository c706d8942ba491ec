"""The JSON report: every result of a session, readable back by ``cpuperf compare``/``merge``."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BaselineFileError
from ..results import REPORT_SCHEMA, REPORT_SCHEMA_VERSION, RunReport


def to_json(run: RunReport) -> str:
    """Stable text: indent 2, results sorted by (test id, metric)."""
    return json.dumps(run.to_dict(), indent=2) + "\n"


def read_report(path: Path) -> RunReport:
    """Read a report written by :func:`to_json`. Raises :class:`BaselineFileError`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BaselineFileError(f"report file {path} could not be read as JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != REPORT_SCHEMA:
        raise BaselineFileError(
            f"report file {path} is not a pytest-cpuperf report (no 'schema': "
            f"'{REPORT_SCHEMA}'); write one with --cpuperf-report FILE.json")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > REPORT_SCHEMA_VERSION:
        raise BaselineFileError(
            f"report file {path} has schema_version {version!r}, newer than this "
            f"pytest-cpuperf understands ({REPORT_SCHEMA_VERSION}); upgrade pytest-cpuperf")
    try:
        return RunReport.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineFileError(f"report file {path} has a malformed result ({exc!r})") from exc
