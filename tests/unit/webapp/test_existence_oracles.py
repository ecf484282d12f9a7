"""No answer tells a user that something they may not see exists.

* Within a site: another facilitator's annotation, moment, reply or link answers exactly
  what an id that never existed answers (404, the same body), for every API route.
* Across sites: an admin adding an email used at another site gets the same neutral
  refusal as any other refused add, never "exists".
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from storage.db.tenancy import User
from tests.unit.webapp.helpers import audit_actions, count_rows, text
from tests.webapp_fixtures import PASSWORD, LoginAs, World, csrf_token, post
from webapp.composition import Services
from webapp.user_admin import ADD_REFUSED

BOGUS = "00000000-0000-0000-0000-000000000000"
#: Which of site a's objects fills each id of a URL (all belong to the facilitator's clip).
OBJECTS = {
    "clip_id": "clip",
    "annotation_id": "annotation",
    "reply_id": "reply",
    "link_id": "link",
    "moment_id": "moment",
}
BODIES: dict[str, Any] = {
    "PATCH": {"text": "mine now", "caption": "mine now"},
    "POST": {"text": "hello", "resolved": True, "start_ms": 0, "end_ms": 1000},
    "PUT": {"ids": []},
}


def _sign_in_as_colleague(app: Flask, world: World) -> FlaskClient:
    """A facilitator of site a who neither uploaded nor is filmed in its clip."""
    client = app.test_client()
    response = post(client, "/login", {"email": "target@a.example.org", "password": PASSWORD})
    assert response.status_code == 302
    return client


def _api_routes(app: Flask) -> list[tuple[str, str, list[str]]]:
    routes = []
    for rule in app.url_map.iter_rules():
        names = sorted(rule.arguments)
        if not rule.rule.startswith("/api/v1/") or not set(names) & set(OBJECTS):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule, names))
    return routes


def _url(rule: str, values: dict[str, str]) -> str:
    return re.sub(r"<([^>]+)>", lambda m: values[m.group(1)], rule)


def _answer(client: FlaskClient, method: str, url: str, token: str) -> tuple[int, Any]:
    response = client.open(
        url, method=method, json=BODIES.get(method), headers={"X-CSRFToken": token}
    )
    body = response.get_json(silent=True)
    return response.status_code, body if body is not None else response.get_data()


def test_not_yours_answers_like_does_not_exist(app: Flask, world: World) -> None:
    site = world.sites["a"]
    client = _sign_in_as_colleague(app, world)
    token = csrf_token(client)
    statuses, leaks = [], []
    for method, rule, names in _api_routes(app):
        real = {n: getattr(site, OBJECTS[n]) for n in names}
        bogus = dict.fromkeys(names, BOGUS)
        mine = _answer(client, method, _url(rule, real), token)
        none = _answer(client, method, _url(rule, bogus), token)
        statuses.append(mine[0])
        if mine != none:
            leaks.append((method, rule, mine[0], none[0]))
    assert leaks == []
    # Everything is "not found", except a refusal by role alone (a facilitator signing
    # off), which is decided before any lookup and so is the same for every id.
    assert len(statuses) >= 20
    assert statuses.count(404) == len(statuses) - 1 and statuses.count(403) == 1


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/annotations/{annotation}",
        "/api/v1/annotations/{annotation}/replies",
        "/api/v1/moments/{moment}",
    ],
)
def test_the_issue_examples(app: Flask, world: World, url: str) -> None:
    client = _sign_in_as_colleague(app, world)
    site = world.sites["a"]
    mine = client.get(url.format(annotation=site.annotation, moment=site.moment))
    none = client.get(url.format(annotation=BOGUS, moment=BOGUS))
    assert mine.status_code == none.status_code == 404
    assert mine.get_json() == none.get_json()


def test_the_reviewers_of_the_clip_still_see_it(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    site = world.sites["a"]
    assert client.get(f"/api/v1/annotations/{site.annotation}").status_code == 200
    assert client.get(f"/api/v1/moments/{site.moment}").status_code == 200


def test_roles_that_never_review_get_the_same_403_for_any_id(
    app: Flask, login_as: LoginAs, world: World
) -> None:
    client = app.test_client()
    login_as(client, "dpo")
    site = world.sites["a"]
    real = client.get(f"/api/v1/annotations/{site.annotation}")
    bogus = client.get(f"/api/v1/annotations/{BOGUS}")
    assert real.status_code == bogus.status_code == 403
    assert real.get_json() == bogus.get_json()


# -- admin forms ---------------------------------------------------------------------------


def _add(client: FlaskClient, email: str, role: str = "dpo") -> Any:
    return post(client, "/admin/users", {"email": email, "role": role})


def _notice(response: Any) -> str:
    found = re.search(r'class="notice notice--error" role="alert">([^<]*)<', text(response))
    assert found, "no error notice on the page"
    return found.group(1)


def test_an_email_of_another_site_gets_the_neutral_refusal(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "admin")
    users_before = count_rows(services, User)
    taken_elsewhere = _add(client, world.email("dpo", "b"))
    taken_here = _add(client, world.email("supervisor", "a"))
    malformed = _add(client, "not-an-email")
    bad_role = _add(client, "fresh@a.example.org", "superuser")
    for response in (taken_elsewhere, taken_here, malformed, bad_role):
        assert response.status_code == 400
        assert _notice(response) == ADD_REFUSED
    assert "exist" not in _notice(taken_elsewhere).lower()
    assert "exist" not in text(taken_elsewhere).lower()
    assert count_rows(services, User) == users_before
    refusals = audit_actions(services, "user.create_refused")
    assert len(refusals) == 4
    assert all(e.details in (None, {}) and e.target_id is None for e in refusals)
    assert all(e.site_id == world.sites["a"].id for e in refusals)
