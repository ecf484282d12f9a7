"""Erasure on SQLite: a TRUNCATE checkpoint that completes, then a search of every file.

``secure_delete`` (storage.db.engine) makes SQLite zero the freed cell when the wrapped key
is set to NULL, but the new page first goes to the write-ahead log; the old page stays in
``verp.db`` until a checkpoint copies the new one over it, and old WAL frames stay in the
``-wal`` file until it is truncated. A reader holding a snapshot blocks that checkpoint.
So erasure is verified only when (1) a ``wal_checkpoint(TRUNCATE)`` run after the shred
commit reports it finished (busy 0, every frame checkpointed) and (2) no probe is found in
``verp.db``, ``verp.db-wal``, ``verp.db-shm`` or ``verp.db-journal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from storage.db.engine import Database
from storage.erasure.probe import probes_in_file
from storage.erasure.result import Verdict

SUFFIXES = ("", "-wal", "-shm", "-journal")


def database_files(db: Database) -> list[Path]:
    """The live files of the SQLite database: the main file and its companions."""
    name = db.engine.url.database
    if not name or name == ":memory:":
        return []
    return [Path(name + suffix) for suffix in SUFFIXES]


def verify_sqlite(db: Database, probes: Mapping[str, bytes | None]) -> dict[str, Verdict]:
    """Checkpoint (retrying while readers hold the log), then search the files.

    ``probes``: clip id -> probe (b"" when the clip had no wrapped key; None when none was
    recorded, then the completed checkpoint alone is the evidence). Never raises for a busy
    database or an unreadable file: those clips are returned pending with the reason.
    """
    result = db.checkpoint()
    files = database_files(db)
    found: dict[bytes, list[str]] = {}
    unreadable: list[str] = []
    wanted = [p for p in probes.values() if p]
    for path in files:
        try:
            for hit in probes_in_file(path, wanted):
                found.setdefault(hit, []).append(path.name)
        except OSError as exc:
            unreadable.append(f"{path.name} ({exc.strerror})")
    names = ", ".join(p.name for p in files if p.exists()) or "no file"
    verdicts: dict[str, Verdict] = {}
    for clip_id, probe in probes.items():
        if result is None or not result.complete:
            detail = result.describe() if result is not None else "no result"
            problem = f"the WAL checkpoint could not finish: a reader holds the log ({detail})"
            if probe and probe in found:
                problem += f"; wrapped key bytes still in {', '.join(found[probe])}"
            verdicts[clip_id] = Verdict(False, problem)
        elif unreadable:
            verdicts[clip_id] = Verdict(False, f"cannot search {', '.join(unreadable)}")
        elif probe and probe in found:
            where = ", ".join(found[probe])
            verdicts[clip_id] = Verdict(False, f"wrapped key bytes still in {where}")
        else:
            searched = "no wrapped key existed" if probe == b"" else f"probe absent from {names}"
            if probe is None:
                searched = "no probe recorded (destroyed before verification existed)"
            verdicts[clip_id] = Verdict(
                True, f"sqlite: TRUNCATE checkpoint complete ({result.describe()}); {searched}"
            )
    return verdicts
