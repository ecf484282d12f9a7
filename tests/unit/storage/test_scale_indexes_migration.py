"""Migration 0008 on SQLite and PostgreSQL: the governance indexes appear, match the
models, and the downgrade removes them and keeps the rows."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db.models import Base
from tests.unit.storage.test_kek_migration import insert, migrate

NAMES = {"ix_clips_site_delete_after", "ix_clips_site_family", "ix_tombstones_site_destroyed"}


def _indexes(conn: sa.Connection) -> set[str]:
    inspector = sa.inspect(conn)
    found = {i["name"] for t in ("clips", "tombstones") for i in inspector.get_indexes(t)}
    return {name for name in found if name in NAMES}


def test_0008_adds_the_scale_indexes_and_removes_them_on_downgrade(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        migrate(engine, "upgrade", "0007")
        with engine.begin() as conn:
            insert(conn, "sites", id="s1", slug="north", name="North")
        with engine.connect() as conn:
            assert _indexes(conn) == set()
        migrate(engine, "upgrade", "0008")
        with engine.connect() as conn:
            assert _indexes(conn) == NAMES
        migrate(engine, "downgrade", "0007")
        with engine.connect() as conn:
            assert _indexes(conn) == set()
            assert conn.execute(sa.text("SELECT count(*) FROM sites")).scalar() == 1
        migrate(engine, "upgrade", "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if any(name in repr(d) for name in NAMES)] == []
    finally:
        engine.dispose()
