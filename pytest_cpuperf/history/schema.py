"""Tables of the history (SQLAlchemy Core), its schema version and forward migrations."""

from __future__ import annotations

from collections.abc import Callable

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
    insert,
    inspect,
    select,
    update,
)

from . import HistoryError

SCHEMA_VERSION = 1
"""Version this pytest-cpuperf writes; a history of a higher version is refused, never altered."""

metadata = MetaData()

meta = Table(
    "cpuperf_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

runs = Table(
    "cpuperf_runs", metadata,
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
    Index("ix_cpuperf_runs_branch", "branch"),
)

metrics = Table(
    "cpuperf_metrics", metadata,
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
    Index("ix_cpuperf_metrics_run", "run_id"),
)

Migration = Callable[[Connection], None]
MIGRATIONS: dict[int, Migration] = {}
"""``MIGRATIONS[n]`` brings a history of schema version ``n`` to ``n + 1``, in one transaction."""


def stored_version(conn: Connection) -> int | None:
    """The schema version recorded in the database, or ``None`` for a database without one."""
    if not inspect(conn).has_table(meta.name):
        return None
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return None if value is None else int(value)


def ensure_schema(conn: Connection, shown_url: str) -> int:
    """Create or migrate the tables inside the caller's transaction; returns the version.

    A history written by a newer schema raises :class:`HistoryError` and is left untouched.
    """
    version = stored_version(conn)
    if version is None:
        metadata.create_all(conn)
        conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
        return SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"history {shown_url} has schema version {version}, newer than this pytest-cpuperf "
            f"understands ({SCHEMA_VERSION}); upgrade pytest-cpuperf to use it (the history was "
            f"not changed)")
    for step in range(version, SCHEMA_VERSION):
        MIGRATIONS[step](conn)
        conn.execute(update(meta).where(meta.c.key == "schema_version")
                     .values(value=str(step + 1)))
    return SCHEMA_VERSION
