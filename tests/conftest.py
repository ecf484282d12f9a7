"""Shared fixtures: settings in a temp VERP_HOME, a database per test on SQLite and
PostgreSQL, and fully wired services with an injectable clock.

Databases come migrated by copying a per-worker template (tests.db_templates) rather than
by running every migration for every test; ``db_url`` alone is an empty database (the
migration tests migrate it themselves); ``settings``, ``s3_settings`` and
``open_services`` fill it from the template first.

PostgreSQL comes from VERP_TEST_POSTGRES (default: the local server on 127.0.0.1).
A missing PostgreSQL fails those tests with a message saying how to start it: nothing is
skipped for a missing tool (`.ci/run` starts PostgreSQL and Redis when they are down).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from config import Settings, load_settings
from storage.clock import FixedClock
from tests.db_templates import Templates, activate, active, prepare_database
from webapp.composition import Services, build_services, initialize

pytest_plugins = ["tests.moto_server", "tests.webapp_fixtures"]

PG_URL = os.environ.get("VERP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _pg_available() -> bool:
    try:
        engine = sqlalchemy.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    ok = _pg_available()
    if not ok:
        pytest.fail(f"PostgreSQL is required but not reachable at {PG_URL} (see the README)")
    return ok


@pytest.fixture
def pg_schema_url(pg_available: bool) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    assert pg_available
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def db_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """This worker's migrated templates (made on first use, dropped at the end)."""
    templates = Templates(tmp_path_factory.mktemp("db-template"), PG_URL)
    activate(templates)
    try:
        yield templates
    finally:
        activate(None)
        templates.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own: a SQLite path not yet created, or a new
    PostgreSQL schema in this worker's database (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'verp.db'}"
        return
    request.getfixturevalue("pg_available")
    templates = active()
    url = templates.new_pg_database(migrated=False)
    try:
        yield url
    finally:
        templates.drop_pg_database(url)


def make_settings(home: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"paths.home": str(home), "web.secure_cookies": False}
    base.update(overrides)
    return load_settings(environ={}, overrides=base)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings on both database backends (each test runs once per backend), on a
    migrated database."""
    settings = make_settings(tmp_path / "home", **{"database.url": db_url})
    prepare_database(settings)
    return settings


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on SQLite only, for tests whose subject is not the database (migrated)."""
    settings = make_settings(tmp_path / "home")
    prepare_database(settings)
    return settings


def open_services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    """``initialize`` then ``build_services``; an empty test database is first filled
    from the migrated template, so ``initialize`` finds it current."""
    prepare_database(settings)
    initialize(settings)
    svc = build_services(settings, clock=clock)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    yield from open_services(settings, clock)


@pytest.fixture
def sqlite_services(sqlite_settings: Settings, clock: FixedClock) -> Iterator[Services]:
    yield from open_services(sqlite_settings, clock)
