"""Migrations 0008 and 0009 on SQLite and PostgreSQL: the governance indexes appear,
match the models, and the downgrade removes them and keeps the rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db.models import Base
from tests.unit.storage.test_kek_migration import insert, migrate

#: Each migration, the one before it and the indexes it adds.
ADDED = {
    "0008": (
        "0007",
        {"ix_clips_site_delete_after", "ix_clips_site_family", "ix_tombstones_site_destroyed"},
    ),
    "0009": (
        "0008",
        {"ix_clips_site_kind_status", "ix_clips_site_status", "ix_clips_site_destroying"},
    ),
}


def _indexes(conn: sa.Connection, names: set[str]) -> set[str]:
    inspector = sa.inspect(conn)
    found = {i["name"] for t in ("clips", "tombstones") for i in inspector.get_indexes(t)}
    return {name for name in found if name in names}


@pytest.mark.parametrize("revision", sorted(ADDED))
def test_the_migration_adds_its_indexes_and_removes_them_on_downgrade(
    db_url: str, revision: str
) -> None:
    before, names = ADDED[revision]
    engine = sa.create_engine(db_url)
    try:
        migrate(engine, "upgrade", before)
        with engine.begin() as conn:
            insert(conn, "sites", id="s1", slug="north", name="North")
        with engine.connect() as conn:
            assert _indexes(conn, names) == set()
        migrate(engine, "upgrade", revision)
        with engine.connect() as conn:
            assert _indexes(conn, names) == names
        migrate(engine, "downgrade", before)
        with engine.connect() as conn:
            assert _indexes(conn, names) == set()
            assert conn.execute(sa.text("SELECT count(*) FROM sites")).scalar() == 1
        migrate(engine, "upgrade", "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if any(name in repr(d) for name in names)] == []
    finally:
        engine.dispose()
