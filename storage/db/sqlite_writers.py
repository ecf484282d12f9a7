"""One SQLite writer at a time per process, queued in arrival order.

SQLite lets one connection write at a time. A connection that finds the write lock taken
runs SQLite's busy handler, which sleeps in growing steps (1, 2, 5 ... 100 ms) and
retries: whoever happens to retry just after the lock is released gets it, so under
contention some writers wait for hundreds of milliseconds while others pass them. Within
one process that is avoidable: :class:`WriterGate` queues the process's writers and hands
the lock on the moment the previous write transaction ends, first come first served. The
busy handler still arbitrates between processes.

The gate is taken where the sqlite3 module opens a write transaction: just before the
first INSERT/UPDATE/DELETE/REPLACE outside a transaction (the driver then issues
``BEGIN``, and the statement takes SQLite's write lock at once), or an explicit
``BEGIN IMMEDIATE``/``BEGIN EXCLUSIVE``. It is given back when the connection commits,
rolls back or closes. Reads never wait for it. :func:`holds_write_lock` tells a caller
that its transaction already has SQLite's write lock (so it need not take it again).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Statements before which the sqlite3 module begins a transaction (its legacy mode), and
#: explicit transactions that write from their start.
_WRITE_OPENERS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_IMMEDIATE = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")


class WriterGate:
    """A first-come-first-served lock: each waiter gets its own wake-up, handed over on
    release, so no waiter is passed by later arrivals and none polls."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the gate; False if it did not come."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._mutex:
            try:
                self._waiters.remove(turn)
            except ValueError:  # handed over between the timeout and here: ours now
                return True
        return False

    def release(self) -> None:
        """Give the gate to the longest waiter, or open it."""
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # stays held: ownership moves
            else:
                self._held = False


_gates: dict[str, WriterGate] = {}
_gates_mutex = threading.Lock()


def gate_for(path: Path) -> WriterGate:
    """The process's gate for the database file ``path`` (shared by all its engines)."""
    key = str(path.resolve())
    with _gates_mutex:
        return _gates.setdefault(key, WriterGate())


def connection_factory(gate: WriterGate, timeout: float) -> type[sqlite3.Connection]:
    """A ``sqlite3.Connection`` class whose write transactions pass through ``gate``
    (waiting at most ``timeout`` seconds, then failing as SQLite does: "database is
    locked"). Pass it as ``factory`` to ``sqlite3.connect``."""

    class Connection(GatedConnection):
        _gate = gate
        _gate_timeout = timeout

    return Connection


def holds_write_lock(dbapi_connection: Any) -> bool:
    """Whether this sqlite3 connection is in a transaction that began by writing (and so
    holds SQLite's write lock until it ends). False when unsure, e.g. for connections
    not made by :func:`connection_factory` or whose opening write failed."""
    return (
        isinstance(dbapi_connection, GatedConnection)
        and dbapi_connection._writing
        and dbapi_connection.in_transaction
    )


def _opens_write(sql: str) -> bool:
    head = sql.lstrip()[:16].upper()
    return head.startswith(_WRITE_OPENERS) or head.startswith(_IMMEDIATE)


class GatedConnection(sqlite3.Connection):
    """Holds its process's :class:`WriterGate` from the start of a write transaction to
    its end. Use through :func:`connection_factory`."""

    _gate: WriterGate
    _gate_timeout: float
    _holding = False
    #: The statement that opened this transaction succeeded: SQLite's write lock is ours.
    _writing = False

    def cursor(self, factory: Any = None) -> Any:  # sqlite3's own signature is untyped
        return super().cursor(factory or GatedCursor)

    # sqlite3's shortcuts make their cursor in C, past cursor(): route them through it.
    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Any:
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: str, /) -> Any:
        return self.cursor().executescript(sql_script)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._leave()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._leave()

    def __del__(self) -> None:
        self._leave()  # never strand the gate with a connection nobody closed

    def _enter(self, sql: str) -> bool:
        """Take the gate if ``sql`` is about to open a write transaction; True if taken."""
        if self._holding or self.in_transaction or not _opens_write(sql):
            return False
        if not self._gate.acquire(self._gate_timeout):
            raise sqlite3.OperationalError("database is locked")
        self._holding = True
        return True

    def _after(self, entered: bool, succeeded: bool) -> None:
        """After a statement: the gate stays only while a transaction is open (a script's
        ``COMMIT`` ends one without :meth:`commit`)."""
        if not self.in_transaction:
            self._leave()
        elif entered:
            self._writing = succeeded

    def _leave(self) -> None:
        self._writing = False
        if self._holding:
            self._holding = False
            self._gate.release()


class GatedCursor(sqlite3.Cursor):
    """Takes the connection's gate before a statement that begins a write transaction."""

    def execute(self, sql: str, parameters: Any = (), /) -> GatedCursor:
        connection: GatedConnection = self.connection  # type: ignore[assignment]
        entered = connection._enter(sql)
        succeeded = False
        try:
            super().execute(sql, parameters)
            succeeded = True
        finally:
            connection._after(entered, succeeded)
        return self

    def executescript(self, sql_script: str, /) -> GatedCursor:
        connection: GatedConnection = self.connection  # type: ignore[assignment]
        try:
            super().executescript(sql_script)  # commits a pending transaction first
        finally:
            connection._after(False, False)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> GatedCursor:
        connection: GatedConnection = self.connection  # type: ignore[assignment]
        entered = connection._enter(sql)
        succeeded = False
        try:
            super().executemany(sql, seq_of_parameters)
            succeeded = True
        finally:
            connection._after(entered, succeeded)
        return self
