"""Migration 0004 on a database with footage (SQLite with foreign keys on, PostgreSQL):
each site's clips join its "unassigned" group, nothing is lost, the uploader still sees the
clip in the web app and nobody new does; downgrade keeps the clips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from storage import accounts
from storage.db.models import Base
from storage.migrate import MIGRATIONS
from tests.conftest import make_settings
from tests.webapp_fixtures import FAST_HASHER, PASSWORD, csrf_token, password_hash, post
from webapp.app import create_app
from webapp.composition import build_services, initialize

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _migrate(engine: sa.Engine, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def _insert(conn: sa.Connection, table_name: str, **values: Any) -> None:
    table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
    for column in table.columns:
        if column.name in values or column.nullable or column.server_default is not None:
            continue
        kind = column.type
        values[column.name] = (
            [] if isinstance(kind, sa.JSON)
            else False if isinstance(kind, sa.Boolean)
            else NOW if isinstance(kind, sa.DateTime)
            else 0 if isinstance(kind, sa.Integer)
            else "x"
        )  # fmt: skip
    conn.execute(table.insert().values(**values))


def _seed_0003(engine: sa.Engine) -> None:
    """Two sites with clips (north: two), one site without any."""
    with engine.begin() as conn:
        for site in ("north", "south", "empty"):
            _insert(conn, "sites", id=site, slug=site, name=site.title())
        for user, site, role in (
            ("hv", "north", "facilitator"),
            ("other", "north", "facilitator"),
            ("lead", "north", "supervisor"),
            ("sv", "south", "facilitator"),
        ):
            _insert(
                conn, "users", id=user, site_id=site, email=f"{user}@{site}.example", role=role,
                password_hash=password_hash(), active=True,
            )  # fmt: skip
        for consent, site in (("c1", "north"), ("c2", "south")):
            _insert(conn, "consents", id=consent, site_id=site, family_code="FAM-0042",
                    purposes=["family-review", "supervision"], withdrawn_purposes=[])  # fmt: skip
        for clip, site, consent, by in (
            ("n1", "north", "c1", "hv"),
            ("n2", "north", "c1", "hv"),
            ("s1", "south", "c2", "sv"),
        ):
            _insert(conn, "clips", id=clip, site_id=site, consent_id=consent, kind="home-visit",
                    family_code="FAM-0042", uploaded_by=by, status="ready", media={})  # fmt: skip


def test_0004_puts_existing_clips_in_an_unassigned_group_per_site(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sa.create_engine(db_url)
    try:
        _migrate(engine, "upgrade", "0003")
        _seed_0003(engine)
        settings = make_settings(tmp_path / "home", **{"database.url": db_url})
        initialize(settings)  # the real start-up path: upgrade to head on the app's engine
        with engine.connect() as conn:
            groups = conn.execute(
                sa.text("SELECT site_id, code, unassigned FROM groups ORDER BY site_id")
            ).all()
            clips = dict(conn.execute(sa.text("SELECT id, group_id FROM clips")).all())
            ids = dict(conn.execute(sa.text("SELECT site_id, id FROM groups")).all())
            users = conn.execute(sa.text("SELECT count(*) FROM users")).scalar()
        assert [(s, c, bool(u)) for s, c, u in groups] == [
            ("north", "unassigned", True),
            ("south", "unassigned", True),
        ]
        assert clips == {"n1": ids["north"], "n2": ids["north"], "s1": ids["south"]}
        assert users == 4
    finally:
        engine.dispose()

    monkeypatch.setattr(accounts, "_HASHER", FAST_HASHER)
    svc = build_services(settings)
    try:
        app = create_app(services=svc)
        app.config["TESTING"] = True

        def reach(email: str) -> tuple[int, set[str]]:
            client = app.test_client()
            signed = post(client, "/login", {"email": email, "password": PASSWORD})
            assert signed.status_code == 302
            csrf_token(client)
            listed = client.get("/api/v1/clips").get_json()["clips"]
            return client.get("/clips/n1").status_code, {c["id"] for c in listed}

        assert reach("hv@north.example") == (200, {"n1", "n2"})  # the uploader, as before
        assert reach("lead@north.example") == (200, {"n1", "n2"})  # the site's supervisor
        assert reach("other@north.example") == (404, set())  # nobody new
        assert reach("sv@south.example") == (404, {"s1"})  # other sites, as before
    finally:
        svc.close()


def test_0004_downgrade_keeps_the_clips(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        _migrate(engine, "upgrade", "0003")
        _seed_0003(engine)
        _migrate(engine, "upgrade", "0004")
        _migrate(engine, "downgrade", "0003")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM clips")).scalar() == 3
            names = sa.inspect(conn).get_table_names()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("clips")}
        assert "groups" not in names and "group_id" not in columns
        _migrate(engine, "upgrade", "head")  # and forward again, matching the models
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        mine = ("group", "famil", "supervision", "training", "clip_shares", "discipline")
        assert [d for d in diff if any(word in repr(d) for word in mine)] == []
    finally:
        engine.dispose()
