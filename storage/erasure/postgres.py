"""Erasure on PostgreSQL: rewrite the key table, then read its relation file.

Setting ``wrapped`` to NULL leaves the old row version as a dead tuple in the
``data_keys`` file. Plain VACUUM prunes it but, measured here, can leave its bytes in the
page's free space (the tuple nearest the page's free-space boundary is not overwritten).
``VACUUM FULL`` writes the live rows into a new file and truncates the old one, so dead
tuples' bytes leave the live files — unless a transaction older than the shred still runs,
in which case the rewrite must keep the dead tuple. Hence the check after every batch:
``VACUUM FULL data_keys`` (autocommit, bounded by ``lock_timeout``), ``CHECKPOINT``, then
the relation's segment files are read through ``pg_read_binary_file`` and searched for the
probes. That needs the ``pg_read_server_files`` and ``pg_checkpoint`` roles (or a superuser);
without them the erasure stays pending and says why.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from storage.db.engine import Database
from storage.erasure.probe import probes_in
from storage.erasure.result import Verdict

TABLE = "data_keys"
# Read in whole pages (8 KiB): a tuple never spans two pages, so chunks need no overlap.
_CHUNK = 1024 * 8192
_ATTEMPT_LOCK_MS = 200
_LOCK_NOT_AVAILABLE = "55P03"


def relation_bytes_contain(conn: Connection, probes: list[bytes]) -> tuple[set[bytes], int]:
    """The probes found in the key table's relation file(s), and the bytes read."""
    path = conn.execute(text(f"SELECT pg_relation_filepath('{TABLE}')")).scalar_one()
    found: set[bytes] = set()
    total, segment = 0, 0
    while True:
        name = path if segment == 0 else f"{path}.{segment}"
        size = conn.execute(
            text("SELECT size FROM pg_stat_file(:name, true)"), {"name": name}
        ).scalar()
        if size is None:
            return found, total
        for offset in range(0, int(size), _CHUNK):
            chunk = conn.execute(
                text("SELECT pg_read_binary_file(:name, :offset, :length, true)"),
                {"name": name, "offset": offset, "length": _CHUNK},
            ).scalar()
            if chunk:
                total += len(chunk)
                found |= probes_in(bytes(chunk), [p for p in probes if p not in found])
        segment += 1


def _vacuum_full(conn: Connection, wait_seconds: float) -> None:
    """``VACUUM FULL`` of the key table. Each attempt waits at most a moment for its lock
    (a waiting ACCESS EXCLUSIVE request would stall every reader of the table behind it),
    then backs off, until ``wait_seconds`` have passed; then raises the last DBAPIError."""
    started, delay = time.monotonic(), 0.05
    conn.exec_driver_sql(f"SET lock_timeout = {_ATTEMPT_LOCK_MS}")
    try:
        while True:
            try:
                conn.exec_driver_sql(f"VACUUM FULL {TABLE}")
                return
            except DBAPIError as exc:
                busy = getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE
                if not busy or time.monotonic() - started + delay > wait_seconds:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    finally:
        conn.exec_driver_sql("RESET lock_timeout")


def verify_postgres(
    db: Database, probes: Mapping[str, bytes | None], wait_seconds: float
) -> dict[str, Verdict]:
    """VACUUM FULL the key table, checkpoint, and search its file for every probe; while a
    probe is still found (an older transaction keeps the dead row), retry with back-off for
    up to ``wait_seconds``.

    ``probes`` as in :func:`storage.erasure.sqlite.verify_sqlite`. Never raises for a
    database error: every clip is then returned pending with the reason (a lock not
    granted within ``wait_seconds``, a missing privilege, ...).
    """
    wanted = [p for p in probes.values() if p]
    started, delay = time.monotonic(), 0.05
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while True:
                _vacuum_full(conn, max(0.0, wait_seconds - (time.monotonic() - started)))
                conn.exec_driver_sql("CHECKPOINT")
                found, size = relation_bytes_contain(conn, wanted)
                # A transaction older than the shred keeps the dead row; it may end soon.
                if not found or time.monotonic() - started + delay > wait_seconds:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        problem = f"postgresql: cannot rewrite or read the {TABLE} table: {reason}"
        return {clip_id: Verdict(False, problem) for clip_id in probes}
    verdicts: dict[str, Verdict] = {}
    for clip_id, probe in probes.items():
        if probe and probe in found:
            verdicts[clip_id] = Verdict(
                False,
                f"wrapped key bytes still in the {TABLE} relation file after VACUUM FULL "
                "(a transaction older than the shred is still open)",
            )
            continue
        searched = f"probe absent from the {TABLE} relation file ({size} bytes)"
        if probe == b"":
            searched = "no wrapped key existed"
        elif probe is None:
            searched = "no probe recorded (destroyed before verification existed)"
        verdicts[clip_id] = Verdict(True, f"postgresql: VACUUM FULL and CHECKPOINT; {searched}")
    return verdicts
