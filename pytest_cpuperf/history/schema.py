"""Tables of the history (SQLAlchemy Core), its schema version and forward migrations.

One schema on both stores: every string is unbounded ``text`` (SQLite ignores declared lengths,
PostgreSQL enforces them), and the columns that can be long (test ids, metric names, branches)
carry PostgreSQL hash indexes, whose entries have no size limit (a B-tree entry must fit in a
third of a page). The run id and machine key keep B-tree indexes (the run id is unique) and are
bounded by :data:`MAX_KEY_BYTES` on both stores, checked before anything is written.
"""

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
    Table,
    Text,
    insert,
    inspect,
    select,
    text,
    update,
)

from . import HistoryError

SCHEMA_VERSION = 2
"""Version this pytest-cpuperf writes; a history of a higher version is refused, never altered."""
MAX_KEY_BYTES = 2000
"""Longest run id and machine key (UTF-8 bytes) on either store: PostgreSQL's B-tree entries
hold at most 2704 bytes."""
MIGRATE_COMMAND = "cpuperf history migrate --history URL"

metadata = MetaData()

meta = Table(
    "cpuperf_meta", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "cpuperf_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Text, nullable=False, unique=True),
    Column("created", Text, nullable=False),
    Column("commit", Text, nullable=True),
    Column("branch", Text, nullable=True),
    Column("ci_job", Text, nullable=True),
    Column("machine_key", Text, nullable=False),
    Column("machine", JSON, nullable=False),
    Column("versions", JSON, nullable=False),
    Column("policy", JSON, nullable=False),
    Index("ix_cpuperf_runs_machine_created", "machine_key", "created"),
    Index("ix_cpuperf_runs_branch", "branch", postgresql_using="hash"),
)

metrics = Table(
    "cpuperf_metrics", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Text, ForeignKey("cpuperf_runs.run_id", ondelete="CASCADE"),
           nullable=False),
    Column("test_id", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("value", Float, nullable=True),  # NULL: NaN or infinite (its status: invalid)
    Column("samples", JSON, nullable=False),
    Column("contention", JSON, nullable=False),
    Column("higher_is_better", Boolean, nullable=False),
    Column("kernels", JSON, nullable=True),
    Column("status", Text, nullable=False),
    Column("message", Text, nullable=True),
    Column("change", Float, nullable=True),
    Column("p_value", Float, nullable=True),
    Index("ix_cpuperf_metrics_test", "test_id", postgresql_using="hash"),
    Index("ix_cpuperf_metrics_run", "run_id"),
)

Migration = Callable[[Connection], None]
INVALID_REASON = "its value or a sample is NaN or infinite"
"""The stored message of a metric whose value could not be kept (the gate's reason)."""


def _alter_columns_to_text(conn: Connection) -> None:
    """PostgreSQL: every ``varchar(n)`` of version 1 becomes ``text`` (no table rewrite)."""
    for table in (meta, runs, metrics):
        stored = {c["name"] for c in inspect(conn).get_columns(table.name)}
        changes = ", ".join(f'ALTER COLUMN "{c.name}" TYPE text' for c in table.columns
                            if isinstance(c.type, Text) and c.name in stored)
        conn.execute(text(f"ALTER TABLE {table.name} {changes}"))


def _invalidate_non_finite(conn: Connection, condition: str) -> None:
    """A value version 1 stored as NaN or infinity becomes NULL with the verdict ``invalid``."""
    conn.execute(text(f"UPDATE cpuperf_metrics SET value = NULL, status = 'invalid', "
                      f"message = :reason WHERE {condition}"), {"reason": INVALID_REASON})


def _postgresql_v1_to_v2(conn: Connection) -> None:
    """Text columns, a nullable value, the message column, and hash indexes on the columns
    that can be long."""
    _alter_columns_to_text(conn)
    conn.execute(text("ALTER TABLE cpuperf_metrics ALTER COLUMN value DROP NOT NULL"))
    conn.execute(text("ALTER TABLE cpuperf_metrics ADD COLUMN message text"))
    _invalidate_non_finite(conn, "value IN ('NaN', 'Infinity', '-Infinity')")
    conn.execute(text("DROP INDEX ix_cpuperf_metrics_series"))
    conn.execute(text("DROP INDEX ix_cpuperf_runs_branch"))
    for index in (*metrics.indexes, *runs.indexes):
        if index.name in ("ix_cpuperf_metrics_test", "ix_cpuperf_runs_branch"):
            index.create(conn)


METRIC_COLUMNS_V1 = ("id", "run_id", "test_id", "metric", "kind", "unit", "value", "samples",
                     "contention", "higher_is_better", "kernels", "status", "change", "p_value")


def _sqlite_v1_to_v2(conn: Connection) -> None:
    """SQLite cannot drop a NOT NULL: ``cpuperf_metrics`` is rebuilt and its rows copied (it is
    no table's parent). Declared lengths mean nothing to SQLite: the other tables stay."""
    conn.execute(text("DROP INDEX ix_cpuperf_metrics_series"))
    conn.execute(text("DROP INDEX ix_cpuperf_metrics_run"))
    conn.execute(text("ALTER TABLE cpuperf_metrics RENAME TO cpuperf_metrics_v1"))
    metrics.create(conn)
    columns = ", ".join(f'"{c}"' for c in METRIC_COLUMNS_V1)
    conn.execute(text(f"INSERT INTO cpuperf_metrics ({columns}) SELECT {columns} "
                      f"FROM cpuperf_metrics_v1"))
    conn.execute(text("DROP TABLE cpuperf_metrics_v1"))
    _invalidate_non_finite(conn, "abs(value) > 1.7976931348623157e308")  # SQLite keeps +-inf


def _v1_to_v2(conn: Connection) -> None:
    """Version 2: unbounded text columns, a nullable value (NaN is stored as NULL, its status
    ``invalid``) and the verdict's message."""
    if conn.dialect.name == "postgresql":
        _postgresql_v1_to_v2(conn)
    else:
        _sqlite_v1_to_v2(conn)


MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2}
"""``MIGRATIONS[n]`` brings a history of schema version ``n`` to ``n + 1``, in one transaction."""


def stored_version(conn: Connection) -> int | None:
    """The schema version recorded in the database, or ``None`` for a database without one."""
    if not inspect(conn).has_table(meta.name):
        return None
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return None if value is None else int(value)


def lock_for_migration(conn: Connection) -> None:
    """Take the migration lock as a transaction's FIRST statement (PostgreSQL; SQLite's BEGIN
    IMMEDIATE already serialises writers): of two processes opening an older history at once,
    the second waits holding nothing, then reads the version the first wrote."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE cpuperf_meta IN ACCESS EXCLUSIVE MODE"))


def _cannot_migrate(shown_url: str, version: int, exc: Exception) -> HistoryError:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return HistoryError(
        f"history {shown_url} has schema version {version} and must be migrated to "
        f"{SCHEMA_VERSION}, which failed: {lines[0] if lines else type(exc).__name__}; run "
        f"`{MIGRATE_COMMAND}` as a user that may alter its tables (their owner); the history "
        f"was not changed")


def migrate(conn: Connection, shown_url: str, version: int) -> None:
    """Migrate a history found at ``version`` (older than this one), the lock taken first;
    a database that refuses (no right to alter the tables...) raises a HistoryError naming
    the command that migrates it."""
    from sqlalchemy.exc import DBAPIError

    try:
        lock_for_migration(conn)
    except DBAPIError as exc:
        raise _cannot_migrate(shown_url, version, exc) from exc
    ensure_schema(conn, shown_url)


def _migrate(conn: Connection, version: int, shown_url: str) -> None:
    from sqlalchemy.exc import DBAPIError

    for step in range(version, SCHEMA_VERSION):
        try:
            MIGRATIONS[step](conn)
        except DBAPIError as exc:
            raise _cannot_migrate(shown_url, version, exc) from exc
        conn.execute(update(meta).where(meta.c.key == "schema_version")
                     .values(value=str(step + 1)))


def ensure_schema(conn: Connection, shown_url: str) -> int:
    """Create or migrate the tables inside the caller's transaction; returns the version.

    A history written by a newer schema raises :class:`HistoryError` and is left untouched.
    A migration's transaction starts with :func:`lock_for_migration`.
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
    _migrate(conn, version, shown_url)
    return SCHEMA_VERSION
