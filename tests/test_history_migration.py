"""Schema migrations on real SQLite and PostgreSQL: an older history is migrated forward with
no run lost; a newer one is refused and left exactly as it was."""

from __future__ import annotations

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
    """Version 1 -> 2 for the test while the project has one version: real DDL and a backfill,
    in the opening transaction like any migration."""
    conn.execute(text("ALTER TABLE cpuperf_runs ADD COLUMN source VARCHAR(40)"))
    conn.execute(text("UPDATE cpuperf_runs SET source = 'pytest-cpuperf'"))
    conn.execute(text("CREATE INDEX ix_cpuperf_runs_source ON cpuperf_runs (source)"))


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``new_url(name)``: the URL of a fresh, empty database on a real server of the kind."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / name}.db"
    pytest.importorskip("psycopg", reason="the history extra is not installed")
    server: Callable[[str], str] = request.getfixturevalue("postgres_server")
    return lambda name: server(f"migration_{name}")


@pytest.fixture
def current_version(monkeypatch: pytest.MonkeyPatch) -> int:
    """The version this code writes; with a single real version, a test step 1 -> 2 stands in
    for the next one so the migration path runs for real."""
    if schema.SCHEMA_VERSION == V1:
        monkeypatch.setattr(schema, "SCHEMA_VERSION", V1 + 1)
        monkeypatch.setitem(schema.MIGRATIONS, V1, add_column_migration)
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
        if schema.MIGRATIONS.get(V1) is add_column_migration:  # the stand-in step ran, once
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
