"""`verp serve` / `verp demo` plumbing and the demo seeding (without media)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from flask import Flask
from sqlalchemy import func, select

from config import Settings
from storage.accounts import authenticate
from storage.db.tenancy import Site, User
from tests.conftest import make_settings
from webapp import demo
from webapp.cli import cli
from webapp.cli.web import WebServer, check_schema, demo_settings, gunicorn_options
from webapp.composition import Services


def test_demo_seed_is_idempotent(services: Services) -> None:
    first = demo.seed(services, with_media=False, say=lambda _line: None)
    assert "site demo" in first.created and len(first.users) == 4
    second = demo.seed(services, with_media=False, say=lambda _line: None)
    assert second.created == [] and second.users == first.users
    with services.db.session() as db:
        assert db.scalar(select(func.count()).select_from(Site).where(Site.slug == "demo")) == 1
        for role, password in demo.PASSWORDS.items():
            user = authenticate(db, demo.email(role), password)
            assert user is not None and user.role == role


def test_demo_passwords_meet_the_minimum() -> None:
    assert all(len(p) >= 10 for p in demo.PASSWORDS.values())


def test_commands_are_registered() -> None:
    assert isinstance(cli, click.Group)
    assert {"serve", "demo"} <= set(cli.commands)


def test_gunicorn_options(sqlite_settings: Settings) -> None:
    options = gunicorn_options(sqlite_settings, workers=3, threads=2)
    assert options["bind"] == f"{sqlite_settings.host}:{sqlite_settings.port}"
    assert (options["workers"], options["threads"], options["worker_class"]) == (3, 2, "gthread")
    assert "%(h)s" not in options["access_log_format"]  # no client addresses in logs
    assert "%(U)s" in options["access_log_format"] and "%(r)s" not in options["access_log_format"]
    assert options["preload_app"] is False


def test_the_server_builds_the_app_from_its_settings(sqlite_services: Services) -> None:
    server = WebServer(sqlite_services.settings, {"bind": "127.0.0.1:0", "workers": 1})
    app = server.load()
    assert isinstance(app, Flask)
    assert app.config["SESSION_COOKIE_SECURE"] is sqlite_services.settings.secure_cookies


def test_serve_refuses_an_uninitialised_database(tmp_path: Path) -> None:
    with pytest.raises(click.ClickException, match="verp init"):
        check_schema(make_settings(tmp_path / "empty"))


def test_an_initialised_database_is_accepted(sqlite_services: Services) -> None:
    check_schema(sqlite_services.settings)


def test_demo_settings_are_for_localhost_http(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VERP_HOME", str(tmp_path))
    monkeypatch.setenv("VERP_SECURE_COOKIES", "true")
    settings = demo_settings(8123)
    assert settings.secure_cookies is False
    assert (settings.host, settings.port) == ("127.0.0.1", 8123)
    assert settings.home == tmp_path


def test_a_demo_user_is_an_ordinary_user(services: Services) -> None:
    seeded = demo.seed(services, with_media=False, say=lambda _line: None)
    with services.db.session() as db:
        dpo = db.get(User, seeded.users["dpo"])
        assert dpo is not None and dpo.site_id == seeded.site_id and dpo.totp_secret is None
