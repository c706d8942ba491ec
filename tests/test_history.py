"""The history through real pytest runs and a real SQLite file: append, dedupe, faults."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

# imported once up front: pytester's in-process runs restore sys.modules afterwards
pytest.importorskip("sqlalchemy.dialects.sqlite", reason="the history extra is not installed")

from pytest_cpuperf.history import HistoryError
from pytest_cpuperf.history.schema import SCHEMA_VERSION
from pytest_cpuperf.history.store import HistoryStore

PERF_TEST = """
import pytest

@pytest.mark.cpuperf
def test_perf(cpuperf):
    cpuperf.record("throughput", 100.0, kind="throughput", unit="samples/s",
                   samples=[99.0, 100.0, 101.0])
    cpuperf.record("accuracy", 0.9, kind="accuracy", unit="")
"""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def count_runs(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        runs = conn.execute("select count(*) from cpuperf_runs").fetchone()[0]
        metrics = conn.execute("select count(*) from cpuperf_metrics").fetchone()[0]
    return runs, metrics


def test_every_run_is_appended(pytester: pytest.Pytester, tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    pytester.makepyfile(PERF_TEST)
    first = pytester.runpytest("--cpuperf", "--cpuperf-history", sqlite_url(db))
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["*cpuperf: history: appended run local:* (2 metric(s)) to *"])
    second = pytester.runpytest("--cpuperf", "--cpuperf-history", sqlite_url(db))
    second.assert_outcomes(passed=1)
    assert count_runs(db) == (2, 4)
    store = HistoryStore.open(sqlite_url(db))
    series = store.series("test_every_run_is_appended.py::test_perf", "throughput")
    assert [p.value for p in series] == [100.0, 100.0]
    assert series[0].samples == [99.0, 100.0, 101.0]
    assert series[0].status == "no baseline"
    with sqlite3.connect(db) as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_ini_key_and_plain_run_records_nothing(pytester: pytest.Pytester,
                                               tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    pytester.makeini(f"[pytest]\ncpuperf_history = {sqlite_url(db)}\n")
    pytester.makepyfile(PERF_TEST)
    pytester.runpytest().assert_outcomes(skipped=1)
    assert count_runs(db) == (0, 0)
    pytester.runpytest("--cpuperf").assert_outcomes(passed=1)
    assert count_runs(db) == (1, 2)


def outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith(("GITHUB_", "GITLAB", "CI_", "CPUPERF_"))]:
        monkeypatch.delenv(key)


def test_same_run_id_is_recorded_once(pytester: pytest.Pytester, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A retried CI job appends the same run again: it is kept once."""
    db = tmp_path / "history.db"
    pytester.makepyfile(PERF_TEST)
    outside_ci(monkeypatch)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/models")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_JOB", "perf")
    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    pytester.runpytest("--cpuperf", "--cpuperf-history", sqlite_url(db))
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    retry = pytester.runpytest("--cpuperf", "--cpuperf-history", sqlite_url(db))
    retry.stdout.fnmatch_lines(["*history: run github:acme/models:4242:perf:* was already "
                                "recorded*kept once"])
    assert count_runs(db) == (1, 2)
    (run,) = HistoryStore.open(sqlite_url(db)).runs()
    assert (run.commit, run.branch) == ("a" * 40, "main")
    assert run.ci_job == "https://github.com/acme/models/actions/runs/4242 job perf"


def test_newer_schema_is_refused_and_left_alone(pytester: pytest.Pytester,
                                                tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    HistoryStore.open(sqlite_url(db)).close()
    with sqlite3.connect(db) as conn:
        conn.execute("update cpuperf_meta set value = ? where key = 'schema_version'",
                     (str(SCHEMA_VERSION + 1),))
    before = db.read_bytes()
    pytester.makepyfile(PERF_TEST + "\nimport pathlib\n"
                        "def test_marker():\n    pathlib.Path('ran').touch()\n")
    result = pytester.runpytest("--cpuperf", "--cpuperf-history", sqlite_url(db))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*history sqlite:///*history.db has schema version "
                                 f"{SCHEMA_VERSION + 1}, newer than this pytest-cpuperf "
                                 f"understands ({SCHEMA_VERSION}); upgrade*"])
    assert not (pytester.path / "ran").exists()
    assert db.read_bytes() == before
    assert count_runs(db) == (0, 0)


@pytest.mark.parametrize(("url", "expected"), [
    ("mysql://db/history", "*unsupported database 'mysql'*"),
    ("not a url", "*is not a database URL*"),
    ("sqlite:///{tmp}/missing-dir/h.db", "*missing-dir does not exist; create it or fix the URL*"),
    ("postgresql://nobody@127.0.0.1:1/none", "*history database postgresql://nobody@127.0.0.1:1/"
                                             "none cannot be used: *"),
])
def test_bad_url_is_a_usage_error_before_any_test(pytester: pytest.Pytester, tmp_path: Path,
                                                  url: str, expected: str) -> None:
    pytester.makepyfile("import pathlib\ndef test_x():\n    pathlib.Path('ran').touch()\n")
    result = pytester.runpytest("--cpuperf", "--cpuperf-history", url.format(tmp=tmp_path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --cpuperf-history: {expected}"])
    assert "--cpuperf-history-optional" in result.stderr.str()
    assert not (pytester.path / "ran").exists()


def test_optional_history_warns_and_runs(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(PERF_TEST)
    # (an in-process pytester run of an editable install can add pytest's "already imported,
    # cannot be rewritten" warning about the plugin itself: not this test's subject)
    result = pytester.runpytest("--cpuperf", "--cpuperf-history", "mysql://db/history",
                                "--cpuperf-history-optional",
                                "-W", "ignore::pytest.PytestAssertRewriteWarning")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*cpuperf WARNING: history not recorded: --cpuperf-history: "
                                 "history URL 'mysql://db/history': unsupported database*"])


def test_plain_run_imports_no_sqlalchemy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    pytester.makeconftest("""
def pytest_sessionfinish(session):
    import sys
    print("SQLALCHEMY", "sqlalchemy" in sys.modules)
""")
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*SQLALCHEMY False*"])


KILLED_WRITER = """
import sys, time
from pytest_cpuperf.history.store import HistoryStore, HistoryRun, insert_run_row
from pytest_cpuperf.history.store import insert_metric_rows
from pytest_cpuperf.records.results import MetricRecord, MetricResult
from pytest_cpuperf.status import Status

store = HistoryStore.open(sys.argv[1])
records = [MetricRecord(f"t::{i}", "throughput", "throughput", "samples/s", 1.0)
           for i in range(20)]
results = [MetricResult(r, Status.PASS, "") for r in records]
run = HistoryRun("killed", "2026-01-01T00:00:00+00:00", "m", {}, {}, {}, results)
with store.engine.begin() as conn:
    insert_run_row(conn, run)
    insert_metric_rows(conn, run.run_id, results[:10])
    print("HALF WRITTEN", flush=True)
    time.sleep(60)
"""


def killed_mid_write(url: str, tmp_path: Path) -> None:
    """Run a writer that is killed (SIGKILL) with half a run written in its transaction."""
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, str(script), url], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "HALF WRITTEN"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_run_killed_mid_write_leaves_no_partial_run(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    killed_mid_write(sqlite_url(db), tmp_path)
    store = HistoryStore.open(sqlite_url(db))
    assert store.runs() == []
    assert count_runs(db) == (0, 0)


def test_reading_a_database_without_history_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="holds no pytest-cpuperf history"):
        HistoryStore.open(sqlite_url(tmp_path / "empty.db"), create=False)


def test_report_json_export_round_trips(tmp_path: Path) -> None:
    from pytest_cpuperf.history.context import RunContext
    from pytest_cpuperf.history.store import HistoryRun
    from pytest_cpuperf.records.results import MetricRecord, MetricResult, RunReport
    from pytest_cpuperf.status import Status

    record = MetricRecord("t::a", "throughput", "throughput", "samples/s", 50.0, [49.0, 51.0],
                          kernels={"sparse_layers": 3})
    report = RunReport(machine={"key": "m1"}, results=[
        MetricResult(record, Status.REGRESSION, "slower", change=-0.1, p_value=0.01)])
    store = HistoryStore.open(sqlite_url(tmp_path / "h.db"))
    store.append(HistoryRun.from_report(report, RunContext("r1", "c1", "main", None), {}))
    (data,) = store.run_reports(["r1"])
    back = RunReport.from_dict(json.loads(json.dumps(data)))
    (result,) = back.results
    assert (result.status, result.change, result.record.kernels) == (
        Status.REGRESSION, -0.1, {"sparse_layers": 3})
    assert data["history"]["branch"] == "main"


def test_xdist_controller_appends_one_run_with_every_worker_metric(pytester: pytest.Pytester,
                                                                    tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    pytester.makepyfile(PERF_TEST + PERF_TEST.replace("test_perf", "test_perf_two")
                        .replace("import pytest\n", ""))
    result = pytester.runpytest_subprocess("--cpuperf", "-n", "2", "--cpuperf-history",
                                           sqlite_url(db))
    result.assert_outcomes(passed=2)
    assert count_runs(db) == (1, 4)


def record_history(url: str, values: list[float], branch: str) -> None:
    """Runs of test_perf on this machine class, as earlier CI runs of ``branch`` stored them."""
    from pytest_cpuperf.history.context import RunContext
    from pytest_cpuperf.history.store import HistoryRun
    from pytest_cpuperf.isa import detect
    from pytest_cpuperf.records.results import MetricRecord, MetricResult, RunReport
    from pytest_cpuperf.status import Status
    from pytest_cpuperf.store.baselines import machine_info

    store = HistoryStore.open(url)
    for i, value in enumerate(values):
        record = MetricRecord("test_judged_against_history.py::test_perf", "throughput",
                              "throughput", "samples/s", value,
                              [value * f for f in (0.99, 1.0, 1.01, 0.995, 1.005)])
        report = RunReport(machine=machine_info(detect()), results=[
            MetricResult(record, Status.PASS, "")], created=f"2026-01-0{i + 1}T00:00:00+00:00")
        context = RunContext(f"{branch}-{i}", f"c{i}", branch, None)
        store.append(HistoryRun.from_report(report, context, {}))
    store.close()


JUDGED_TEST = """
import pytest

@pytest.mark.cpuperf
def test_perf(cpuperf):
    cpuperf.record("throughput", {value}, kind="throughput", unit="samples/s",
                   samples=[{value} * f for f in (0.99, 1.0, 1.01, 0.995, 1.005)])
"""


def test_judged_against_history(pytester: pytest.Pytester, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    outside_ci(monkeypatch)  # these runs then belong to no branch: never a baseline
    url = sqlite_url(tmp_path / "history.db")
    record_history(url, [100.0, 101.0, 99.0], "main")
    record_history(url, [50.0, 50.0, 50.0], "feature")  # other branches are not the baseline
    pytester.makepyfile(test_judged_against_history=JUDGED_TEST.format(value=60.0))
    slower = pytester.runpytest("--cpuperf", "--cpuperf-history", url,
                                "--cpuperf-baseline-from-history", "3")
    slower.assert_outcomes(failed=1)
    slower.stdout.fnmatch_lines(["*[[]regression[]]*"])
    same = pytester.runpytest("--cpuperf", "--cpuperf-baseline-from-history", "3",
                              "--cpuperf-history", url)
    same.assert_outcomes(failed=1)  # the slower run above is on no branch: not a baseline
    pytester.makepyfile(test_judged_against_history=JUDGED_TEST.format(value=100.0))
    ok = pytester.runpytest("--cpuperf", "--cpuperf-history", url,
                            "--cpuperf-baseline-from-history", "3")
    ok.assert_outcomes(passed=1)
    ok.stdout.fnmatch_lines(["*throughput*pass*"])


def test_baseline_from_history_needs_a_history(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(JUDGED_TEST.format(value=1.0))
    result = pytester.runpytest("--cpuperf", "--cpuperf-baseline-from-history", "3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cpuperf-baseline-from-history needs the history: add "
                                 "--cpuperf-history URL*"])


def test_forward_migration_runs_once_and_a_failing_one_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A history of this version opened by the next one is migrated in the opening
    transaction."""
    from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect

    from pytest_cpuperf.history import schema

    url = sqlite_url(tmp_path / "history.db")
    HistoryStore.open(url).close()
    added = Table("cpuperf_v2_extra", MetaData(), Column("id", Integer, primary_key=True))

    def broken(conn: Connection) -> None:
        added.create(conn)
        raise RuntimeError("migration bug")

    current = SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(schema.MIGRATIONS, current, broken)
    with pytest.raises(RuntimeError, match="migration bug"):
        HistoryStore.open(url)
    with sqlite3.connect(tmp_path / "history.db") as conn:
        assert conn.execute("select value from cpuperf_meta").fetchone()[0] == str(current)
    monkeypatch.setitem(schema.MIGRATIONS, current, added.create)
    store = HistoryStore.open(url)
    with store.engine.connect() as conn:
        assert schema.stored_version(conn) == current + 1
        assert inspect(conn).has_table("cpuperf_v2_extra")
    store.close()
