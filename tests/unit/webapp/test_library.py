"""The library: who sees which clips, filters, retention countdown, posters."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from storage.db.footage import Consent
from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import POSTER_BYTES, LoginAs, World, post
from webapp.composition import Services


def test_facilitator_sees_their_own_clips_of_their_site(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "facilitator")
    page = text(client.get("/clips"))
    assert "ready clip a" in page and "receiving clip a" in page
    assert "doomed clip a" not in page  # destroyed clips are not listed
    assert "clip b" not in page
    assert f"/clips/{world.sites['a'].clip}/poster" in page
    [entry] = audit_actions(services, "library.view")
    assert entry.details == {"count": 2, "posters": [world.sites["a"].clip]}


def test_another_facilitator_sees_none_of_them(app: Flask, world: World) -> None:
    client = app.test_client()
    response = post(
        client,
        "/login",
        {"email": "target@a.example.org", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    page = text(client.get("/clips"))
    assert "ready clip a" not in page and "No clips" in page
    assert client.get(f"/clips/{world.sites['a'].clip}").status_code == 404


def test_dpo_sees_metadata_but_no_posters(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "dpo")
    page = text(client.get("/clips"))
    assert "ready clip a" in page
    assert "/poster" not in page and "<img" not in page
    clip_page = text(client.get(f"/clips/{world.sites['a'].clip}"))
    assert "/poster" not in clip_page and "CF-FAM-A01" in clip_page


def test_filters(client: FlaskClient, login_as: LoginAs) -> None:
    login_as(client, "supervisor")
    ready_only = text(client.get("/clips?status=ready"))
    assert "ready clip a" in ready_only and "receiving clip a" not in ready_only
    assert "No clips match" in text(client.get("/clips?kind=group-delivery"))
    assert "ready clip a" in text(client.get("/clips?family=fam-a"))
    assert "No clips match" in text(client.get("/clips?family=FAM-Z"))
    destroyed = text(client.get("/clips?status=destroyed"))
    assert "receiving clip a" not in destroyed
    # unknown values are ignored rather than errors; characters that cannot be in a
    # family code (SQL wildcards included) are dropped
    assert client.get("/clips?kind=bogus&status=%25").status_code == 200
    assert "No clips match" in text(client.get("/clips?family=FAM-_01"))
    assert 'value="FAM-01"' in text(client.get("/clips?family=FAM-%_01"))


def test_retention_countdown_and_hold(client: FlaskClient, login_as: LoginAs) -> None:
    login_as(client, "facilitator")
    page = text(client.get("/clips"))
    assert "On legal hold" in page  # the ready clip is held
    assert "Deleted in 365 days" in page  # the receiving clip: the hard cap from upload


def test_clip_page_is_audited(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    uid = login_as(client, "supervisor")
    clip_id = world.sites["a"].clip
    page = text(client.get(f"/clips/{clip_id}"))
    assert "Watch the video together with the family" in page and "0:20" in page
    [entry] = audit_actions(services, "clip.view")
    assert (entry.actor_id, entry.target_id) == (uid, clip_id)


def test_poster_is_decrypted_and_audited(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "facilitator")
    response = client.get(f"/clips/{world.sites['a'].clip}/poster")
    assert response.status_code == 200
    assert response.data == POSTER_BYTES
    assert response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "no-store"
    assert len(audit_actions(services, "clip.poster")) == 1


def test_poster_follows_the_consent(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    with services.db.session() as db:
        consent = db.get(Consent, world.sites["a"].consent)
        assert consent is not None
        consent.withdrawn_purposes = ["family-review"]
    login_as(client, "facilitator")
    url = f"/clips/{world.sites['a'].clip}/poster"
    refused = client.get(url)
    assert refused.status_code == 403  # a home visit is shown to a facilitator for family review
    supervisor = app.test_client()
    login_as(supervisor, "supervisor")
    assert supervisor.get(url).status_code == 200  # supervision is still consented


def test_no_poster_for_a_clip_still_uploading(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    assert client.get(f"/clips/{world.sites['a'].receiving_clip}/poster").status_code == 404
