"""Helpers for erasure tests: a reader that holds a snapshot, and the raw database files.

The reader is a separate connection opened outside verp (sqlite3 / psycopg), like the web
app serving a page while a sweep runs. Reading the files bypasses verp's own search: on
PostgreSQL the key table's relation file is read straight from the data directory (the
tests run as root on the database machine).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from webapp.composition import Services


@contextmanager
def reader_snapshot(svc: Services, table: str = "clips") -> Iterator[None]:
    """Hold a read snapshot (a read transaction that has read ``table``) until exit."""
    url = svc.db.engine.url
    if url.get_backend_name() == "sqlite":
        conn: Any = sqlite3.connect(str(url.database), isolation_level=None)
        conn.execute("BEGIN")
    else:
        options = url.query.get("options")
        conn = psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            dbname=url.database,
            options=options if isinstance(options, str) else "",
        )
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    try:
        conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        yield
    finally:
        conn.rollback() if not isinstance(conn, sqlite3.Connection) else conn.execute("ROLLBACK")
        conn.close()


def database_file_bytes(svc: Services) -> dict[str, bytes]:
    """Every live file of the metadata database, by name.

    SQLite: verp.db and its -wal/-shm/-journal companions. PostgreSQL: the data_keys
    relation's segment files, after a CHECKPOINT so the file holds what the buffers hold.
    """
    url = svc.db.engine.url
    if url.get_backend_name() == "sqlite":
        main = Path(str(url.database))
        return {p.name: p.read_bytes() for p in main.parent.glob(main.name + "*")}
    with svc.db.engine.connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")
        datadir = conn.exec_driver_sql("SHOW data_directory").scalar_one()
        rel = conn.exec_driver_sql("SELECT pg_relation_filepath('data_keys')").scalar_one()
    main = Path(datadir) / rel
    files = [main, *sorted(main.parent.glob(main.name + ".[0-9]*"))]
    return {p.name: p.read_bytes() for p in files if p.exists()}


def files_holding(svc: Services, needle: bytes) -> list[str]:
    """Names of the live database files that contain ``needle``."""
    return sorted(name for name, data in database_file_bytes(svc).items() if needle in data)
