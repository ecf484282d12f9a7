"""Every route x every role x own/other site (+ anonymous) gets exactly the expected status.

The routes come from ``app.url_map``: a route without a row in :data:`TABLE` fails the
test, so new routes must state who may use them. Identities are the four roles of site
``a`` plus an anonymous client; "own" fills the URL's ids with site ``a``'s objects,
"other" with site ``b``'s. Requests carry a valid CSRF token and empty bodies, so they
show the authorisation decision, not a happy-path effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from tests.webapp_fixtures import LoginAs, World, csrf_token

ROLES = ("facilitator", "supervisor", "dpo", "admin")
FOOTAGE = ("facilitator", "supervisor")
GOVERNANCE = ("dpo", "admin")
MANAGE = ("supervisor", "admin")
REPORT = ("supervisor", "admin", "dpo")
BOGUS = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Row:
    """Expected status for anonymous, then per role for own-site and other-site ids."""

    anon: int
    own: dict[str, int]
    other: dict[str, int]
    relogin: bool = False  # the request ends the session (log out)


def allow(
    roles: tuple[str, ...],
    ok: int,
    *,
    other: int | None = None,
    anon: int = 302,
    denied: int = 403,
    relogin: bool = False,
    **per_role: int,
) -> Row:
    """Roles in ``roles`` get ``ok`` (``per_role`` overrides) on own ids and ``other`` (or
    ``ok``) on another site's ids; every other role gets ``denied``."""
    own = {r: per_role.get(r, ok) if r in roles else denied for r in ROLES}
    theirs = {r: (other if other is not None else own[r]) if r in roles else denied for r in ROLES}
    return Row(anon, own, theirs, relogin)


def everyone(code: int, anon: int | None = None, relogin: bool = False) -> Row:
    return Row(
        code if anon is None else anon,
        dict.fromkeys(ROLES, code),
        dict.fromkeys(ROLES, code),
        relogin,
    )


ALL = ROLES
TUS = {"anon": 401}

#: "METHOD rule" -> expected statuses. Add a row for every new route.
TABLE: dict[str, Row] = {
    "GET /": allow(ALL, 302),
    "GET /healthz": everyone(200),
    "GET /static/<path:filename>": everyone(200),
    "GET /login": everyone(302, anon=200),
    "POST /login": everyone(401),
    "GET /login/code": everyone(302),
    "POST /login/code": everyone(302),
    "POST /logout": allow(ALL, 302, relogin=True),
    "GET /account": allow(ALL, 200),
    "POST /account/password": allow(ALL, 400),
    "GET /account/totp": allow(ALL, 200),
    "POST /account/totp": allow(ALL, 400),
    "POST /account/logout-everywhere": allow(ALL, 302, relogin=True),
    "GET /account/new-password": allow(ALL, 302),
    "POST /account/new-password": allow(ALL, 400),
    "GET /notices": allow(FOOTAGE, 200),
    "GET /admin/users": allow(("admin",), 200),
    "POST /admin/users": allow(("admin",), 400),
    "POST /admin/users/<user_id>/role": allow(("admin",), 302, other=404),
    "POST /admin/users/<user_id>/activate": allow(("admin",), 302, other=404),
    "POST /admin/users/<user_id>/deactivate": allow(("admin",), 302, other=404),
    "POST /admin/users/<user_id>/reset-totp": allow(("admin",), 302, other=404),
    "POST /admin/users/<user_id>/logout-everywhere": allow(("admin",), 302, other=404),
    "POST /admin/users/<user_id>/reset-password": allow(("admin",), 200, other=404),
    "GET /clips": allow(ALL, 200),
    "GET /clips/<clip_id>": allow(ALL, 200, other=404),
    "GET /clips/<clip_id>/poster": allow(FOOTAGE, 200, other=404),
    "GET /api/v1/clips/<clip_id>": allow(ALL, 200, other=404, anon=401),
    "GET /upload": allow(FOOTAGE, 200),
    "POST /upload": allow(FOOTAGE, 400),
    # A supervisor is sent from someone else's upload page to the clip page.
    "GET /upload/<clip_id>": allow(FOOTAGE, 200, other=404, supervisor=302),
    "POST /upload/<clip_id>/cancel": allow(FOOTAGE, 303, other=404, supervisor=404),
    # tus discovery is public (clients ask before they have a session); it names no upload.
    "OPTIONS /api/v1/uploads/": everyone(204),
    "POST /api/v1/uploads/": allow(FOOTAGE, 400, anon=401),
    "OPTIONS /api/v1/uploads/<upload_id>": everyone(204),
    # An upload URL belongs to the person who started it: others get 404.
    "HEAD /api/v1/uploads/<upload_id>": allow(FOOTAGE, 200, other=404, anon=401, supervisor=404),
    "PATCH /api/v1/uploads/<upload_id>": allow(FOOTAGE, 204, other=404, anon=401, supervisor=404),
    "DELETE /api/v1/uploads/<upload_id>": allow(FOOTAGE, 404, anon=401),
    "POST /api/v1/uploads/<upload_id>": allow(FOOTAGE, 405, anon=401),
    "GET /dpo": allow(GOVERNANCE, 200),
    "GET /dpo/holds": allow(GOVERNANCE, 200),
    "POST /dpo/holds": allow(GOVERNANCE, 400),
    "POST /dpo/holds/<hold_id>/lift": allow(GOVERNANCE, 302, other=404),
    "GET /dpo/consents": allow(GOVERNANCE, 200),
    "GET /dpo/consents/<consent_id>": allow(GOVERNANCE, 200, other=404),
    "POST /dpo/consents/<consent_id>/withdraw": allow(GOVERNANCE, 400, other=404),
    "GET /dpo/tombstones": allow(GOVERNANCE, 200),
    "GET /dpo/tombstones/<clip_id>": allow(GOVERNANCE, 200, other=404),
    "GET /dpo/clips/<clip_id>/consent": allow(GOVERNANCE, 302, other=404),
    "GET /dpo/clips/<clip_id>/audit": allow(GOVERNANCE, 302, other=404),
    "GET /dpo/clips/<clip_id>/hold": allow(GOVERNANCE, 302, other=404),
    "GET /dpo/audit": allow(GOVERNANCE, 200),
    "GET /dpo/audit/verify": allow(GOVERNANCE, 200),
    "GET /dpo/audit/export.csv": allow(GOVERNANCE, 200),
    "GET /dpo/audit/receipt.json": allow(("dpo",), 200),
    "GET /dpo/audit/retention-report.csv": allow(GOVERNANCE, 200),
    # -- the review area (player, shared review, supervision, their API) ----------------
    # Footage bytes and annotations: reviewers only; DPOs/admins 403, other sites 404.
    "GET /api/v1/clips": allow(ALL, 200, anon=401),
    "GET /api/v1/clips/<clip_id>/media": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/thumbnails.vtt": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/sprite.jpg": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/moments/<moment_id>/media": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/annotations": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/annotations.csv": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/annotations.eaf": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/annotations.json": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/annotations.vtt": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/links": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/moments": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/clips/<clip_id>/sign-off": allow(FOOTAGE, 200, other=404, anon=401),
    # No coders named: refused after the clip is found.
    "GET /api/v1/clips/<clip_id>/agreement": allow(FOOTAGE, 400, other=404, anon=401),
    "GET /api/v1/annotations/<annotation_id>": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/annotations/<annotation_id>/replies": allow(FOOTAGE, 200, other=404, anon=401),
    "GET /api/v1/moments/<moment_id>": allow(FOOTAGE, 200, other=404, anon=401),
    # Writes with an empty body: 400 once the object is found, 404 for another site's.
    "POST /api/v1/clips/<clip_id>/annotations": allow(FOOTAGE, 400, other=404, anon=401),
    "PATCH /api/v1/annotations/<annotation_id>": allow(FOOTAGE, 400, other=404, anon=401),
    "POST /api/v1/annotations/<annotation_id>/replies": allow(FOOTAGE, 400, other=404, anon=401),
    "POST /api/v1/annotations/<annotation_id>/resolve": allow(FOOTAGE, 400, other=404, anon=401),
    "POST /api/v1/links": allow(FOOTAGE, 400, anon=401),
    "POST /api/v1/clips/<clip_id>/moments": allow(FOOTAGE, 400, other=404, anon=401),
    "PATCH /api/v1/moments/<moment_id>": allow(FOOTAGE, 400, other=404, anon=401),
    "PUT /api/v1/clips/<clip_id>/moments/order": allow(FOOTAGE, 400, other=404, anon=401),
    # Needs no body: the world's home-visit clip is marked as shown to the family.
    "POST /api/v1/clips/<clip_id>/shared-review-done": allow(FOOTAGE, 200, other=404, anon=401),
    "POST /api/v1/clips/<clip_id>/sign-off": allow(("supervisor",), 400, other=404, anon=401),
    "DELETE /api/v1/annotations/<annotation_id>": allow(FOOTAGE, 404, anon=401),
    "DELETE /api/v1/replies/<reply_id>": allow(FOOTAGE, 404, anon=401),
    "DELETE /api/v1/links/<link_id>": allow(FOOTAGE, 404, anon=401),
    "DELETE /api/v1/moments/<moment_id>": allow(FOOTAGE, 404, anon=401),
    # Coding schemes and the API description are not personal data.
    "GET /api/v1/taxonomies": allow(ALL, 200, anon=401),
    "GET /api/v1/taxonomies/<scheme_id>": allow(ALL, 200, anon=401),
    "GET /api/v1/openapi.json": allow(ALL, 200, anon=401),
    "GET /clips/<clip_id>/play": allow(FOOTAGE, 200, other=404),
    "GET /clips/<clip_id>/shared-review": allow(FOOTAGE, 200, other=404),
    "GET /supervision": allow(("supervisor",), 200),
    "GET /supervision/<clip_id>": allow(("supervisor",), 200, other=404),
    # A home visit is not signed off: the page says why (303 back with a message).
    "POST /supervision/<clip_id>/sign-off": allow(("supervisor",), 400, other=404),
    # -- the programme: groups, supervision record, report, shares ---------------------
    # Everyone sees their site's groups (a facilitator only those they co-facilitate).
    "GET /groups": allow(ALL, 200),
    "GET /groups/<group_id>": allow(ALL, 200, other=404),
    # Managing groups: admins and supervisors. Empty forms: 400, or 303 back with a message.
    "GET /groups/new": allow(MANAGE, 200),
    "POST /groups": allow(MANAGE, 400),
    "POST /groups/<group_id>/schedule": allow(MANAGE, 303, other=404),
    "POST /groups/<group_id>/families": allow(MANAGE, 303, other=404),
    "POST /groups/<group_id>/families/<family_id>/move": allow(MANAGE, 303, other=404),
    "GET /groups/<group_id>/supervision": allow(("supervisor",), 200, other=404),
    "POST /groups/<group_id>/supervision": allow(("supervisor",), 400, other=404),
    # Counts only (no footage, no family codes): the operational lead, admins, DPOs.
    "GET /reports/programme": allow(REPORT, 200),
    "GET /reports/programme.csv": allow(REPORT, 200),
    "GET /clips/<clip_id>/shares": allow(MANAGE, 200, other=404),
    "POST /clips/<clip_id>/shares": allow(MANAGE, 400, other=404),
    "POST /clips/shares/<share_id>/revoke": allow(MANAGE, 303, other=404),
}

#: Which object of a site fills a URL parameter (default: by parameter name).
PARAMS = {
    "clip_id": "clip",
    "user_id": "target_user",
    "consent_id": "consent",
    "hold_id": "hold",
    "upload_id": "upload",
    "annotation_id": "annotation",
    "reply_id": "reply",
    "link_id": "link",
    "moment_id": "moment",
    "scheme_id": "scheme",
    "group_id": "group",
    "family_id": "family",
    "share_id": "share",
}
#: Per-route exceptions: the object that makes the route meaningful.
OVERRIDES = {
    "GET /upload/<clip_id>": {"clip_id": "receiving_clip"},
    "GET /dpo/tombstones/<clip_id>": {"clip_id": "destroyed_clip"},
}
#: Destructive tus calls on own ids would end the upload for later rows: use an unknown id.
BOGUS_OWN = {
    "DELETE /api/v1/uploads/<upload_id>",
    "POST /api/v1/uploads/<upload_id>",
    "DELETE /api/v1/annotations/<annotation_id>",
    "DELETE /api/v1/replies/<reply_id>",
    "DELETE /api/v1/links/<link_id>",
    "DELETE /api/v1/moments/<moment_id>",
}


def route_keys(app: Flask) -> list[tuple[str, Rule, str]]:
    """(key, rule, method) for every method of every route the app serves."""
    found = []
    for rule in app.url_map.iter_rules():
        methods = set(rule.methods or ())
        if rule.provide_automatic_options:
            methods.discard("OPTIONS")
        if "GET" in methods:
            methods.discard("HEAD")
        for method in sorted(methods):
            found.append((f"{method} {rule.rule}", rule, method))
    return sorted(found, key=lambda item: item[0])


def build_url(world: World, key: str, rule: Rule, side: str) -> str:
    site = world.sites["a" if side == "own" else "b"]
    values: dict[str, Any] = {}
    for name in rule.arguments:
        if name == "filename":
            values[name] = "css/verp.css"
        elif key in BOGUS_OWN:
            values[name] = BOGUS
        else:
            values[name] = getattr(site, OVERRIDES.get(key, {}).get(name, PARAMS[name]))
    return rule.build(values, append_unknown=False)[1]  # type: ignore[index]


def call(client: FlaskClient, method: str, url: str) -> int:
    headers = {"Tus-Resumable": "1.0.0", "X-CSRFToken": csrf_token(client)}
    if method == "PATCH":  # a well-formed empty tus PATCH: only the lookup can refuse it
        headers |= {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    data = {"csrf_token": headers["X-CSRFToken"]} if method == "POST" else None
    response = client.open(url, method=method, headers=headers, data=data)
    return response.status_code


def test_every_route_has_a_row(app: Flask) -> None:
    """A new route must be added to TABLE (this is what makes the matrix complete)."""
    missing = [key for key, _, _ in route_keys(app) if key not in TABLE]
    stale = sorted(set(TABLE) - {key for key, _, _ in route_keys(app)})
    assert not missing, f"routes without an authorisation row: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"


def test_every_view_declares_a_policy(app: Flask) -> None:
    """Each view passed through authz.requires or authz.public (static excepted)."""
    from webapp.authz import policy_of

    undeclared = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint != "static" and policy_of(view) is None
    ]
    assert not undeclared


@pytest.mark.parametrize("identity", ["anonymous", *ROLES])
def test_matrix(app: Flask, world: World, login_as: LoginAs, identity: str) -> None:
    client = app.test_client()
    if identity != "anonymous":
        login_as(client, identity)
    wrong = []
    for key, rule, method in route_keys(app):
        row = TABLE.get(key)
        if row is None:
            continue  # reported by test_every_route_has_a_row
        for side in ("own", "other"):
            if identity == "anonymous" and side == "other":
                continue
            expected = row.anon if identity == "anonymous" else getattr(row, side)[identity]
            status = call(client, method, build_url(world, key, rule, side))
            if status != expected:
                wrong.append(f"{key} [{side}] as {identity}: got {status}, expected {expected}")
            if row.relogin and identity != "anonymous":
                login_as(client, identity)
    assert not wrong, "\n".join(wrong)


def test_unknown_route_is_404_for_everyone(app: Flask, login_as: LoginAs) -> None:
    client = app.test_client()
    assert client.get("/no/such/page").status_code == 404
    login_as(client, "admin")
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/api/v1/nothing").get_json()["error"]["code"] == "not_found"


# -- the case team and shares (docs/programme.md) ----------------------------------------


@dataclass(frozen=True)
class CaseTeam:
    clip: str  # a home visit of the family enrolled in site a's group, with a poster
    other_group_facilitator: str  # email of a facilitator of site a's second group


def _case_team(services: Any, world: World) -> CaseTeam:
    """Site a's enrolled family filmed at home by the group's health co-facilitator, and a
    second group at site a run by two other facilitators."""
    from ingest.clips import register_clip
    from storage.audit import Actor
    from storage.db.footage import Consent
    from storage.db.tenancy import Site, User
    from storage.programme import Placement, create_group
    from tests.webapp_fixtures import POSTER_BYTES, password_hash

    site = world.sites["a"]
    uploader = Actor(site.users["facilitator"], "facilitator", site.id)
    with services.db.session() as db:
        others = []
        for name, discipline in (("hv2", "health"), ("cs2", "childrens-services")):
            user = User(
                site_id=site.id,
                email=f"{name}@a.example.org",
                role="facilitator",
                discipline=discipline,
                password_hash=password_hash(),
                created_at=services.clock.now(),
            )
            db.add(user)
            db.flush()
            others.append((user.id, discipline, False))
        create_group(
            db, services.audit, Actor.system("test"), site_id=site.id, code="GRP-A2",
            name="Second group", facilitators=others, starts_on=services.clock.now(),
        )  # fmt: skip
        consent = db.get(Consent, site.consent)
        site_row = db.get(Site, site.id)
        assert consent is not None and site_row is not None
        clip = register_clip(
            db, services.vault, services.audit, services.settings, actor=uploader,
            site=site_row, kind="home-visit", consent=consent, uploaded_by=uploader.id,
            placement=Placement(family_id=site.family),
        )  # fmt: skip
        assert clip.group_id == site.group
        clip.status, clip.stage, clip.duration_ms = "ready", "ready", 20000
        services.vault.put_bytes(db, site.id, clip.id, "poster", POSTER_BYTES, "image/jpeg")
        return CaseTeam(clip=clip.id, other_group_facilitator="hv2@a.example.org")


def _sign_in(client: FlaskClient, email: str) -> None:
    from tests.webapp_fixtures import PASSWORD, post

    assert post(client, "/login", {"email": email, "password": PASSWORD}).status_code == 302


def _reach(client: FlaskClient, clip_id: str) -> list[int]:
    """Status of the clip page, its JSON, and its poster (footage bytes)."""
    urls = (f"/clips/{clip_id}", f"/api/v1/clips/{clip_id}", f"/clips/{clip_id}/poster")
    return [client.get(url).status_code for url in urls]


def test_both_co_facilitators_reach_the_familys_clip_and_the_other_group_does_not(
    app: Flask, world: World, services: Any
) -> None:
    team = _case_team(services, world)
    uploader, co_facilitator, stranger = app.test_client(), app.test_client(), app.test_client()
    _sign_in(uploader, world.email("facilitator"))
    _sign_in(co_facilitator, "target@a.example.org")  # did not upload, is not filmed
    _sign_in(stranger, team.other_group_facilitator)
    assert _reach(uploader, team.clip) == [200, 200, 200]
    assert _reach(co_facilitator, team.clip) == [200, 200, 200]
    assert _reach(stranger, team.clip) == [404, 404, 404]
    listed = co_facilitator.get("/api/v1/clips").get_json()
    assert team.clip in {c["id"] for c in listed["clips"]}
    assert team.clip not in {c["id"] for c in stranger.get("/api/v1/clips").get_json()["clips"]}


def test_a_shared_supervisor_of_another_site_reaches_only_the_shared_clip_until_expiry(
    app: Flask, world: World, services: Any, login_as: LoginAs
) -> None:
    from datetime import timedelta

    from storage.audit import Actor
    from storage.programme import share_clip

    team = _case_team(services, world)
    national = app.test_client()
    login_as(national, "supervisor", "b")
    assert _reach(national, team.clip) == [404, 404, 404]  # nothing shared yet
    site = world.sites["a"]
    with services.db.session() as db:
        share_clip(
            db, services.audit, Actor(site.users["supervisor"], "supervisor", site.id),
            clip_id=team.clip, supervisor_id=world.sites["b"].users["supervisor"], days=7,
            reason="national training team review",
        )  # fmt: skip
    assert _reach(national, team.clip) == [200, 200, 200]
    assert _reach(national, site.clip) == [404, 404, 404]  # only the shared clip
    assert national.get(f"/groups/{site.group}").status_code == 404
    services.clock.advance(timedelta(days=7) - timedelta(seconds=1))
    login_as(national, "supervisor", "b")  # the web session itself expires when idle
    assert _reach(national, team.clip) == [200, 200, 200]  # the last second of the share
    services.clock.advance(timedelta(seconds=1))
    assert _reach(national, team.clip) == [404, 404, 404]  # expired


def test_a_share_ends_at_revocation_and_at_withdrawal(
    app: Flask, world: World, services: Any, login_as: LoginAs
) -> None:
    from storage.audit import Actor
    from storage.destruction import Destroyer
    from storage.programme import revoke_share, share_clip
    from storage.withdrawal import withdraw_consent

    team = _case_team(services, world)
    site = world.sites["a"]
    lead = Actor(site.users["supervisor"], "supervisor", site.id)
    national = app.test_client()
    login_as(national, "supervisor", "b")

    def share() -> str:
        with services.db.session() as db:
            return share_clip(
                db, services.audit, lead, clip_id=team.clip,
                supervisor_id=world.sites["b"].users["supervisor"], days=30, reason="review",
            ).id  # fmt: skip

    first = share()
    assert _reach(national, team.clip) == [200, 200, 200]
    with services.db.session() as db:
        revoke_share(db, services.audit, lead, first)
    assert _reach(national, team.clip) == [404, 404, 404]
    share()
    assert _reach(national, team.clip) == [200, 200, 200]
    withdraw_consent(
        Destroyer(services.db, services.vault, services.audit), services.settings.retention,
        Actor(site.users["dpo"], "dpo", site.id), site_id=site.id, consent_id=site.consent,
        purposes=["supervision"], reason="parent asked",
    )  # fmt: skip
    assert _reach(national, team.clip) == [404, 404, 404]
    # the co-facilitators keep the use the family still consents to (family review)
    co_facilitator = app.test_client()
    _sign_in(co_facilitator, "target@a.example.org")
    assert _reach(co_facilitator, team.clip) == [200, 200, 200]


def test_group_session_footage_needs_every_present_familys_consent(
    app: Flask, world: World, services: Any, login_as: LoginAs
) -> None:
    from datetime import UTC, datetime

    from ingest.clips import register_clip
    from storage.audit import Actor
    from storage.consent import ConsentInput, record_consent
    from storage.db.footage import Consent
    from storage.db.tenancy import Site
    from storage.programme import (
        Placement,
        enrol_family,
        group_session,
        link_consent,
    )
    from tests.webapp_fixtures import POSTER_BYTES

    site = world.sites["a"]
    operator = Actor.system("test")
    with services.db.session() as db:
        enrol_family(
            db, services.audit, operator, site_id=site.id, group_id=site.group, code="FAM-A77"
        )
        partial = record_consent(
            db, services.audit, operator, site.id,
            ConsentInput("FAM-A77", ("parent-1",), ("family-review",), "CF-77", "hv",
                         datetime(2026, 3, 1, tzinfo=UTC)),
        )  # fmt: skip
        link_consent(db, partial)
        assert partial.family_id is not None
        site_row, consent = db.get(Site, site.id), db.get(Consent, site.consent)
        assert site_row is not None and consent is not None
        meeting = group_session(db, site.group, "antenatal", 2)
        clip = register_clip(
            db, services.vault, services.audit, services.settings,
            actor=Actor(site.target_user, "facilitator", site.id),
            site=site_row, kind="group-delivery", consent=consent, uploaded_by=site.target_user,
            placement=Placement(session_id=meeting.id, present_family_ids=(partial.family_id,)),
        )  # fmt: skip
        clip.status, clip.stage, clip.duration_ms = "ready", "ready", 20000
        services.vault.put_bytes(db, site.id, clip.id, "poster", POSTER_BYTES, "image/jpeg")
        clip_id = clip.id
    supervisor = app.test_client()
    login_as(supervisor, "supervisor")
    # metadata is visible; the footage is not, because FAM-A77 did not consent to supervision
    assert _reach(supervisor, clip_id) == [200, 200, 403]


def test_a_poster_of_a_shared_clip_is_audited_in_the_clips_own_site(
    app: Flask, world: World, services: Any, login_as: LoginAs
) -> None:
    """A list entry sits in the viewer's site's log; it must not hide from the clip's
    site's DPO that a supervisor elsewhere saw a frame of its footage."""
    from sqlalchemy import select

    from storage.audit import Actor
    from storage.db.governance import AuditEntry
    from storage.programme import share_clip

    team = _case_team(services, world)
    site = world.sites["a"]
    with services.db.session() as db:
        share_clip(
            db, services.audit, Actor(site.users["supervisor"], "supervisor", site.id),
            clip_id=team.clip, supervisor_id=world.sites["b"].users["supervisor"], days=7,
            reason="national training team review",
        )  # fmt: skip
    national = app.test_client()
    login_as(national, "supervisor", "b")
    national.get("/clips")
    with services.db.session() as db:
        listed = db.scalars(select(AuditEntry.seq).where(AuditEntry.action == "library.view")).all()
    assert listed
    assert national.get(f"/clips/{team.clip}/poster?via={listed[-1]}").status_code == 200
    with services.db.session() as db:
        entries = db.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "clip.poster", AuditEntry.target_id == team.clip
            )
        ).all()
    assert [e.site_id for e in entries] == [site.id]
    # The clip page shows the footage's facts, not the holding site's consent records.
    page = national.get(f"/clips/{team.clip}").get_data(as_text=True)
    assert "Shared with you for supervision" in page
    assert "Consent form" not in page and "Taken by" not in page
