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
    "GET /admin/users": allow(("admin",), 200),
    "POST /admin/users": allow(("admin",), 400),
    "POST /admin/users/<user_id>/role": allow(("admin",), 302, other=404),
    "POST /admin/users/<user_id>/activate": allow(("admin",), 302, other=404),
    "POST /admin/users/<user_id>/deactivate": allow(("admin",), 302, other=404),
    "POST /admin/users/<user_id>/reset-totp": allow(("admin",), 302, other=404),
    "POST /admin/users/<user_id>/logout-everywhere": allow(("admin",), 302, other=404),
    "GET /clips": allow(ALL, 200),
    "GET /clips/<clip_id>": allow(ALL, 200, other=404),
    "GET /clips/<clip_id>/poster": allow(FOOTAGE, 200, other=404),
    "GET /api/v1/clips/<clip_id>": allow(ALL, 200, other=404, anon=401),
    "GET /upload": allow(FOOTAGE, 200),
    "POST /upload": allow(FOOTAGE, 400),
    # A supervisor is sent from someone else's upload page to the clip page.
    "GET /upload/<clip_id>": allow(FOOTAGE, 200, other=404, supervisor=302),
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
    "GET /dpo/audit": allow(GOVERNANCE, 200),
    "GET /dpo/audit/verify": allow(GOVERNANCE, 200),
    "GET /dpo/audit/export.csv": allow(GOVERNANCE, 200),
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
    "POST /supervision/<clip_id>/sign-off": allow(("supervisor",), 303, other=404),
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
