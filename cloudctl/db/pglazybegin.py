"""PostgreSQL sessions begin their transaction at their first statement that needs one.

psycopg opens a transaction with a BEGIN of its own round trip before a session's
first statement, and ends it with a COMMIT or ROLLBACK, another round trip: a session
that only reads (DescribeVolumes, a credential load, a controller's poll) made three
round trips for its one SELECT, each a wait for the worker's busy event loop
(bench/results/load.md). Here a plain SELECT run while no transaction is open runs
without one (as in autocommit: its own implicit transaction); the BEGIN goes out before
the session's first other statement (a write, ``SELECT ... FOR UPDATE``, an advisory
lock, ``SET TRANSACTION``, a savepoint), and a session that never sent one ends without
a round trip (psycopg skips COMMIT and ROLLBACK on an idle connection).

At READ COMMITTED, the isolation the engine runs at, this changes no answer: every
statement takes a snapshot of its own whether or not a transaction is open, and a
transaction's own changes come only after its first write, where the BEGIN now goes. A
plain SELECT holds no lock that outlives it either way. What differs: ``now()`` in
the reads before the BEGIN is each statement's start, not one transaction's. Kept
unchanged (BEGIN first, as psycopg does): a connection set to another isolation
level, read-only or deferrable; a SELECT that locks rows, takes an advisory lock,
writes a sequence or a setting, or stores into a table; any other statement.

Installed as the engine's psycopg cursor (``cursor_factory``); server-side cursors
(their DECLARE needs a transaction) keep psycopg's own. A statement's text is
classified once (``_VERDICTS``): the pattern search over an ORM SELECT of ~1.3 KB took
~0.47 ms, more than a worker's whole share of a small request's round trip, and
SQLAlchemy sends the same few hundred statement texts again and again.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg.abc import PQGen

# what makes a SELECT need the transaction open around it (word-wise, any case)
_NEEDS_TRANSACTION = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b|\bINTO\b|pg_advisory"
    r"|\bnextval\b|\bsetval\b|\bset_config\b|\bpg_notify\b|\btxid_current|\bpg_current_xact_id"
    r"|\blo_\w+|\bpg_try_advisory",
    re.IGNORECASE)


_VERDICTS: dict[str, bool] = {}  # statement text -> reads_without_transaction
_VERDICTS_KEPT = 4096  # distinct texts remembered (then forgotten all at once)


def reads_without_transaction(query: Any) -> bool:
    """Whether ``query`` is a plain SELECT that may run with no transaction open."""
    if isinstance(query, bytes):
        query = query.decode(errors="replace")
    if not isinstance(query, str):
        return False  # a composed statement (psycopg.sql): left to psycopg
    verdict = _VERDICTS.get(query)
    if verdict is None:
        verdict = _classify(query)
        if len(_VERDICTS) >= _VERDICTS_KEPT:
            _VERDICTS.clear()
        _VERDICTS[query] = verdict
    return verdict


def _classify(query: str) -> bool:
    head = query.lstrip()[:7].upper()
    if head != "SELECT " and head != "SELECT\n" and head != "SELECT\t":
        return False
    return _NEEDS_TRANSACTION.search(query) is None


def runs_lazily(conn: psycopg.AsyncConnection[Any], query: Any) -> bool:
    """Whether ``query`` on ``conn`` now runs with no transaction open (no BEGIN)."""
    return (not conn.autocommit and query is not None and reads_without_transaction(query)
            and conn.isolation_level in (None, IsolationLevel.READ_COMMITTED)
            and conn.read_only is None and conn.deferrable is None
            and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)


class LazyBeginCursor(psycopg.AsyncCursor[Any]):
    """A client-side cursor that sends no BEGIN before a plain read; see the module."""

    def _start_query(self, query: Any = None) -> PQGen[None]:
        conn = self._conn
        if not runs_lazily(conn, query):
            yield from super()._start_query(query)
            return
        # psycopg's own start, minus its BEGIN: it sends one unless in autocommit, and
        # in autocommit it returns before its first yield (nothing else runs meanwhile)
        conn._autocommit = True
        try:
            yield from super()._start_query(query)
        finally:
            conn._autocommit = False
