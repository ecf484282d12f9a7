"""Engine creation and the unit of work. The only module that builds SQLAlchemy engines."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.db.sqlite_writers import connection_factory, gate_for

#: How long a SQLite writer waits for another to finish before "database is locked" (s).
_SQLITE_BUSY_SECONDS = 30


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and secure_delete, and its writers
    of this process queue in arrival order (storage.db.sqlite_writers) instead of
    polling SQLite's write lock.

    ``secure_delete`` makes SQLite overwrite freed pages, so a shredded wrapped key
    does not linger in the database file.
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        prepare_private_sqlite(path)
        connect_args: dict[str, Any] = {"timeout": _SQLITE_BUSY_SECONDS}
        pooling: dict[str, Any] = {}
        if str(path) and str(path) != ":memory:":
            gate = gate_for(path)
            connect_args["factory"] = connection_factory(gate, _SQLITE_BUSY_SECONDS)
            # No thread waits for a SQLite connection (each is only a file handle): an
            # exhausted pool would queue requests unfairly, ahead of the writers' gate.
            pooling["max_overflow"] = -1
        engine = create_engine(url, connect_args=connect_args, **pooling)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_SECONDS * 1000}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def prepare_private_sqlite(path: Path) -> None:
    """Create a SQLite database file with mode 0600 before SQLite opens it, and tighten
    an existing one (and its ``-wal``/``-shm``/``-journal`` files) to 0600.

    SQLite creates its journal files with the database file's mode, so they follow.
    ``:memory:`` and empty paths are left alone.

    Raises:
        OSError: the directory or the file cannot be created.
    """
    if not str(path) or str(path) == ":memory:":
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    os.close(fd)
    for candidate in (path, *(path.with_name(path.name + s) for s in _JOURNALS)):
        try:
            info = candidate.stat()
        except FileNotFoundError:
            continue
        if info.st_mode & 0o077 and info.st_uid == os.getuid():
            os.chmod(candidate, 0o600)


_JOURNALS = ("-wal", "-shm", "-journal")

#: How long one checkpoint attempt waits for readers before backing off (milliseconds).
_ATTEMPT_BUSY_MS = 100


@dataclass(frozen=True)
class CheckpointResult:
    """The row of ``PRAGMA wal_checkpoint(TRUNCATE)`` after the last attempt.

    ``busy`` is 1 when a reader or writer kept the checkpoint from finishing; ``log`` is
    the number of frames in the WAL and ``checkpointed`` how many were copied back into
    the database file (both -1 when the database is not in WAL mode).
    """

    busy: int
    log: int
    checkpointed: int
    attempts: int
    waited: float

    @property
    def complete(self) -> bool:
        """Every frame is back in the main file and the WAL was truncated."""
        return self.busy == 0 and self.log == self.checkpointed

    def describe(self) -> str:
        return (
            f"busy={self.busy} log={self.log} checkpointed={self.checkpointed} "
            f"after {self.attempts} attempt(s) in {self.waited:.1f} s"
        )


class Database:
    """Holds the engine and hands out units of work.

    ``checkpoint_wait``: the longest :meth:`checkpoint` keeps retrying while readers hold
    the write-ahead log (seconds; setting ``database.erasure_wait_seconds``).
    """

    def __init__(self, engine: Engine, checkpoint_wait: float = 10.0) -> None:
        self.engine = engine
        self.checkpoint_wait = checkpoint_wait
        self._factory = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block succeeds, rolls back when it raises."""
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def checkpoint(self) -> CheckpointResult | None:
        """Copy SQLite's write-ahead log into the main file and truncate it to zero bytes.

        Called after crypto-shredding: until this completes, the page that held the wrapped
        key may still be in ``verp.db`` (the new page is only in the WAL) and old frames in
        the WAL. A reader holding a snapshot blocks a TRUNCATE checkpoint, so each attempt
        waits briefly, then backs off (doubling, up to 1 s) until ``checkpoint_wait``
        seconds have passed. Returns the last result row (check ``complete``); None for
        databases other than SQLite. Raises sqlalchemy errors other than "busy/locked".
        """
        if self.engine.dialect.name != "sqlite":
            return None
        started = time.monotonic()
        delay, attempts = 0.05, 0
        while True:
            attempts += 1
            row = self._checkpoint_once()
            waited = time.monotonic() - started
            result = CheckpointResult(row[0], row[1], row[2], attempts, waited)
            if result.complete or waited + delay > self.checkpoint_wait:
                return result
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _checkpoint_once(self) -> tuple[int, int, int]:
        with self.engine.connect() as conn:
            # A short busy handler per attempt; the back-off above bounds the total.
            conn.exec_driver_sql(f"PRAGMA busy_timeout={_ATTEMPT_BUSY_MS}")
            try:
                row = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            except OperationalError as exc:
                # Another connection's checkpoint in progress: as busy as a reader.
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                return 1, -1, -1
            finally:
                conn.exec_driver_sql("PRAGMA busy_timeout=30000")
        return int(row[0]), int(row[1]), int(row[2])

    def dispose(self) -> None:
        self.engine.dispose()
