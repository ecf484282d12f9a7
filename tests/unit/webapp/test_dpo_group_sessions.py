"""A family's consent page and its audit trail include the group-session recordings the
family was present in (a withdrawal reaches those too), not only its own clips."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.unit.programme.world import PASSWORD, build, clip, consent
from tests.unit.webapp.helpers import text
from tests.webapp_fixtures import World, post
from webapp.composition import Services


def test_consent_page_and_family_filter_include_sessions_the_family_was_in(
    client: FlaskClient, world: World, services: Services
) -> None:
    prog = build(services)
    first = consent(services, prog, "FAM-A1")
    second = consent(services, prog, "FAM-A2")
    session_clip = clip(
        services,
        prog,
        first,
        by="cs_a",
        kind="group-delivery",
        group="G-A",
        meeting="antenatal:2",
        present=["FAM-A1", "FAM-A2"],
    )
    login = {"email": "dpo@north.example", "password": PASSWORD}
    assert post(client, "/login", login).status_code == 302
    page = text(client.get(f"/dpo/consents/{second}"))
    assert f"/clips/{session_clip}" in page  # FAM-A2 was in the room
    trail = text(client.get(f"/dpo/audit?clip={session_clip}"))
    by_family = text(client.get("/dpo/audit?family=FAM-A2"))
    registered = "Registered the new clip"
    assert registered in trail and registered in by_family
