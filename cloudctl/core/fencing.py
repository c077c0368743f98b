"""Fencing: a controller's write transaction commits only under its current term.

A leader elected through ZooKeeper holds a *term*: its controller kind and an epoch
(the sequence number of its election znode, recorded in ``leader_terms`` when it took
over; a later leader's epoch is always larger). While a reconciler syncs, its term sits
in the context variable ``TERM`` (the reconcile base sets it; tasks a sync starts
inherit it). Every ORM session of the process is watched (``install``): a transaction
that wrote anything while a term was current runs, just before its COMMIT and inside
it, ``UPDATE leader_terms SET epoch = epoch WHERE kind = :kind AND epoch = :epoch``. Zero
rows means a newer leader has claimed the kind: the commit is refused (``Fenced``) and
the transaction rolls back. On PostgreSQL the UPDATE also locks the term's row until the
commit, so a takeover (which updates that row) is ordered entirely before or after the
old leader's transaction; on SQLite the database's single writer does the same.

Writes outside an ORM session (a raw ``engine.begin()``) are not watched: controllers
write through ``cloud.sessions()``. A driver-level statement on a session's connection
(``exec_driver_sql``, which the ORM does not see) is declared with ``wrote``. The embedded cloud (no ZooKeeper) has no terms and
pays nothing.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

_DML = ("INSERT", "UPDATE", "DELETE")
_WROTE = "cloudctl.fencing.wrote"
_FENCE_OPTION = "cloudctl_fence"
CHECK = text("UPDATE leader_terms SET epoch = epoch WHERE kind = :kind AND epoch = :epoch")


@dataclass(frozen=True)
class Term:
    """One leadership term of a controller kind (``epoch`` None: unfenced, embedded)."""

    kind: str
    epoch: int | None
    host: str = ""


TERM: contextvars.ContextVar[Term | None] = contextvars.ContextVar("cloudctl_term",
                                                                   default=None)


class Fenced(Exception):
    """A newer leader holds this controller kind: the write was refused."""

    def __init__(self, term: Term) -> None:
        super().__init__(f"{term.kind}: leadership term {term.epoch} was superseded; "
                         "the write is refused")
        self.term = term


def _fenced_term() -> Term | None:
    term = TERM.get()
    return term if term is not None and term.epoch is not None else None


def _on_execute(state: ORMExecuteState) -> None:
    if _fenced_term() is None or state.execution_options.get(_FENCE_OPTION):
        return
    wrote = state.is_insert or state.is_update or state.is_delete
    if not wrote and not state.is_select:
        wrote = str(state.statement).lstrip().upper().startswith(_DML)
    if wrote:
        state.session.info[_WROTE] = True


def wrote(session: Session) -> None:
    """``session``'s transaction wrote beside the ORM (a driver-level statement on its
    connection): its commit is checked as any other writing one's."""
    if _fenced_term() is not None:
        session.info[_WROTE] = True


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if _fenced_term() is not None:
        session.info[_WROTE] = True


def _before_commit(session: Session) -> None:
    term = _fenced_term()
    if term is None:
        return
    if session.new or session.dirty or session.deleted:
        session.flush()
    if not session.info.pop(_WROTE, False):
        return
    result: Any = session.execute(CHECK, {"kind": term.kind, "epoch": term.epoch},
                                  execution_options={_FENCE_OPTION: True})
    if result.rowcount != 1:
        raise Fenced(term)


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_WROTE, None)


_installed = False


def install() -> None:
    """Watch every ORM session of this process (idempotent; cheap without a term)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "do_orm_execute", _on_execute)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_rollback", _forget)
    event.listen(Session, "after_commit", _forget)
    _installed = True
