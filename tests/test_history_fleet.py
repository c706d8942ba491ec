"""The history for a fleet: a real PostgreSQL server, and many writers at once (both stores)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy.dialects.postgresql", reason="the history extra is not installed")
pytest.importorskip("psycopg", reason="the history extra is not installed")

from test_history import PERF_TEST, killed_mid_write

from pytest_cpuperf.history.schema import SCHEMA_VERSION
from pytest_cpuperf.history.store import HistoryStore

REPO = Path(__file__).resolve().parents[1]
WRITERS, RUNS_EACH, METRICS_EACH = 8, 50, 20


def test_postgres_appends_and_dedupes_through_pytest(pytester: pytest.Pytester,
                                                     postgres_server: Callable[[str], str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres_server("appends")
    pytester.makepyfile(PERF_TEST)
    monkeypatch.setenv("CPUPERF_RUN_ID", "run-1")
    pytester.runpytest("--cpuperf", "--cpuperf-history", url).assert_outcomes(passed=1)
    retry = pytester.runpytest("--cpuperf", "--cpuperf-history", url)
    retry.stdout.fnmatch_lines(["*history: run run-1 was already recorded*kept once"])
    monkeypatch.setenv("CPUPERF_RUN_ID", "run-2")
    pytester.runpytest("--cpuperf", "--cpuperf-history", url).assert_outcomes(passed=1)
    store = HistoryStore.open(url)
    assert [r.run_id for r in store.runs()] == ["run-1", "run-2"]
    assert [r.metrics for r in store.runs()] == [2, 2]
    test_id = "test_postgres_appends_and_dedupes_through_pytest.py::test_perf"
    assert [p.value for p in store.series(test_id, "throughput")] == [100.0, 100.0]
    store.close()


def test_postgres_newer_schema_refused(pytester: pytest.Pytester,
                                       postgres_server: Callable[[str], str]) -> None:
    from sqlalchemy import update

    from pytest_cpuperf.history.schema import meta

    url = postgres_server("newer")
    store = HistoryStore.open(url)
    with store.engine.begin() as conn:
        conn.execute(update(meta).values(value=str(SCHEMA_VERSION + 1)))
    store.close()
    pytester.makepyfile(PERF_TEST)
    result = pytester.runpytest("--cpuperf", "--cpuperf-history", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*has schema version {SCHEMA_VERSION + 1}, newer than*"])


def test_postgres_killed_writer_leaves_no_partial_run(postgres_server: Callable[[str], str],
                                                      tmp_path: Path) -> None:
    url = postgres_server("killed")
    killed_mid_write(url, tmp_path)
    store = HistoryStore.open(url)
    assert store.runs() == []
    assert store.series_keys() == []
    store.close()


WRITER = """
import sys, time
from pathlib import Path
from pytest_cpuperf.history.store import HistoryStore, HistoryRun
from pytest_cpuperf.records.results import MetricRecord, MetricResult
from pytest_cpuperf.status import Status

url, writer, runs, metrics, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    int(sys.argv[4]), Path(sys.argv[5])
store = HistoryStore.open(url)
while not go.exists():
    time.sleep(0.01)

def run(run_id):
    results = [MetricResult(MetricRecord(f"t::{m}", "throughput", "throughput", "samples/s",
                                         100.0 + writer, [99.0, 100.0, 101.0]), Status.PASS, "")
               for m in range(metrics)]
    return HistoryRun(run_id, "2026-01-01T00:00:00+00:00", f"machine-{writer % 2}", {}, {}, {},
                      results, commit=f"c{writer}", branch="main")

appended = sum(store.append(run(f"w{writer}-r{i}")) for i in range(runs))
appended += sum(store.append(run(f"retried-{i}")) for i in range(5))  # every writer: CI retry
print("APPENDED", appended)
"""


def append_at_once(url: str, tmp_path: Path) -> int:
    """WRITERS processes append RUNS_EACH runs each at the same moment, plus 5 shared run ids."""
    HistoryStore.open(url).close()
    script, go = tmp_path / "writer.py", tmp_path / "go"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, str(script), url, str(w), str(RUNS_EACH),
                               str(METRICS_EACH), str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
             for w in range(WRITERS)]
    time.sleep(1.0)  # let every writer connect before they start together
    go.touch()
    total = 0
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        total += int(out.split()[-1])
    return total


def check_nothing_lost_or_duplicated(url: str, appended: int) -> None:
    expected_runs = WRITERS * RUNS_EACH + 5
    assert appended == expected_runs
    store = HistoryStore.open(url)
    rows = store.runs()
    assert len(rows) == len({r.run_id for r in rows}) == expected_runs
    assert {r.metrics for r in rows} == {METRICS_EACH}
    assert len(store.series("t::0", "throughput")) == expected_runs
    store.close()


@pytest.mark.slow
def test_sqlite_many_writers_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    check_nothing_lost_or_duplicated(url, append_at_once(url, tmp_path))


@pytest.mark.slow
def test_postgres_many_writers_at_once(postgres_server: Callable[[str], str],
                                       tmp_path: Path) -> None:
    url = postgres_server("fleet")
    check_nothing_lost_or_duplicated(url, append_at_once(url, tmp_path))
