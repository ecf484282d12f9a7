"""Footage endpoints (playback, thumbnails, sprite, moments), the player pages, the clips
list and the coding schemes: who gets which bytes, what is audited, what is refused."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry
from storage.db.review import Moment
from tests.review_fixtures import SPRITE_BYTES, STILL_BYTES, THUMBNAILS_VTT, playback_bytes
from tests.webapp_fixtures import LoginAs, World
from webapp.composition import Services


def _audits(services: Services, action: str, actor: str | None = None) -> int:
    with services.db.session() as db:
        query = select(func.count()).where(AuditEntry.action == action)
        if actor is not None:
            query = query.where(AuditEntry.actor_id == actor)
        return int(db.scalar(query) or 0)


def media(world: World, site: str = "a") -> str:
    return f"/api/v1/clips/{world.sites[site].clip}/media"


def test_playback_is_audited_once_per_session_not_per_range(
    client: FlaskClient,
    world: World,
    login_as: LoginAs,
    services: Services,
    advance: Callable[[timedelta], None],
) -> None:
    me = login_as(client, "facilitator")
    for header in ("bytes=0-", "bytes=100-199", "bytes=-10", "bytes=5000-"):
        assert client.get(media(world), headers={"Range": header}).status_code == 206
    assert _audits(services, "clip.play", me) == 1

    advance(timedelta(minutes=8))  # still watching: the playback session is alive
    assert client.get(media(world), headers={"Range": "bytes=0-1"}).status_code == 206
    assert _audits(services, "clip.play", me) == 1

    for _ in range(2):  # paused for 12 minutes, signed in all along
        advance(timedelta(minutes=6))
        assert client.get("/account").status_code == 200
    assert client.get(media(world), headers={"Range": "bytes=0-1"}).status_code == 206
    assert _audits(services, "clip.play", me) == 2

    other = client.application.test_client()  # a second browser: its own session
    login_as(other, "facilitator")
    assert other.get(media(world), headers={"Range": "bytes=0-1"}).status_code == 206
    assert _audits(services, "clip.play", me) == 3
    with services.db.session() as db:
        entry = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "clip.play").order_by(AuditEntry.seq)
        ).first()
        assert entry is not None
        assert entry.target_id == world.sites["a"].clip
        assert entry.details == {"clip_id": world.sites["a"].clip, "rendition": "playback"}


def test_refused_requests_are_not_audited_as_playback(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    assert client.get(media(world), headers={"Range": "bytes=999999-"}).status_code == 416
    assert client.get(media(world, "b")).status_code == 404
    assert _audits(services, "clip.play") == 0


def test_supervisor_streams_the_rendition(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "supervisor")
    response = client.get(media(world))
    assert response.status_code == 200
    assert response.get_data() == playback_bytes("a")


@pytest.mark.parametrize("role", ["dpo", "admin"])
def test_governance_roles_never_receive_footage(
    client: FlaskClient, world: World, login_as: LoginAs, role: str, services: Services
) -> None:
    login_as(client, role)
    site = world.sites["a"]
    urls = [
        media(world),
        f"/api/v1/clips/{site.clip}/thumbnails.vtt",
        f"/api/v1/clips/{site.clip}/sprite.jpg",
        f"/api/v1/moments/{site.moment}/media",
        f"/clips/{site.clip}/poster",
        f"/clips/{site.clip}/play",
        f"/clips/{site.clip}/shared-review",
        f"/api/v1/clips/{site.clip}/annotations",
        f"/api/v1/clips/{site.clip}/annotations.vtt",
    ]
    for url in urls:
        response = client.get(url, headers={"Accept": "application/json"})
        assert response.status_code == 403, url
        assert response.get_json()["error"]["code"] == "forbidden"
        assert playback_bytes("a")[:64] not in response.get_data()
    assert _audits(services, "clip.play") == 0


def test_a_facilitator_sees_only_their_own_clips(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    """The site's spare facilitator did not upload the clip and is not its trainee."""
    with services.db.session() as db:
        clip = db.get(Clip, world.sites["a"].clip)
        assert clip is not None
        clip.uploaded_by = world.sites["a"].target_user
    login_as(client, "facilitator")
    assert client.get(media(world)).status_code == 404
    assert client.get(f"/clips/{world.sites['a'].clip}/play").status_code == 404


def test_consent_withdrawn_for_the_purpose_refuses_footage_with_a_reason(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    with services.db.session() as db:
        consent = db.get(Consent, world.sites["a"].consent)
        assert consent is not None
        consent.withdrawn_purposes = ["family-review"]
    login_as(client, "facilitator")
    response = client.get(media(world))
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "consent_required"
    assert "consent" in error["message"].lower()
    page = client.get(f"/clips/{world.sites['a'].clip}/play")
    assert page.status_code == 403
    assert "consent does not cover" in page.get_data(as_text=True)
    # Supervision is still covered: a supervisor may watch.
    supervisor = client.application.test_client()
    login_as(supervisor, "supervisor")
    assert supervisor.get(media(world)).status_code == 200


def test_thumbnail_track_points_at_the_sprite_served_beside_it(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    me = login_as(client, "facilitator")
    clip = world.sites["a"].clip
    track = client.get(f"/api/v1/clips/{clip}/thumbnails.vtt")
    assert track.status_code == 200
    assert track.mimetype == "text/vtt"
    assert track.get_data(as_text=True) == THUMBNAILS_VTT
    assert track.headers["Cache-Control"] == "private, no-store"
    reference = re.search(r"^(\S+)#xywh=", track.get_data(as_text=True), re.M)
    assert reference is not None
    sprite_url = f"/api/v1/clips/{clip}/" + reference.group(1)  # relative to the track
    sprite = client.get(sprite_url)
    assert sprite.status_code == 200
    assert sprite.mimetype == "image/jpeg"
    assert sprite.get_data() == SPRITE_BYTES
    assert _audits(services, "clip.thumbnails", me) == 1


def test_moment_media_is_served_and_audited_once(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    me = login_as(client, "facilitator")
    url = f"/api/v1/moments/{world.sites['a'].moment}/media"
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.get_data() == STILL_BYTES
    partial = client.get(url, headers={"Range": "bytes=0-3"})
    assert partial.status_code == 206
    assert partial.get_data() == STILL_BYTES[:4]
    assert _audits(services, "moment.play", me) == 1


def test_a_moment_still_being_cut_is_409(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    with services.db.session() as db:
        moment = db.get(Moment, world.sites["a"].moment)
        assert moment is not None
        moment.status = "pending"
    login_as(client, "facilitator")
    response = client.get(f"/api/v1/moments/{world.sites['a'].moment}/media")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"


def test_clip_json_links_footage_only_for_viewers(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    clip = world.sites["a"].clip
    login_as(client, "facilitator")
    links = client.get(f"/api/v1/clips/{clip}").get_json()["links"]
    assert links["media"] == f"/api/v1/clips/{clip}/media"
    assert links["player"] == f"/clips/{clip}/play"
    listed = client.get("/api/v1/clips").get_json()
    assert {c["id"] for c in listed["clips"]} == {clip, world.sites["a"].receiving_clip}
    assert listed["truncated"] is False
    dpo = client.application.test_client()
    login_as(dpo, "dpo")
    rows = dpo.get("/api/v1/clips").get_json()["clips"]
    assert {c["id"] for c in rows} == {clip, world.sites["a"].receiving_clip}
    assert all("media" not in c["links"] and "poster" not in c["links"] for c in rows)


def test_clips_list_filters_and_never_shows_another_site(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "supervisor")
    ready = client.get("/api/v1/clips?status=ready").get_json()["clips"]
    assert [c["id"] for c in ready] == [world.sites["a"].clip]
    destroyed = client.get("/api/v1/clips?status=destroyed").get_json()["clips"]
    assert [c["id"] for c in destroyed] == [world.sites["a"].destroyed_clip]
    assert client.get("/api/v1/clips?kind=group-delivery").get_json()["clips"] == []
    everything = client.get("/api/v1/clips?kind=nonsense").get_json()["clips"]
    assert world.sites["b"].clip not in {c["id"] for c in everything}


def test_taxonomies_for_a_kind_and_one_scheme(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "facilitator")
    body = client.get("/api/v1/taxonomies?kind=home-visit").get_json()
    ids = {s["id"] for s in body["schemes"]}
    assert ids == {"infant-cues", "adult-responses"}
    assert {"a", "A", "i", "o", " "} <= set(body["reserved_keys"])
    every = {s["id"] for s in client.get("/api/v1/taxonomies").get_json()["schemes"]}
    assert "group-facilitation" in every
    scheme = client.get("/api/v1/taxonomies/infant-cues").get_json()
    assert any(code["id"] == "smiling" for code in scheme["codes"])
    missing = client.get("/api/v1/taxonomies/no-such-scheme")
    assert missing.status_code == 404


def test_player_page_carries_its_settings_as_data_not_code(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    me = login_as(client, "facilitator")
    clip = world.sites["a"].clip
    response = client.get(f"/clips/{clip}/play")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>" not in html  # CSP: no inline code
    found = re.search(r'<script type="application/json" id="player-config">(.*?)</script>', html)
    assert found is not None
    config = json.loads(found.group(1))
    assert config["clip"] == {
        "id": clip,
        "kind": "home-visit",
        "duration_ms": 20000,
        "frame_rate": "25",
        "locked": False,
    }
    assert config["urls"]["media"] == f"/api/v1/clips/{clip}/media"
    assert config["urls"]["sprite"] == f"/api/v1/clips/{clip}/sprite.jpg"
    assert config["moments_enabled"] is True
    assert f'src="/api/v1/clips/{clip}/media"' in html
    assert "Content-Security-Policy" in response.headers
    assert _audits(services, "clip.view", me) == 1


def test_shared_review_page_and_redirect_for_a_clip_not_ready(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "facilitator")
    page = client.get(f"/clips/{world.sites['a'].clip}/shared-review")
    assert page.status_code == 200
    assert 'id="shared-config"' in page.get_data(as_text=True)
    waiting = world.sites["a"].receiving_clip
    response = client.get(f"/clips/{waiting}/play")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/clips/{waiting}")


def test_clip_page_offers_the_player_to_viewers_only(
    app: Flask, world: World, login_as: LoginAs
) -> None:
    clip = world.sites["a"].clip
    viewer = app.test_client()
    login_as(viewer, "supervisor")
    html = viewer.get(f"/clips/{clip}").get_data(as_text=True)
    assert f'href="/clips/{clip}/play"' in html
    assert f'href="/supervision/{clip}"' in html
    auditor = app.test_client()
    login_as(auditor, "dpo")
    assert f"/clips/{clip}/play" not in auditor.get(f"/clips/{clip}").get_data(as_text=True)
