"""Schema migrations on real SQLite and PostgreSQL: an older history is migrated forward with
no run lost; a newer one is refused and left exactly as it was."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy.dialects.sqlite", reason="the history extra is not installed")

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    inspect,
    select,
    text,
    update,
)
from test_history_cli import cpuperf

from pytest_cpuperf.history import HistoryError, schema
from pytest_cpuperf.history.store import HistoryStore, parse_url

# -- the tables of schema version 1, frozen as they were (later versions must migrate them) ----
V1 = 1
v1_metadata = MetaData()
v1_meta = Table("cpuperf_meta", v1_metadata,
                Column("key", String(64), primary_key=True),
                Column("value", String(256), nullable=False))
v1_runs = Table(
    "cpuperf_runs", v1_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(200), nullable=False, unique=True),
    Column("created", String(40), nullable=False),
    Column("commit", String(64), nullable=True),
    Column("branch", String(200), nullable=True),
    Column("ci_job", String(500), nullable=True),
    Column("machine_key", String(200), nullable=False),
    Column("machine", JSON, nullable=False),
    Column("versions", JSON, nullable=False),
    Column("policy", JSON, nullable=False),
    Index("ix_cpuperf_runs_machine_created", "machine_key", "created"),
    Index("ix_cpuperf_runs_branch", "branch"))
v1_metrics = Table(
    "cpuperf_metrics", v1_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(200), ForeignKey("cpuperf_runs.run_id", ondelete="CASCADE"),
           nullable=False),
    Column("test_id", String(500), nullable=False),
    Column("metric", String(200), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("unit", String(40), nullable=False),
    Column("value", Float, nullable=False),
    Column("samples", JSON, nullable=False),
    Column("contention", JSON, nullable=False),
    Column("higher_is_better", Boolean, nullable=False),
    Column("kernels", JSON, nullable=True),
    Column("status", String(40), nullable=False),
    Column("change", Float, nullable=True),
    Column("p_value", Float, nullable=True),
    Index("ix_cpuperf_metrics_series", "test_id", "metric"),
    Index("ix_cpuperf_metrics_run", "run_id"))
RUNS = 12
TEST_ID = "tests/test_bert.py::test_dense"


def write_v1_history(url: str, version: int = V1) -> None:
    """A history as schema version 1 wrote it: RUNS runs of two metrics each."""
    engine = create_engine(parse_url(url))
    with engine.begin() as conn:
        v1_metadata.create_all(conn)
        conn.execute(insert(v1_meta).values(key="schema_version", value=str(version)))
        for i in range(RUNS):
            run_id = f"ci-{i}"
            conn.execute(insert(v1_runs).values(
                run_id=run_id, created=f"2026-03-{i + 1:02d}T00:00:00+00:00",
                commit=f"{i:040x}", branch="main", ci_job=None, machine_key="xeon-amx",
                machine={"key": "xeon-amx"}, versions={"openvino": "2026.4.1"},
                policy={"tolerance": 0.05}))
            conn.execute(insert(v1_metrics), [
                {"run_id": run_id, "test_id": TEST_ID, "metric": metric, "kind": metric,
                 "unit": unit, "value": value + i, "samples": [value + i, value + i + 1],
                 "contention": [0.0, 0.01], "higher_is_better": True, "kernels": None,
                 "status": "pass", "change": 0.01, "p_value": 0.5}
                for metric, unit, value in (("throughput", "samples/s", 100.0),
                                            ("accuracy", "", 0.9))])
    engine.dispose()


def snapshot(url: str) -> dict[str, Any]:
    """Every table's columns and rows and every index: what 'left unchanged' compares."""
    engine = create_engine(parse_url(url))
    with engine.connect() as conn:
        inspector = inspect(conn)
        tables = sorted(inspector.get_table_names())
        found = {name: {"columns": [c["name"] for c in inspector.get_columns(name)],
                        "indexes": sorted(i["name"] or "" for i in inspector.get_indexes(name)),
                        "rows": sorted(map(repr, conn.execute(
                            text(f'select * from "{name}"')).all()))}
                 for name in tables}
    engine.dispose()
    return found


def add_column_migration(conn: Connection) -> None:
    """A stand-in next step (this version -> the next): real DDL and a backfill, in the
    opening transaction like any migration, so a chain of steps runs for real."""
    conn.execute(text("ALTER TABLE cpuperf_runs ADD COLUMN source TEXT"))
    conn.execute(text("UPDATE cpuperf_runs SET source = 'pytest-cpuperf'"))
    conn.execute(text("CREATE INDEX ix_cpuperf_runs_source ON cpuperf_runs (source)"))




@pytest.fixture(params=["real", "next"])
def current_version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The version this code writes ("real"), or the next one with a stand-in step after
    every real one ("next"), so a chain of steps and a failure after a real step run too."""
    if request.param == "next":
        monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION, add_column_migration)
        monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    return schema.SCHEMA_VERSION


def test_older_history_is_migrated_with_no_run_lost(new_url: Callable[[str], str],
                                                    current_version: int) -> None:
    url = new_url("older")
    write_v1_history(url)
    before = snapshot(url)
    store = HistoryStore.open(url)
    with store.engine.connect() as conn:
        assert schema.stored_version(conn) == current_version
        columns = {c["name"] for c in inspect(conn).get_columns("cpuperf_runs")}
        migrated = conn.execute(select(v1_runs.c.run_id)).scalars().all()
        if add_column_migration in schema.MIGRATIONS.values():  # the stand-in ran, once
            sources = conn.execute(text("select source from cpuperf_runs")).scalars().all()
            assert sources == ["pytest-cpuperf"] * RUNS
    assert set(before["cpuperf_runs"]["columns"]) <= columns
    assert sorted(migrated) == sorted(f"ci-{i}" for i in range(RUNS))
    rows = store.runs()
    assert [r.run_id for r in rows] == [f"ci-{i}" for i in range(RUNS)]
    assert [r.metrics for r in rows] == [2] * RUNS
    assert [p.value for p in store.series(TEST_ID, "throughput")] == [100.0 + i
                                                                     for i in range(RUNS)]
    assert store.series(TEST_ID, "throughput")[-1].samples == [100.0 + RUNS - 1, 100.0 + RUNS]
    store.close()
    again = HistoryStore.open(url)  # migrated once: a second open changes nothing
    assert len(again.runs()) == RUNS
    again.close()


def test_newer_history_is_refused_and_left_unchanged(new_url: Callable[[str], str],
                                                     current_version: int) -> None:
    url = new_url("newer")
    write_v1_history(url, version=current_version + 1)
    before = snapshot(url)
    with pytest.raises(HistoryError, match=f"has schema version {current_version + 1}, newer "
                                           f"than this pytest-cpuperf understands "
                                           rf"\({current_version}\); upgrade"):
        HistoryStore.open(url)
    assert snapshot(url) == before


def test_a_failed_migration_leaves_the_older_history_as_it_was(
        new_url: Callable[[str], str], current_version: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = new_url("failed")
    write_v1_history(url)
    before = snapshot(url)
    last_step = current_version - 1
    real_step = schema.MIGRATIONS[last_step]

    def broken(conn: Connection) -> None:
        real_step(conn)
        conn.execute(update(v1_runs).values(branch="clobbered"))
        raise RuntimeError("migration bug")

    monkeypatch.setitem(schema.MIGRATIONS, last_step, broken)
    with pytest.raises(RuntimeError, match="migration bug"):
        HistoryStore.open(url)
    assert snapshot(url) == before


# -- version 1 -> 2: unbounded text, NaN stored as NULL with the verdict invalid ----------------

def add_legacy_non_finite_run(url: str) -> None:
    """One more run as version 1 stored a non-finite value: NaN on PostgreSQL, infinity on
    SQLite (which turns a NaN into NULL, refused by version 1's NOT NULL)."""
    engine = create_engine(parse_url(url))
    bad = math.nan if engine.dialect.name == "postgresql" else math.inf
    with engine.begin() as conn:
        conn.execute(insert(v1_runs).values(
            run_id="ci-bad", created="2026-03-31T00:00:00+00:00", commit="f" * 40,
            branch="main", ci_job=None, machine_key="xeon-amx", machine={"key": "xeon-amx"},
            versions={}, policy={}))
        conn.execute(insert(v1_metrics).values(
            run_id="ci-bad", test_id=TEST_ID, metric="throughput", kind="throughput",
            unit="samples/s", value=bad, samples=[1.0], contention=[], higher_is_better=True,
            kernels=None, status="pass", change=None, p_value=None))
    engine.dispose()


def stored_types(url: str, table: str) -> dict[str, tuple[str, bool]]:
    """``{column: (declared type, nullable)}`` as the database reports them."""
    engine = create_engine(parse_url(url))
    with engine.connect() as conn:
        found = {c["name"]: (str(c["type"]), bool(c["nullable"]))
                 for c in inspect(conn).get_columns(table)}
    engine.dispose()
    return found


def test_version_1_becomes_text_columns_and_keeps_nan_as_invalid(
        new_url: Callable[[str], str]) -> None:
    from pytest_cpuperf.history.context import RunContext
    from pytest_cpuperf.history.store import HistoryRun
    from pytest_cpuperf.records.results import MetricRecord, MetricResult, RunReport
    from pytest_cpuperf.status import Status

    url = new_url("v1_to_text")
    write_v1_history(url)
    add_legacy_non_finite_run(url)
    store = HistoryStore.open(url)  # the first write's open migrates
    assert store.found_version == V1
    tables = [schema.metrics] + ([schema.meta, schema.runs]
                                 if store.engine.dialect.name == "postgresql" else [])
    for table in tables:  # SQLite ignores declared lengths: its cpuperf_runs may keep them
        texts = {name for name, column in table.c.items() if str(column.type) == "TEXT"}
        types = stored_types(url, table.name)
        assert {name: types[name][0] for name in texts} == dict.fromkeys(texts, "TEXT")
    assert stored_types(url, "cpuperf_metrics")["value"][1]  # nullable: NaN is stored as NULL
    points = store.series(TEST_ID, "throughput")
    assert [p.value for p in points[:RUNS]] == [100.0 + i for i in range(RUNS)]
    assert (points[-1].value, points[-1].status) == (None, "invalid")
    long_test = "tests/t.py::test[" + "p" * 600 + "]"
    record = MetricRecord(long_test, "m" * 250, "throughput", "u" * 48, math.nan, [math.nan])
    report = RunReport(machine={"key": "xeon-amx"}, results=[
        MetricResult(record, Status.INVALID, "invalid")], created="2026-04-01T00:00:00+00:00")
    assert store.append(HistoryRun.from_report(report, RunContext("new", "c", "b" * 238, None),
                                               {}))
    (point,) = store.series(long_test, "m" * 250)
    assert (point.value, point.status, point.unit) == (None, "invalid", "u" * 48)
    assert len(store.runs()) == RUNS + 2
    store.close()


def test_migration_without_the_right_names_the_command(postgres_server: Callable[[str], str],
                                                        tmp_path: Path) -> None:
    pytest.importorskip("psycopg", reason="the history extra is not installed")
    url = postgres_server("migration_rights")
    write_v1_history(url)
    role = f"reader_{uuid.uuid4().hex[:12]}"
    engine = create_engine(parse_url(url))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    engine.dispose()
    reader = url.replace("cpuperf@", f"{role}@", 1)
    before = snapshot(url)
    with pytest.raises(HistoryError, match=r"has schema version 1 and must be migrated to 2, "
                                           r"which failed: .*; run `cpuperf history migrate "
                                           r"--history URL` as a user that may alter its "
                                           r"tables \(their owner\); the history was not "
                                           r"changed"):
        HistoryStore.open(reader, create=False)
    assert snapshot(url) == before
    out = cpuperf("runs", "--history", reader)
    assert out.returncode == 2 and "cpuperf history migrate" in out.stderr
    out = cpuperf("migrate", "--history", url)
    assert out.returncode == 0, out.stderr
    assert "migrated from schema version 1 to 2" in out.stdout
    out = cpuperf("runs", "--history", reader)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == f"{RUNS} run(s)"
    assert "nothing to migrate" in cpuperf("migrate", "--history", url).stdout


OPENER = """
import sys, time
from pathlib import Path
from pytest_cpuperf.history.store import HistoryStore, HistoryRun
from pytest_cpuperf.records.results import MetricRecord, MetricResult
from pytest_cpuperf.status import Status

url, writer, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
store = HistoryStore.open(url)
record = MetricRecord("t::a", "throughput", "throughput", "samples/s", 1.0, [1.0])
store.append(HistoryRun(f"new-{writer}", "2026-05-01T00:00:00+00:00", "m", {}, {}, {},
                        [MetricResult(record, Status.PASS, "")]))
print("FOUND", store.found_version)
"""


def test_concurrent_openers_migrate_once(new_url: Callable[[str], str], tmp_path: Path) -> None:
    url = new_url("concurrent")
    write_v1_history(url)
    script, go = tmp_path / "opener.py", tmp_path / "go"
    script.write_text(OPENER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, str(script), url, str(w), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for w in range(4)]
    time.sleep(1.0)  # every process started, waiting for the go
    go.touch()
    found = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        found.append(out.split()[-1])
    assert found.count(str(V1)) >= 1  # someone found version 1 and migrated it
    store = HistoryStore.open(url)
    assert store.found_version == schema.SCHEMA_VERSION
    assert len(store.runs()) == RUNS + 4
    assert [r.metrics for r in store.runs()] == [2] * RUNS + [1] * 4
    store.close()
