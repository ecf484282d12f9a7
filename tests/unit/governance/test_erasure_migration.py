"""Migration 0002 (verified erasure) on SQLite and PostgreSQL: a clip whose key a crashed
sweep had shredded becomes "erasure-pending" (no probe: verified by a completed checkpoint
or rewrite), other clips keep their status, and downgrade keeps the rows."""

from __future__ import annotations

import sqlalchemy as sa

from tests.unit.storage.test_kek_migration import NOW, insert, migrate


def _statuses(engine: sa.Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, status, erasure_probe FROM clips")).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_0002_marks_shredded_unfinished_clips_pending_and_downgrades(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        migrate(engine, "upgrade", "0001")
        with engine.begin() as conn:
            insert(conn, "sites", id="s1", slug="north", name="North")
            insert(conn, "consents", id="c1", site_id="s1")
            clips = {
                "shredded": ("ready", NOW, None),  # marked, key shredded, no tombstone yet
                "marked": ("ready", NOW, b"w" * 60),  # marked, key still there
                "live": ("ready", None, b"k" * 60),
                "done": ("destroyed", NOW, None),
            }
            for clip_id, (status, requested, wrapped) in clips.items():
                insert(
                    conn,
                    "clips",
                    id=clip_id,
                    site_id="s1",
                    consent_id="c1",
                    status=status,
                    destroy_requested_at=requested,
                )
                insert(
                    conn,
                    "data_keys",
                    clip_id=clip_id,
                    site_id="s1",
                    provider="local",
                    kek_version="1",
                    wrapped=wrapped,
                    destroyed_at=NOW if wrapped is None else None,
                )
            insert(conn, "tombstones", clip_id="done", site_id="s1", consent_id="c1")

        migrate(engine, "upgrade", "0002")
        assert _statuses(engine) == {
            "shredded": ("erasure-pending", None),
            "marked": ("ready", None),
            "live": ("ready", None),
            "done": ("destroyed", None),
        }
        with engine.connect() as conn:
            erased = conn.execute(sa.text("SELECT erased_at, erasure_evidence FROM tombstones"))
            assert erased.all() == [(None, None)]  # never verified: the report says so

        migrate(engine, "downgrade", "0001")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, status FROM clips ORDER BY id")).all()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("clips")}
        assert dict(rows) == {
            "done": "destroyed",
            "live": "ready",
            "marked": "ready",
            "shredded": "failed",
        }
        assert not {"erasure_probe", "erasure_checked_at", "erasure_problem"} & columns
    finally:
        engine.dispose()
