"""Engine settings that make SQLite behave like a real transactional database."""

from __future__ import annotations

from typing import Annotated

from sqlalchemy import BigInteger, Integer, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

# Ids: BIGINT on PostgreSQL (64-bit, as fms.tenancy.MAX_ID says). SQLite's INTEGER already
# holds 64 bits, and only an `INTEGER PRIMARY KEY` is the rowid alias that numbers new rows,
# so SQLite keeps INTEGER. Models say `Mapped[Id]` (fms.extensions maps it to ID_TYPE) on
# primary keys and on id columns without a foreign key (audit_entry.entity_id, ...); a
# foreign-key column declares no type and takes its target's.
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")
Id = Annotated[int, "id"]
# An execution option of sessions that only read (`streaming_session`): on SQLite their
# transaction begins deferred, so it never holds the one writer lock.
READ_ONLY = "fms_read_only"


def configure_engine(engine: Engine) -> None:
    """On SQLite: real BEGIN/SAVEPOINT handling, foreign keys, WAL and a busy timeout.

    Python's sqlite3 driver opens transactions itself and not before SELECTs, which breaks
    SAVEPOINTs and lets reads slip outside a transaction; we take that over, as the
    SQLAlchemy documentation recommends (pysqlite: "Serializable isolation / Savepoints /
    Transactional DDL"), and begin every transaction IMMEDIATE: it takes SQLite's one
    writer lock up front, waiting for it under the busy timeout. A deferred BEGIN only
    takes it at the first write, and a transaction that has read already cannot wait
    then: it fails at once with "database is locked" when another writer is busy (most
    requests read before they write: the sign-in check, then the change). In WAL mode
    IMMEDIATE does not block readers; it queues transactions behind each other, which on
    the embedded default (one process, the GIL) costs reads little (see
    tests/test_sqlite_writers.py). A session that only reads (the `READ_ONLY` option)
    begins deferred instead: in WAL mode it reads its snapshot without the lock, so a slow
    download never makes writers wait.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        # matching folds case beyond ASCII, as PostgreSQL's lower() does (fms.lookups.fold)
        from fms.lookups import sqlite_lower

        dbapi_connection.create_function("fms_lower", 1, sqlite_lower, deterministic=True)
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        read_only = conn.get_execution_options().get(READ_ONLY)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def streaming_session() -> Session:
    """A read-only session of its own, for rows a response reads while it streams, scoped to
    the organization of the request's session; the stream closes it when it ends.

    The request's session cannot read them: Flask removes it when the view returns, before
    the first row is sent, and a session used after its removal is closed by nobody, so its
    connection stayed checked out until a garbage collection (on SQLite holding the writer
    lock: every later write failed with "database is locked"). It is made by the factory
    of the request's sessions, so under the tests it joins their connection too.
    """
    from fms.extensions import db
    from fms.tenancy import scope_session, session_org_id

    session = db.session.session_factory(execution_options={READ_ONLY: True})
    scope_session(session, session_org_id(db.session()))
    return session


def savepoint_released(session) -> bool:
    """In an `after_commit` handler: True when only a savepoint was released (SQLAlchemy
    sends after_commit for `begin_nested()` too), so work that must wait for the real
    commit — running a job, sending, deleting bytes — waits."""
    return session.in_nested_transaction()
