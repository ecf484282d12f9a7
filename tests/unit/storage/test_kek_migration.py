"""Migration 0003 (KEK epochs) on SQLite and PostgreSQL: existing tombstones get the KEK
of their shredded data key, the schema matches the models, and downgrade keeps the data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from storage.db.models import Base
from storage.migrate import MIGRATIONS

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def migrate(engine: sa.Engine, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def _filler(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.JSON):
        return []
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.DateTime):
        return NOW
    if isinstance(kind, sa.Integer):
        return 0
    if isinstance(kind, sa.LargeBinary):
        return b""
    return "x"


def insert(conn: sa.Connection, table_name: str, /, **values: Any) -> None:
    """Insert a row into the table as it is at this revision, filling required columns."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
    for column in table.columns:
        if column.name not in values and not column.nullable and column.server_default is None:
            values[column.name] = _filler(column)
    conn.execute(table.insert().values(**values))


def test_0003_backfills_tombstones_and_matches_the_models(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        migrate(engine, "upgrade", "0002")
        with engine.begin() as conn:
            insert(conn, "sites", id="s1", slug="north", name="North")
            insert(conn, "consents", id="c1", site_id="s1")
            for clip in ("dead", "other"):
                insert(conn, "clips", id=clip, site_id="s1", consent_id="c1", status="destroyed")
            insert(
                conn,
                "data_keys",
                clip_id="dead",
                site_id="s1",
                provider="local",
                kek_version="3",
                wrapped=None,
            )
            insert(conn, "tombstones", clip_id="dead", site_id="s1", consent_id="c1")
            insert(conn, "tombstones", clip_id="other", site_id="s1", consent_id="c1")

        migrate(engine, "upgrade", "0003")

        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT clip_id, kek_provider, kek_version FROM tombstones ORDER BY clip_id"
                )
            ).all()
        assert [tuple(r) for r in rows] == [("dead", "local", "3"), ("other", None, None)]
        migrate(engine, "downgrade", "0002")
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM tombstones")).scalar()
            assert count == 2
            assert "kek_epochs" not in sa.inspect(conn).get_table_names()

        migrate(engine, "upgrade", "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "kek" in repr(d)] == []
    finally:
        engine.dispose()
