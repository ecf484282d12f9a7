"""Shared fixtures: settings in a temp VERP_HOME, a database per test on SQLite and
PostgreSQL, and fully wired services with an injectable clock.

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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'verp.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


def make_settings(home: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"paths.home": str(home), "web.secure_cookies": False}
    base.update(overrides)
    return load_settings(environ={}, overrides=base)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings on both database backends (each test runs once per backend)."""
    return make_settings(tmp_path / "home", **{"database.url": db_url})


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on SQLite only, for tests whose subject is not the database."""
    return make_settings(tmp_path / "home")


def open_services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
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
