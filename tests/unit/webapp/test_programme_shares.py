"""Sharing a clip for supervision on the web: with a supervisor elsewhere for a fixed
period, revoked, refused when a family filmed did not consent to supervision, listed on
the DPO dashboard; a clip shared in from another site is watched, not managed. Escaped
user text. Both database backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from storage.db.programme import ClipShare
from tests.unit.webapp.helpers import text
from tests.unit.webapp.test_programme_pages import XSS, second_family, session_clip
from tests.webapp_fixtures import LoginAs, World, post
from webapp.composition import Services


def test_share_for_supervision_and_refusal(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site, far = world.sites["a"], world.sites["b"]
    login_as(client, "supervisor")
    page = text(client.get(f"/clips/{site.clip}/shares"))
    assert "Share for supervision" in page and 'name="email"' in page
    assert "Sharing with other sites is not set up" in page
    data = {"email": far.emails["supervisor"], "days": "10", "reason": f"national team {XSS}"}
    # Site b is not a receiving site yet: its supervisor is "no such supervisor".
    refused = post(client, f"/clips/{site.clip}/shares", data)
    assert refused.status_code == 400 and "No supervisor has that email" in text(refused)
    services.settings = replace(services.settings, share_receiving_sites=(far.slug,))
    page = text(client.get(f"/clips/{site.clip}/shares"))
    assert "A supervisor of your site or of Site B." in page
    response = post(client, f"/clips/{site.clip}/shares", data)
    assert response.status_code == 303
    shown = client.get(f"/clips/{site.clip}/shares").get_data(as_text=True)
    assert XSS not in shown and "national team &lt;script&gt;" in shown
    with services.db.session() as db:
        share = db.scalar(
            select(ClipShare).where(
                ClipShare.clip_id == site.clip, ClipShare.supervisor_id == far.users["supervisor"]
            )
        )
        assert share is not None and share.expires_at == services.clock.now() + timedelta(days=10)
        share_id = share.id
    for email in ("nobody@nowhere.example", world.email("facilitator", "b")):
        refused = post(client, f"/clips/{site.clip}/shares", {**data, "email": email})
        assert refused.status_code == 400 and "No supervisor has that email" in text(refused)
    assert post(client, f"/clips/{site.clip}/shares", {**data, "days": "0"}).status_code == 400
    assert post(client, f"/clips/shares/{share_id}/revoke").status_code == 303
    with services.db.session() as db:
        ended = db.get(ClipShare, share_id)
        assert ended is not None and ended.revoked_at is not None
    # A session where one family did not consent to supervision cannot be shared.
    second = second_family(services, world, ("family-review", "evaluation"))
    clip_id = session_clip(services, world, [site.family, second])
    page = text(client.get(f"/clips/{clip_id}/shares"))
    assert "cannot be shared for supervision" in page and 'name="email"' not in page
    response = post(client, f"/clips/{clip_id}/shares", data)
    assert response.status_code == 409 and "not everyone filmed" in text(response)
    with services.db.session() as db:
        assert db.scalar(select(ClipShare).where(ClipShare.clip_id == clip_id)) is None


def test_dpo_dashboard_lists_shares(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "dpo")
    page = text(client.get("/dpo"))
    assert "Clips shared for supervision" in page
    assert "matrix test" in page and world.email("supervisor") in page
    assert "Revoke" not in page.split("Clips shared for supervision")[1].split("</section>")[0]
    other = FlaskClient(client.application)
    login_as(other, "admin")
    assert "Revoke" in text(other.get("/dpo")).split("Clips shared for supervision")[1]
    response = post(other, f"/clips/shares/{world.sites['a'].share}/revoke", {"next": "dpo"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/dpo#shares-h")
    assert "revoked" in text(other.get("/dpo")).split("Clips shared for supervision")[1]


def test_a_supervisor_elsewhere_watches_but_does_not_manage_a_share(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site, far = world.sites["a"], world.sites["b"]
    services.settings = replace(services.settings, share_receiving_sites=(far.slug,))
    login_as(client, "supervisor")
    data = {"email": far.emails["supervisor"], "days": "5", "reason": "national team"}
    assert post(client, f"/clips/{site.clip}/shares", data).status_code == 303
    other = FlaskClient(client.application)
    login_as(other, "supervisor", "b")
    page = other.get(f"/clips/{site.clip}")
    assert page.status_code == 200  # shared with them
    assert f"/clips/{site.clip}/shares" not in page.get_data(as_text=True)
    assert f"/clips/{site.clip}/shares" in client.get(f"/clips/{site.clip}").get_data(as_text=True)
    assert other.get(f"/clips/{site.clip}/shares").status_code == 404
    assert post(other, f"/clips/{site.clip}/shares", data).status_code == 404
    assert post(other, f"/clips/shares/{site.share}/revoke").status_code == 404
