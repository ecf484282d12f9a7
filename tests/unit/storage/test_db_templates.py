"""The test databases filled from a migrated template (tests.db_templates) are what
``verp init`` makes of an empty database, on SQLite and PostgreSQL, and a database that is
not empty is never touched."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from storage.migrate import MIGRATIONS, current_revision, head_revision
from tests.conftest import make_settings
from tests.db_templates import active, prepare_database
from webapp.composition import initialize

_PG_SCHEMA = {
    "columns": """SELECT table_name, column_name, data_type, character_maximum_length,
                         column_default, is_nullable
                  FROM information_schema.columns WHERE table_schema = current_schema()""",
    "indexes": """SELECT tablename, indexname, indexdef FROM pg_indexes
                  WHERE schemaname = current_schema()""",
    "constraints": """SELECT rel.relname, con.conname, pg_get_constraintdef(con.oid)
                      FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
                      JOIN pg_namespace ns ON ns.oid = rel.relnamespace
                      WHERE ns.nspname = current_schema()""",
    "sequences": """SELECT sequencename, last_value FROM pg_sequences
                    WHERE schemaname = current_schema()""",
}


def _schema(url: str) -> dict[str, Any]:
    """Everything the migrations define, and the revision they leave."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                found: dict[str, Any] = {
                    "master": conn.exec_driver_sql(
                        "SELECT type, name, tbl_name, sql FROM sqlite_master"
                    ).all(),
                    "journal": conn.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
                }
            else:
                # Index definitions name the schema; each test has its own.
                schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
                found = {
                    k: [
                        tuple(_unqualified(v, schema) for v in row)
                        for row in conn.exec_driver_sql(q)
                    ]
                    for k, q in _PG_SCHEMA.items()
                }
            found["version"] = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        return {k: sorted(v, key=repr) if isinstance(v, list) else v for k, v in found.items()}
    finally:
        engine.dispose()


def _unqualified(value: Any, schema: str) -> Any:
    return value.replace(f"{schema}.", "") if isinstance(value, str) else value


def _second_database(db_url: str, tmp_path: Path) -> str:
    """Another empty database on the backend of ``db_url``."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'copy' / 'verp.db'}"
    return active().new_pg_database(migrated=False)


def test_a_copied_database_is_what_init_makes_of_an_empty_one(db_url: str, tmp_path: Path) -> None:
    migrated = make_settings(tmp_path / "migrated", **{"database.url": db_url})
    initialize(migrated)  # db_url is empty: the real migrations run
    copied_url = _second_database(db_url, tmp_path)
    try:
        copied = make_settings(tmp_path / "copied", **{"database.url": copied_url})
        prepare_database(copied)
        expected = _schema(db_url)
        assert expected["version"] == [(head_revision(),)]
        assert _schema(copied_url) == expected

        initialize(copied)  # finds it current: nothing changes
        assert _schema(copied_url) == expected
        engine = sa.create_engine(copied_url, poolclass=sa.NullPool)
        try:
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()
        if copied_url.startswith("sqlite"):
            path = tmp_path / "copy" / "verp.db"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(copied.home.stat().st_mode) == 0o700
    finally:
        if not copied_url.startswith("sqlite"):
            active().drop_pg_database(copied_url)


def test_a_database_that_is_not_empty_is_left_alone(db_url: str, tmp_path: Path) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = sa.create_engine(db_url, poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
        prepare_database(make_settings(tmp_path / "home", **{"database.url": db_url}))
        assert current_revision(engine) == "0003"
    finally:
        engine.dispose()


@pytest.mark.parametrize("migrated", [False, True])
def test_each_postgresql_test_schema_is_new_and_dropped_after(
    pg_available: bool, migrated: bool
) -> None:
    templates = active()
    first = templates.new_pg_database(migrated=migrated)
    second = templates.new_pg_database(migrated=migrated)
    assert first != second
    engine = sa.create_engine(first, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            schemas = [_current_schema(first), _current_schema(second)]
            assert schemas[0] != schemas[1]
            tables = conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = ANY(:s)"),
                {"s": schemas},
            ).scalar_one()
            assert (tables > 0) is migrated
            templates.drop_pg_database(first)
            templates.drop_pg_database(second)
            left = conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:s)"),
                {"s": schemas},
            ).all()
    finally:
        engine.dispose()
    assert left == []


def _current_schema(url: str) -> str:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SELECT current_schema()").scalar_one())
    finally:
        engine.dispose()
