"""The history database: open a URL, append runs (one transaction each), read runs and series.

``sqlite:///path`` is the embedded default (WAL mode and a busy timeout, so xdist workers and
parallel jobs can write); ``postgresql://...`` serves a fleet of runners (psycopg 3).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records.results import (
    REPORT_SCHEMA,
    REPORT_SCHEMA_VERSION,
    BaselineRecord,
    BaselineRun,
    MetricResult,
    RunReport,
    is_finite,
    json_safe,
)
from . import HistoryError
from .context import RunContext

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.engine import URL

SQLITE_BUSY_TIMEOUT_MS = 60_000
CONNECT_TIMEOUT_S = 10
URL_FORMS = "sqlite:///relative/path.db, sqlite:////absolute/path.db or postgresql://user@host/db"


@dataclass
class HistoryRun:
    """One pytest session as the history keeps it."""

    run_id: str
    created: str
    machine_key: str
    machine: dict[str, Any]
    versions: dict[str, str]
    policy: dict[str, Any]
    results: list[MetricResult]
    commit: str | None = None
    branch: str | None = None
    ci_job: str | None = None

    @classmethod
    def from_report(cls, report: RunReport, context: RunContext,
                    policy: dict[str, Any]) -> HistoryRun:
        return cls(run_id=context.run_id, created=report.created,
                   machine_key=str(report.machine.get("key", "unknown")),
                   machine=dict(report.machine), versions=dict(report.versions),
                   policy=dict(policy), results=list(report.results), commit=context.commit,
                   branch=context.branch, ci_job=context.ci_job)


@dataclass(frozen=True)
class RunRow:
    """A stored run, without its metrics."""

    run_id: str
    created: str
    commit: str | None
    branch: str | None
    ci_job: str | None
    machine_key: str
    metrics: int = 0
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Point:
    """One run's value of one metric: a point of a series."""

    run_id: str
    created: str
    commit: str | None
    branch: str | None
    machine_key: str
    value: float | None
    """None when the run's value was NaN or infinite (its status is then ``invalid``)."""
    samples: list[float]
    status: str
    unit: str
    higher_is_better: bool = True

    @property
    def valid(self) -> bool:
        """Whether the value can be charted and tested: finite, its verdict not ``invalid``."""
        return self.value is not None and math.isfinite(self.value) and self.status != INVALID


INVALID = "invalid"
"""The stored status of a metric whose value or a sample is NaN or infinite."""
PERCENT_ENCODING = ("percent-encode the user name and password: write '@' as %40, ':' as %3A, "
                    "'/' as %2F and '%' as %25 (Python: urllib.parse.quote(password, safe=''))")


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or None when it is NULL, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_url(text: str) -> URL:
    """The SQLAlchemy URL of ``text`` with our drivers; HistoryError naming it when it is bad."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    shown = repr(shown_url(text))
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise HistoryError(f"history URL {shown} is not a database URL; use one of "
                           f"{URL_FORMS}") from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        if "@" in (url.host or ""):
            raise HistoryError(f"history URL {shown}: its user name or password holds an '@' "
                               f"that is not percent-encoded, so where the host starts is "
                               f"unclear; {PERCENT_ENCODING}")
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise HistoryError(f"history URL {shown} names no file; a history must outlive "
                               f"the run: use {URL_FORMS}")
        parent = Path(url.database).expanduser().resolve().parent
        if not parent.is_dir():
            raise HistoryError(f"history URL {shown}: directory {parent} does not exist; "
                               f"create it or fix the URL")
        return url.set(drivername="sqlite+pysqlite")
    raise HistoryError(f"history URL {shown}: unsupported database {backend!r}; use one of "
                       f"{URL_FORMS}")


QUERY_PASSWORD = re.compile(r"(?i)([?&](?:password|passwd)=)([^&#]*)")


def shown_url(text: str) -> str:
    """``text`` as the user wrote it, its password hidden: everything between the first ``:``
    of the user part and the LAST ``@`` (so an unescaped ``@`` in a password hides its rest
    too), and a ``password=`` query parameter."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    user_end = rest.rfind("@")
    if user_end >= 0 and ":" in rest[:user_end]:
        rest = rest[:rest.index(":")] + ":***" + rest[user_end:]
    return QUERY_PASSWORD.sub(r"\1***", scheme + sep + rest)


def _without_password(message: str, text: str) -> str:
    """``message`` with every trace of the password in ``text`` hidden (a driver's message may
    quote what it took for a host)."""
    from urllib.parse import unquote

    secret = text.partition("://")[2]
    secret = secret[:secret.rfind("@")].partition(":")[2] if "@" in secret else ""
    queried = [value for _, value in QUERY_PASSWORD.findall(text)]
    parts = {secret, unquote(secret), *secret.split("@"), *queried, *map(unquote, queried)}
    for part in sorted((p for p in parts if len(p) >= 3), key=len, reverse=True):
        message = message.replace(part, "***")
    return message


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # the driver's own transaction handling lets DDL commit on its own: SQLAlchemy begins
    # every transaction instead (_sqlite_begin), so creating or migrating tables is atomic too
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Take the write lock at BEGIN: waiting (busy timeout) then beats failing at the first
    write when another writer went first."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _engine(url: URL) -> Engine:
    from sqlalchemy import create_engine, event

    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


class HistoryStore:
    """An opened history: its schema checked (created or migrated) before anything is written."""

    def __init__(self, engine: Engine, shown_url: str, found_version: int | None = None) -> None:
        self.engine = engine
        self.url = shown_url
        self.found_version = found_version
        """The schema version the database had when opened (None: created by this open)."""

    @classmethod
    def open(cls, text: str, *, create: bool = True) -> HistoryStore:
        """Connect to ``text`` and check its schema; HistoryError naming the URL and the fix."""
        from sqlalchemy.exc import SQLAlchemyError

        url = parse_url(text)
        shown = shown_url(text)
        engine = _engine(url)
        try:
            found = cls._prepare(engine, shown, create)
        except SQLAlchemyError as exc:
            engine.dispose()
            reason = _without_password(first_line(exc), text)
            raise HistoryError(f"history database {shown} cannot be used: {reason}; check the "
                               f"URL, that the server runs and accepts this user") from exc
        except HistoryError:
            engine.dispose()
            raise
        return cls(engine, shown, found)

    @staticmethod
    def _prepare(engine: Engine, shown: str, create: bool) -> int | None:
        """Create or migrate the schema; the version found (None: created now)."""
        from sqlalchemy.exc import DBAPIError

        from .schema import SCHEMA_VERSION, ensure_schema, migrate, stored_version

        for attempt in range(3):  # two runners creating the tables at once: one wins, re-read
            try:
                with engine.begin() as conn:
                    found = stored_version(conn)
                    if not create and found is None:
                        raise HistoryError(f"history {shown} holds no pytest-cpuperf history "
                                           f"(no runs recorded yet?)")
                    if found is None or found >= SCHEMA_VERSION:
                        ensure_schema(conn, shown)
                        return found
                with engine.begin() as conn:  # older: migrated under a lock, taken first
                    migrate(conn, shown, found)
                return found
            except DBAPIError:
                if attempt == 2:
                    raise
        return None

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------

    def append(self, run: HistoryRun) -> bool:
        """Store ``run`` and its metrics in ONE transaction; False if its run id is stored.

        A metric whose value or a sample is NaN or infinite is stored with the verdict
        ``invalid`` and its value NULL; the rest of the run is stored as it is."""
        from sqlalchemy.exc import IntegrityError

        check_keys(run)
        try:
            with self.engine.begin() as conn:
                insert_run_row(conn, run)
                insert_metric_rows(conn, run.run_id, run.results)
        except IntegrityError:
            if self.has_run(run.run_id):
                return False
            raise
        return True

    def has_run(self, run_id: str) -> bool:
        from sqlalchemy import select

        from .schema import runs

        with self.engine.connect() as conn:
            found = conn.execute(select(runs.c.id).where(runs.c.run_id == run_id)).first()
        return found is not None

    # -- reading ---------------------------------------------------------------------------

    def runs(self, *, branch: str | None = None, machine: str | None = None,
             since: str | None = None, until: str | None = None,
             limit: int | None = None) -> list[RunRow]:
        """Stored runs, oldest first (the newest ``limit`` ones when given)."""
        from sqlalchemy import func, select

        from .schema import metrics, runs

        count = (select(func.count()).where(metrics.c.run_id == runs.c.run_id)
                 .scalar_subquery())
        query = select(runs, count.label("metric_count"))
        query = _filtered(query, runs, branch=branch, machine=machine, since=since, until=until)
        query = query.order_by(runs.c.created.desc(), runs.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [RunRow(run_id=r["run_id"], created=r["created"], commit=r["commit"],
                       branch=r["branch"], ci_job=r["ci_job"], machine_key=r["machine_key"],
                       metrics=int(r["metric_count"]), versions=dict(r["versions"] or {}))
                for r in reversed(rows)]

    def series(self, test: str, metric: str, *, machine: str | None = None,
               branch: str | None = None) -> list[Point]:
        """The values of ``test``/``metric`` over the runs, oldest first."""
        from sqlalchemy import select

        from .schema import metrics, runs

        query = (select(runs.c.run_id, runs.c.created, runs.c.commit, runs.c.branch,
                        runs.c.machine_key, metrics.c.value, metrics.c.samples,
                        metrics.c.status, metrics.c.unit, metrics.c.higher_is_better)
                 .join(metrics, metrics.c.run_id == runs.c.run_id)
                 .where(metrics.c.test_id == test, metrics.c.metric == metric))
        query = _filtered(query, runs, branch=branch, machine=machine)
        query = query.order_by(runs.c.created, runs.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Point(run_id=r["run_id"], created=r["created"], commit=r["commit"],
                      branch=r["branch"], machine_key=r["machine_key"],
                      value=finite_or_none(r["value"]), samples=_floats(r["samples"]),
                      status=r["status"], unit=r["unit"],
                      higher_is_better=bool(r["higher_is_better"]))
                for r in rows]

    def series_keys(self) -> list[tuple[str, str]]:
        """Every (test id, metric) recorded."""
        from sqlalchemy import select

        from .schema import metrics

        query = select(metrics.c.test_id, metrics.c.metric).distinct()
        with self.engine.connect() as conn:
            return sorted((r[0], r[1]) for r in conn.execute(query))

    def baseline_records(self, machine: str, branch: str,
                         last: int) -> dict[str, dict[str, BaselineRecord]]:
        """``records[test][metric]`` from the last ``last`` runs of ``branch`` on ``machine``,
        oldest run first: what a baseline file would hold had those runs updated it."""
        from sqlalchemy import select

        from .schema import metrics, runs

        recent = [r.run_id for r in self.runs(branch=branch, machine=machine, limit=last)]
        query = (select(metrics, runs.c.created, runs.c.versions)
                 .join(runs, metrics.c.run_id == runs.c.run_id)
                 .where(metrics.c.run_id.in_(recent)).order_by(runs.c.created, runs.c.id))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return _baseline_records(rows)

    def run_reports(self, run_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Each run as a report dict (the ``--cpuperf-report`` JSON schema) plus its context."""
        from sqlalchemy import select

        from .schema import metrics, runs

        with self.engine.connect() as conn:
            for run_id in run_ids:
                run = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().one()
                rows = conn.execute(select(metrics).where(metrics.c.run_id == run_id)
                                    .order_by(metrics.c.test_id, metrics.c.metric)).mappings()
                results = [_result_dict(dict(row), run["created"]) for row in rows]
                summary: dict[str, int] = {}
                for result in results:
                    summary[result["status"]] = summary.get(result["status"], 0) + 1
                yield {"schema": REPORT_SCHEMA, "schema_version": REPORT_SCHEMA_VERSION,
                       "created": run["created"], "machine": run["machine"],
                       "versions": run["versions"], "summary": summary, "results": results,
                       "history": {"run_id": run_id, "commit": run["commit"],
                                   "branch": run["branch"], "ci_job": run["ci_job"],
                                   "policy": run["policy"]}}


def first_line(exc: BaseException) -> str:
    """The driver's own message (first line) of a database error: no SQL, no parameters."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _floats(values: Any) -> list[float]:
    """A stored JSON list of numbers; ``null`` (a non-finite number) reads as NaN."""
    return [math.nan if v is None else float(v) for v in values or []]


def _usable_baseline(row: Mapping[str, Any]) -> bool:
    """A baseline refuses NaN: a stored value that is NULL, non-finite or judged invalid (or a
    non-finite sample) is no baseline."""
    samples = [*_floats(row["samples"]), *_floats(row["contention"])]
    return (row["status"] != INVALID and finite_or_none(row["value"]) is not None
            and all(math.isfinite(s) for s in samples))


def _baseline_records(rows: Sequence[Any]) -> dict[str, dict[str, BaselineRecord]]:

    records: dict[str, dict[str, BaselineRecord]] = {}
    for row in filter(_usable_baseline, rows):
        run = BaselineRun(value=float(row["value"]), samples=list(row["samples"] or []),
                          date=row["created"], versions=dict(row["versions"] or {}),
                          contention=list(row["contention"] or []))
        metrics = records.setdefault(row["test_id"], {})
        if row["metric"] in metrics:
            metrics[row["metric"]].runs.append(run)
        else:
            metrics[row["metric"]] = BaselineRecord(
                kind=row["kind"], unit=row["unit"], higher_is_better=row["higher_is_better"],
                runs=[run])
    return records


def _filtered(query: Any, runs: Any, *, branch: str | None = None, machine: str | None = None,
              since: str | None = None, until: str | None = None) -> Any:
    if branch:
        query = query.where(runs.c.branch == branch)
    if machine:
        query = query.where(runs.c.machine_key == machine)
    if since:
        query = query.where(runs.c.created >= since)
    if until:
        query = query.where(runs.c.created <= until)
    return query


def _result_dict(row: dict[str, Any], created: str) -> dict[str, Any]:
    """A stored metric as the report JSON's result entry (no baseline: it is not kept); a
    non-finite number is ``null``, as in the report JSON."""

    relative = row["kind"] not in ("accuracy", "agreement")
    return json_safe({
        "test_id": row["test_id"], "metric": row["metric"], "status": row["status"],
        "message": row.get("message") or "", "baseline": None, "baseline_value": None,
        "change": row["change"], "change_kind": "relative" if relative else "absolute",
        "ci": None, "p_value": row["p_value"], "tolerance": None, "noise": None,
        "current": {"test_id": row["test_id"], "metric": row["metric"], "kind": row["kind"],
                    "unit": row["unit"], "value": row["value"], "samples": row["samples"],
                    "contention": row["contention"],
                    "higher_is_better": row["higher_is_better"], "kernels": row["kernels"],
                    "date": created}})


def check_keys(run: HistoryRun) -> None:
    """HistoryError before anything is written when the run id or machine key is longer than
    either store keeps (:data:`~.schema.MAX_KEY_BYTES`, the same on both)."""
    from .schema import MAX_KEY_BYTES

    for name, value, fix in (
            ("run id", run.run_id, "set CPUPERF_RUN_ID to a shorter id (on CI the id is made "
                                   "of the pipeline, the job and the machine key)"),
            ("machine key", run.machine_key, "a machine key is made of the CPU's model name "
                                             "and should be far shorter; report this")):
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_KEY_BYTES:
            raise HistoryError(f"the {name} is {size} bytes long (UTF-8); a history keeps at "
                               f"most {MAX_KEY_BYTES}: {fix} (nothing was written)")


def insert_run_row(conn: Connection, run: HistoryRun) -> None:
    """Insert the run itself first: a second append of its id fails here, before any metric."""
    from sqlalchemy import insert

    from .schema import runs

    conn.execute(insert(runs).values(
        run_id=run.run_id, created=run.created, commit=run.commit, branch=run.branch,
        ci_job=run.ci_job, machine_key=run.machine_key, machine=json_safe(run.machine),
        versions=json_safe(run.versions), policy=json_safe(run.policy)))


def storable(text: str) -> str:
    """``text`` as a database takes it: a lone surrogate (an undecodable file name's
    ``surrogateescape``) becomes its ``\\udcff`` escape instead of failing the insert."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def metric_row(run_id: str, result: MetricResult) -> dict[str, Any]:
    """The stored row of ``result``: a non-finite value, sample or factor makes its verdict
    ``invalid`` (as the gate judges it) with the reason, its value NULL and JSON ``null``s."""
    from .schema import INVALID_REASON

    record = result.record
    status, message = result.status.value, result.message
    if not is_finite(record.value, [*record.samples, *record.contention]):
        if status != INVALID:
            status, message = INVALID, f"{record.metric} of {record.test_id} is invalid"
        if INVALID_REASON not in message:
            message = f"{message}: {INVALID_REASON}" if message else INVALID_REASON
    return {"run_id": run_id, "test_id": storable(record.test_id),
            "metric": storable(record.metric), "kind": record.kind,
            "unit": storable(record.unit), "value": finite_or_none(record.value),
            "samples": json_safe([float(s) for s in record.samples]),
            "contention": json_safe([float(c) for c in record.contention]),
            "higher_is_better": bool(record.higher_is_better),
            "kernels": json_safe(record.kernels), "status": status,
            "message": storable(message) or None,
            "change": finite_or_none(result.change), "p_value": finite_or_none(result.p_value)}


def insert_metric_rows(conn: Connection, run_id: str, results: Sequence[MetricResult]) -> None:
    from sqlalchemy import insert

    from .schema import metrics

    rows = [metric_row(run_id, r) for r in results]
    if rows:
        conn.execute(insert(metrics), rows)
