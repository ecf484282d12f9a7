"""`verp serve` / `verp demo` plumbing and the demo seeding (accounts alone, and with
media: the group session that the supervision pages show)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from flask import Flask
from sqlalchemy import func, select

from config import Settings
from review.agreement import compare_coders
from review.taxonomy import load_registry
from review.threads import list_replies
from storage.accounts import authenticate
from storage.audit import Actor
from storage.db.footage import Clip, Consent
from storage.db.programme import ClipShare
from storage.db.review import Annotation
from storage.db.tenancy import Site, User
from storage.errors import ConsentError
from storage.programme import effective_purposes, present_families, share_clip
from tests.conftest import make_settings
from tests.webapp_fixtures import post
from webapp import demo
from webapp.app import create_app
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


@pytest.mark.slow
def test_the_demo_has_a_group_session_waiting_for_supervision(sqlite_services: Services) -> None:
    """The full seed (real ffmpeg and pipeline): the facilitator's group session, coded by
    the facilitator and the supervisor, sits unsigned in the supervisor's queue.

    Windows of 1 s; the rendition runs a few ms past 20 s (AAC padding), so there are 21
    windows (the last a sliver nobody coded) and 5 codes used -> 105 (window, code) cells.
    Supervisor (A) vs trainee (B): both 9 (safe base 0-2, reflection 6-8, core content
    10-12), only A 3 (infant development 15-17), only B 6 (safe base 3, reflection 5, core
    content 13, group process 15-17), neither 87. p_o = 96/105, p_e = (12*15 + 93*90)/105^2
    = 8550/11025, kappa = (10080 - 8550)/(11025 - 8550) = 1530/2475 = 0.618. (With exactly
    20 windows: 91/100, .766, kappa .144/.234 = 0.615.) Windows 3, 5, 13, 15-17 differ.
    """
    svc = sqlite_services
    seeded = demo.seed(svc, say=lambda _line: None)
    assert "group session clip" in seeded.created and seeded.group_clip_id is not None
    clip_id = seeded.group_clip_id
    trainee, supervisor = seeded.users["facilitator"], seeded.users["supervisor"]
    with svc.db.session() as db:
        clip = db.get(Clip, clip_id)
        assert clip is not None and clip.site_id == seeded.site_id
        assert (clip.kind, clip.status, clip.trainee_id) == ("group-delivery", "ready", trainee)
        assert clip.signed_off_at is None and clip.duration_ms is not None
        assert 20_000 <= clip.duration_ms <= 21_000
        consent = db.get(Consent, clip.consent_id)
        assert consent is not None and consent.family_code == "FAM-0043"
        # Recorded with two families of group A present, both agreeing to supervision.
        present = [family.code for family, _ in present_families(db, clip.id)]
        assert present == ["FAM-0042", "FAM-0043"]
        assert sorted(effective_purposes(db, clip)) == ["family-review", "supervision"]
        notes = list(db.scalars(select(Annotation).where(Annotation.clip_id == clip_id)))
        coded = {n.author_id for n in notes if n.scheme_id == "group-facilitation"}
        assert coded == {trainee, supervisor}
        comment = next(n for n in notes if n.scheme_id is None)
        assert comment.author_id == supervisor
        sup = Actor(supervisor, "supervisor", seeded.site_id)
        replies = list_replies(db, sup, comment.id)
        assert [r.author_id for r in replies] == [trainee]
        result = compare_coders(
            db, svc.audit, load_registry(svc.settings.taxonomy_dir), sup, clip_id,
            coder_a=supervisor, coder_b=trainee, scheme_id="group-facilitation",
            window_ms=1000,
        )  # fmt: skip
    assert result.windows in (20, 21)
    assert result.kappa == pytest.approx(1530 / 2475 if result.windows == 21 else 0.144 / 0.234)
    assert result.undefined_reason is None
    assert [d.index for d in result.differences] == [3, 5, 13, 15, 16, 17]

    app = create_app(services=svc)
    app.config["TESTING"] = True
    client = app.test_client()
    login = {"email": demo.email("supervisor"), "password": demo.PASSWORDS["supervisor"]}
    assert post(client, "/login", login).status_code == 302
    queue = client.get("/supervision").get_data(as_text=True)
    assert f'href="/supervision/{clip_id}"' in queue and demo.GROUP_TITLE in queue
    assert seeded.clip_id is not None and seeded.clip_id not in queue  # a home visit
    page = client.get(f"/supervision/{clip_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "0.62" in html and "Links to infant development" in html

    # The programme: the home visit is FAM-0042's in group A, reviewed and shared with the
    # national team; the later session had FAM-0044 (no supervision consent) in the room.
    with svc.db.session() as db:
        visit = db.get(Clip, seeded.clip_id)
        assert visit is not None and visit.shared_review_at is not None
        assert visit.group_id == seeded.programme.groups["GRP-A"]
        assert visit.family_id == seeded.programme.families["FAM-0042"]
        shares = list(db.scalars(select(ClipShare).where(ClipShare.clip_id == visit.id)))
        assert [s.supervisor_id for s in shares] == [seeded.programme.people["national"]]
        assert seeded.unshared_clip_id is not None
        unshared = db.get(Clip, seeded.unshared_clip_id)
        assert unshared is not None and unshared.status == "ready"
        assert "supervision" not in effective_purposes(db, unshared)
        with pytest.raises(ConsentError):
            share_clip(
                db, svc.audit, Actor(supervisor, "supervisor", seeded.site_id),
                clip_id=unshared.id, supervisor_id=seeded.programme.people["national"],
                days=7, reason="should be refused",
            )  # fmt: skip
    again = demo.seed(svc, say=lambda _line: None)  # idempotent: nothing regenerated
    assert again.created == [] and again.group_clip_id == clip_id
    with svc.db.session() as db:
        count = select(func.count()).select_from(Annotation)
        assert db.scalar(count.where(Annotation.clip_id == clip_id)) == len(notes)
