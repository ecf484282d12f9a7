"""Migration 0007 on SQLite and PostgreSQL: existing users keep their rows, are not asked
to change their password and have seen no notices; the schema matches the models; the
downgrade keeps the users."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db.models import Base
from tests.unit.storage.test_kek_migration import insert, migrate


def test_0007_adds_the_flags_without_touching_existing_users(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        migrate(engine, "upgrade", "0006")
        with engine.begin() as conn:
            insert(conn, "sites", id="s1", slug="north", name="North")
            insert(conn, "users", id="u1", site_id="s1", email="a@x.org", role="admin")
        migrate(engine, "upgrade", "0007")
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT email, must_change_password, notices_seen_at FROM users")
            ).one()
        assert (row[0], bool(row[1]), row[2]) == ("a@x.org", False, None)
        migrate(engine, "downgrade", "0006")
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("users")}
            assert "must_change_password" not in columns and "notices_seen_at" not in columns
            assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == 1
        migrate(engine, "upgrade", "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        ours = [d for d in diff if "must_change_password" in repr(d) or "notices_seen" in repr(d)]
        assert ours == []
    finally:
        engine.dispose()
