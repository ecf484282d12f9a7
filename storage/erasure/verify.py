"""Verify that shredded data keys are gone from every live database file verp can see."""

from __future__ import annotations

from collections.abc import Mapping

from storage.db.engine import Database
from storage.erasure.postgres import verify_postgres
from storage.erasure.result import Verdict
from storage.erasure.sqlite import verify_sqlite


def verify_erasure(db: Database, probes: Mapping[str, bytes | None]) -> dict[str, Verdict]:
    """One verdict per clip id in ``probes`` (clip id -> probe, see storage.erasure.probe).

    Runs one checkpoint (SQLite) or one VACUUM FULL (PostgreSQL) for the whole batch. Never
    raises for a busy or unreadable database: those clips come back pending with the reason.
    """
    if not probes:
        return {}
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        return verify_sqlite(db, probes)
    if dialect == "postgresql":
        return verify_postgres(db, probes, db.checkpoint_wait)
    problem = f"erasure cannot be verified on {dialect}"
    return {clip_id: Verdict(False, problem) for clip_id in probes}
