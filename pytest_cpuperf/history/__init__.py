"""Performance history of many runs (SQLite or PostgreSQL) and change-point detection over it.

Nothing here is imported by a plain ``pytest`` run: SQLAlchemy, psycopg and Apache Otava are
imported only when ``--cpuperf-history`` is given or ``cpuperf history`` runs.
"""

from __future__ import annotations


class HistoryError(RuntimeError):
    """The history database cannot be used; the message names the URL and the fix.

    Raised before anything is written: a history is never altered by a failed operation.
    """
