"""pytest sub-plugin: ``--cpuperf-history URL`` appends every run's results to a history.

The database is opened and its schema checked at configure time, before any test measures; the
run is appended at the end of the session, after the main plugin judged it (on the xdist
controller only). SQLAlchemy is imported only when the option is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..records.results import MetricRecord
    from ..store.baselines import BaselineFile, BaselineStore
    from .store import HistoryStore

HISTORY_KEY = pytest.StashKey["HistoryRecorder"]()
BASELINE_RECORDS_KEY = pytest.StashKey["dict[str, dict[str, BaselineRecord]]"]()
"""The baselines ``--cpuperf-baseline-from-history`` read (the records of a BaselineFile)."""
DEFAULT_MAIN_BRANCH = "main"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cpuperf", "CPU inference performance gates (pytest-cpuperf)")
    text = ("Append every run's results to this history database: sqlite:///path or "
            "postgresql://user@host/db (default: none).")
    group.addoption("--cpuperf-history", default=None, metavar="URL", help=text)
    parser.addini("cpuperf_history", text, default=None)
    group.addoption("--cpuperf-history-optional", action="store_true", default=False,
                    help="When the history database cannot be used, warn and run the tests "
                         "anyway (default: off, a usage error).")
    group.addoption("--cpuperf-baseline-from-history", default=None, type=int, metavar="N",
                    help="Judge this run against the last N runs of the history's main branch "
                         "on this machine class instead of the baseline file (default: off).")
    group.addoption("--cpuperf-history-branch", default=DEFAULT_MAIN_BRANCH, metavar="NAME",
                    help="The main branch for --cpuperf-baseline-from-history "
                         f"(default: {DEFAULT_MAIN_BRANCH}).")


@dataclass
class HistoryRecorder:
    """The opened history of this session and what to say about it at the end."""

    url: str
    optional: bool
    store: HistoryStore | None = None
    lines: list[str] = field(default_factory=list)


def history_url(config: pytest.Config) -> str | None:
    url = config.getoption("--cpuperf-history") or config.getini("cpuperf_history")
    return (str(url).strip() or None) if url else None


@pytest.hookimpl(trylast=True)  # after the main plugin made its session
def pytest_configure(config: pytest.Config) -> None:
    url = history_url(config)
    last = _baseline_runs(config, url)
    if url is None:
        return
    if last is not None:
        _use_history_baseline(config, url, last)
    if hasattr(config, "workerinput"):
        return
    recorder = HistoryRecorder(url=url, optional=bool(
        config.getoption("--cpuperf-history-optional")))
    from . import HistoryError

    try:
        from .store import HistoryStore

        recorder.store = HistoryStore.open(url)
    except ImportError as exc:
        _unusable(config, recorder, f"--cpuperf-history needs the history extra "
                            f"(pip install 'pytest-cpuperf[history]'): {exc}")
    except HistoryError as exc:
        _unusable(config, recorder, f"--cpuperf-history: {exc}")
    config.stash[HISTORY_KEY] = recorder


def _baseline_runs(config: pytest.Config, url: str | None) -> int | None:
    last = config.getoption("--cpuperf-baseline-from-history")
    if last is None:
        return None
    if last < 1:
        raise pytest.UsageError(f"--cpuperf-baseline-from-history must be a number of runs, at "
                                f"least 1 (e.g. 5); got {last}")
    if url is None:
        raise pytest.UsageError("--cpuperf-baseline-from-history needs the history: add "
                                "--cpuperf-history URL (or the ini key cpuperf_history)")
    return int(last)


def _use_history_baseline(config: pytest.Config, url: str, last: int) -> None:
    """Read the last runs of the main branch as the session's baselines (every xdist worker
    reads them itself: judging happens on the workers); :func:`pytest_cpuperf_make_store`
    serves them."""
    from ..plugin import cpuperf_session
    from . import HistoryError
    from .store import HistoryStore

    machine = cpuperf_session(config).machine
    branch = config.getoption("--cpuperf-history-branch")
    try:
        store = HistoryStore.open(url, create=False)
        try:
            records = store.baseline_records(str(machine["key"]), branch, last)
        finally:
            store.close()
    except (HistoryError, ImportError) as exc:
        raise pytest.UsageError(f"--cpuperf-baseline-from-history: {exc}") from exc
    config.stash[BASELINE_RECORDS_KEY] = records


def pytest_cpuperf_make_store(config: pytest.Config, files: BaselineStore
                              ) -> BaselineStore | None:
    """Under ``--cpuperf-baseline-from-history``: the baselines read from the history, with
    updates still written to ``files``."""
    records = config.stash.get(BASELINE_RECORDS_KEY, None)
    if records is None:
        return None
    from ..plugin import SESSION_KEY
    from ..store.baselines import BaselineFile

    machine = config.stash[SESSION_KEY].machine
    return HistoryBaselineStore(BaselineFile(path=files.path, machine=machine, records=records),
                                files)


def _unusable(config: pytest.Config, recorder: HistoryRecorder, message: str) -> None:
    if not recorder.optional:
        raise pytest.UsageError(message + " (or pass --cpuperf-history-optional to run anyway)")
    config.issue_config_time_warning(pytest.PytestWarning(
        f"{message}; running without recording history (--cpuperf-history-optional)"),
        stacklevel=2)
    recorder.lines.append(f"cpuperf WARNING: history not recorded: {message}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    recorder = session.config.stash.get(HISTORY_KEY, None)
    if recorder is None or recorder.store is None:
        return
    from ..plugin import cpuperf_session

    cpuperf = cpuperf_session(session.config)
    if not cpuperf.results:
        recorder.lines.append("cpuperf: history: no cpuperf metric in this run, nothing appended")
        return
    try:
        appended, run_id = _append(session.config, cpuperf, recorder.store)
    except Exception as exc:  # a database fault must not lose the run's other outputs
        from .store import first_line

        recorder.lines.append(f"cpuperf {'WARNING' if recorder.optional else 'ERROR'}: "
                              f"history NOT recorded in {recorder.store.url}: "
                              f"{first_line(exc)}")
        if not recorder.optional and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    finally:
        recorder.store.close()
    count = len(cpuperf.results)
    recorder.lines.append(
        f"cpuperf: history: appended run {run_id} ({count} metric(s)) to {recorder.store.url}"
        if appended else
        f"cpuperf: history: run {run_id} was already recorded in {recorder.store.url}; kept once")


def _append(config: pytest.Config, cpuperf: Any, store: HistoryStore) -> tuple[bool, str]:
    from pathlib import Path

    from .context import detect_context
    from .store import HistoryRun

    report = cpuperf.report()
    context = detect_context(Path(config.rootpath), str(report.machine.get("key", "")))
    settings = cpuperf.settings
    policy = {"update": settings.update, "strict": settings.strict,
              "warn_only": settings.warn_only, **settings.judging}
    run = HistoryRun.from_report(report, context, policy)
    return store.append(run), run.run_id


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    recorder = config.stash.get(HISTORY_KEY, None)
    if recorder is None:
        return
    for line in recorder.lines:
        terminalreporter.write_line(line, yellow="WARNING" in line, red="ERROR" in line)


@dataclass(frozen=True)
class HistoryBaselineStore:
    """Baselines read from the history (the last runs of a branch on this machine class);
    ``--cpuperf-update`` still writes the committed JSON file."""

    baseline: BaselineFile
    files: BaselineStore

    @property
    def path(self) -> Path:
        return self.files.path

    def load(self) -> BaselineFile:
        return self.baseline

    def update(self, records: Iterable[MetricRecord],
               consistent: set[tuple[str, str]]) -> BaselineFile:
        return self.files.update(records, consistent)
