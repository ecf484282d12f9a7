"""The SQLite database and queue files are created 0600, and so are their -wal/-shm
(SQLite gives them the database file's mode), whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ingest.jobs import make_huey
from storage.db.engine import make_engine, prepare_private_sqlite


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_database_and_its_wal_and_shm_are_0600(tmp_path: Path, loose_umask: None) -> None:
    db = tmp_path / "home" / "verp.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x BLOB)"))
            conn.execute(text("INSERT INTO t VALUES (randomblob(64))"))
        with engine.connect() as reader:  # keeps the WAL and the shared-memory index
            reader.execute(text("SELECT * FROM t")).all()
            names = {p.name: _mode(p) for p in db.parent.iterdir()}
    finally:
        engine.dispose()
    assert names == {"verp.db": 0o600, "verp.db-wal": 0o600, "verp.db-shm": 0o600}


def test_the_queue_database_is_0600(tmp_path: Path, loose_umask: None) -> None:
    queue = tmp_path / "home" / "queue.db"
    huey = make_huey(f"sqlite:///{queue}")
    huey.storage.enqueue(b"job", 0)
    modes = {p.name: _mode(p) for p in queue.parent.iterdir()}
    huey.storage.close()
    assert modes["queue.db"] == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes


def test_existing_loose_files_are_tightened(tmp_path: Path) -> None:
    db = tmp_path / "verp.db"
    for name in ("verp.db", "verp.db-wal", "verp.db-shm"):
        (tmp_path / name).write_bytes(b"")
        (tmp_path / name).chmod(0o644)
    prepare_private_sqlite(db)
    assert [_mode(tmp_path / n) for n in ("verp.db", "verp.db-wal", "verp.db-shm")] == [0o600] * 3
    prepare_private_sqlite(Path(":memory:"))  # left alone
    assert not Path(":memory:").exists()
