"""Migration 0006 (SQLite and PostgreSQL): existing annotations get an empty drawing and
keep everything else; downgrade keeps the annotations; head matches the models."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db.models import Base
from tests.unit.programme.test_migration import _insert, _migrate, _seed_0003


def test_0006_adds_an_empty_drawing_to_old_annotations_and_downgrade_keeps_them(
    db_url: str,
) -> None:
    engine = sa.create_engine(db_url)
    try:
        _migrate(engine, "upgrade", "0003")
        _seed_0003(engine)
        _migrate(engine, "upgrade", "0005")
        with engine.begin() as conn:
            _insert(conn, "annotations", id="a1", clip_id="n1", site_id="north",
                    author_id="hv", author_role="facilitator", start_ms=1000,
                    subject="infant", codes=["smiling"], text="kept")  # fmt: skip
        _migrate(engine, "upgrade", "0006")
        with engine.connect() as conn:
            text, shapes = conn.execute(
                sa.text("SELECT text, shapes FROM annotations WHERE id = 'a1'")
            ).one()
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert text == "kept"
        assert (json.loads(shapes) if isinstance(shapes, str) else shapes) == []
        assert [d for d in diff if "shapes" in repr(d)] == []
        _migrate(engine, "downgrade", "0005")
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("annotations")}
            assert conn.execute(sa.text("SELECT text FROM annotations")).scalar() == "kept"
        assert "shapes" not in columns
    finally:
        engine.dispose()
