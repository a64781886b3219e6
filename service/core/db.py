"""Declarative base, engine and session factories: the one place database sessions come from."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, TypeDecorator, create_engine, event, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def iso_utc(value: datetime | None) -> str | None:
    """The one way a time is written anywhere (API, events, logs, CLI): ISO 8601 in UTC with
    a `Z`, as pydantic writes the API's datetimes."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    """An opaque id that sorts by creation time: prefix, milliseconds, randomness."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so API and workers can share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        pool_timeout=5,
        connect_args={"connect_timeout": 3},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Writers take the lock at BEGIN, so two processes never deadlock upgrading read locks.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _driver(connection: Any | None) -> Any:
    """The driver's connection under a checked-out SQLAlchemy one (never None while in use)."""
    if connection is None:
        raise RuntimeError("the database connection was released while in use")
    return connection


SQLITE_AUTOCHECKPOINT = 1000  # SQLite's default, in pages
BLOB_CHUNK = 1 << 20


def defer_wal_checkpoint(session: Session) -> None:
    """Commit this transaction without SQLite's automatic WAL checkpoint; call
    `wal_checkpoint` later.

    After a large write (a 50 MB data set) the commit would otherwise copy it again from the
    write-ahead log into the database file and sync it before the reply: 0.3-0.6 s here.
    Other databases ignore this.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
    dbapi_connection = _driver(connection.connection.dbapi_connection)

    def restore(_session: Session) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT}")

    event.listen(session, "after_commit", restore, once=True)
    event.listen(session, "after_rollback", restore, once=True)


def insert_blob(session: Session, row: Any, column: str, data: bytes) -> None:
    """Add `row` with `data` in its blob `column`, without SQLite copying the bytes twice.

    Binding 50 MB copies it into SQLite's statement and again into the record it builds
    (+100 MB of memory at once); on SQLite the row is inserted with a zero-filled blob of
    the right size that is then written in place, 1 MiB at a time. Other databases take
    the bytes as they are.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite" or len(data) < BLOB_CHUNK:
        setattr(row, column, data)
        session.add(row)
        session.flush()
        return
    setattr(row, column, func.zeroblob(len(data)))
    session.add(row)
    session.flush()
    table = row.__table__
    keys = [getattr(row, key.name) for key in table.primary_key.columns]
    where = " AND ".join(f"{key.name} = ?" for key in table.primary_key.columns)
    driver = _driver(connection.connection.driver_connection)
    (rowid,) = driver.execute(f"SELECT rowid FROM {table.name} WHERE {where}", keys).fetchone()
    with driver.blobopen(table.name, column, rowid) as blob, memoryview(data) as view:
        for start in range(0, len(data), BLOB_CHUNK):
            blob.write(view[start : start + BLOB_CHUNK])
    session.expire(row, [column])  # the attribute holds the SQL expression, not the bytes


def wal_checkpoint(url: str) -> None:
    """Copy SQLite's write-ahead log into the database file without blocking anyone.

    Best effort: a WAL checkpoint that cannot run now is done by the next commit instead.
    """
    engine = get_engine(url)
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()  # outside any transaction, which would refuse it
    try:
        _driver(connection.driver_connection).execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error as error:
        logging.getLogger("neuronal.db").warning("WAL checkpoint skipped: %s", error)
    finally:
        connection.close()


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_bound_url: str | None = None


def get_engine(url: str) -> Engine:
    """The process-wide engine (one connection pool) for `url`."""
    with _engines_lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def dispose_engines() -> None:
    """Drop pooled connections (after a fork, so children never share sockets)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose(close=False)
        _engines.clear()


def use_database(url: str | None) -> None:
    """Make `url` the database of this process's calls that name none (the worker's job
    functions); None forgets it. Only a process's start-up calls this, with the settings it
    was started with; nothing is bound at import."""
    global _bound_url
    _bound_url = url


def _url_or_bound(url: str | None) -> str:
    if url is not None:
        return url
    if _bound_url is None:
        raise RuntimeError("no database: pass its URL, or bind one with use_database() at start-up")
    return _bound_url


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """Sessions on `url` (default: the database bound with `use_database`)."""
    return sessionmaker(get_engine(_url_or_bound(url)), expire_on_commit=False)


class Database:
    """One database's engine and session factory, built from the settings a process (the API,
    a worker) was started with and handed to whatever needs sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = get_engine(url)  # lazy: no connection until the first session
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with _committed(self.sessions()) as session:
            yield session


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on error (default database:
    the one bound with `use_database`)."""
    with _committed(session_factory(url)()) as session:
        yield session


@contextmanager
def _committed(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
