"""Refused attempts cannot flood the audit log: at most USER_CAP entries per user per
minute whatever the items, the last one says so, and the cap is per user and per window."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from flask.testing import FlaskClient

from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import LoginAs, World
from webapp.composition import Services
from webapp.refusals import USER_CAP


def _walk(client: FlaskClient, count: int) -> None:
    """Ask for ``count`` clips that do not exist (each a different item)."""
    for _ in range(count):
        assert client.get(f"/clips/{uuid.uuid4()}").status_code == 404


def test_a_user_walking_through_ids_leaves_at_most_the_cap_per_minute(
    client: FlaskClient,
    login_as: LoginAs,
    world: World,
    services: Services,
    advance: Callable[[timedelta], None],
) -> None:
    login_as(client, "facilitator")
    _walk(client, USER_CAP - 2)
    entries = audit_actions(services, "access.refused")
    assert len(entries) == USER_CAP - 2
    assert not any(e.details.get("more_not_recorded") for e in entries)
    _walk(client, 5)  # crosses the cap: one more entry, then nothing
    entries = audit_actions(services, "access.refused")
    assert len(entries) == USER_CAP
    assert [e.details.get("more_not_recorded") for e in entries].count(True) == 1
    assert entries[-1].details["more_not_recorded"] is True
    advance(timedelta(minutes=1, seconds=1))  # a new window
    _walk(client, 1)
    assert len(audit_actions(services, "access.refused")) == USER_CAP + 1


def test_the_cap_is_per_user(
    client: FlaskClient,
    login_as: LoginAs,
    world: World,
    services: Services,
) -> None:
    login_as(client, "facilitator")
    _walk(client, USER_CAP + 3)
    login_as(client, "supervisor")
    _walk(client, 2)
    by_actor: dict[str, int] = {}
    for entry in audit_actions(services, "access.refused"):
        by_actor[entry.actor_id] = by_actor.get(entry.actor_id, 0) + 1
    assert sorted(by_actor.values()) == [2, USER_CAP]


def test_the_dpo_reads_that_more_were_not_recorded(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    _walk(client, USER_CAP)
    login_as(client, "dpo")
    page = text(client.get("/dpo/audit?group=refused"))
    assert "Further refusals of this person within the minute were not recorded." in page
