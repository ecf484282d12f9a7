"""GET /api/v1/clips/<id>: the clip's JSON shape for each kind of user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask.testing import FlaskClient

from storage.audit import Actor
from storage.db.footage import Clip
from storage.destruction import Destroyer, request_destruction
from storage.locking import lock_clip
from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import LoginAs, World
from webapp.composition import Services

KEYS = {
    "id", "kind", "kind_label", "family_code", "title", "status", "status_label",
    "in_progress", "stage", "progress", "failure_reason", "created_at", "updated_at",
    "delete_after", "days_left", "legal_hold", "media", "links",
}  # fmt: skip


def test_clip_json_for_a_facilitator(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "facilitator")
    clip_id = world.sites["a"].clip
    body = client.get(f"/api/v1/clips/{clip_id}").get_json()
    assert set(body) >= KEYS  # other areas may add fields and links
    assert body["id"] == clip_id and body["status"] == "ready" and body["in_progress"] is False
    assert body["legal_hold"] is True
    assert body["days_left"] == 365
    assert body["media"]["duration_ms"] == 20000
    assert (
        body["links"].items()
        >= {
            "self": f"/api/v1/clips/{clip_id}",
            "page": f"/clips/{clip_id}",
            "poster": f"/clips/{clip_id}/poster",
        }.items()
    )
    assert audit_actions(services, "clip.read")[-1].target_id == clip_id


def test_clip_json_in_progress_and_failed(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "facilitator")
    clip_id = world.sites["a"].receiving_clip
    body = client.get(f"/api/v1/clips/{clip_id}").get_json()
    assert body["in_progress"] is True and "poster" not in body["links"]
    with services.db.session() as db:
        clip = db.get(Clip, clip_id)
        assert clip is not None
        clip.status, clip.failure_reason = "failed", "This file is a photo, not a video."
    failed = client.get(f"/api/v1/clips/{clip_id}").get_json()
    assert failed["failure_reason"] == "This file is a photo, not a video."


def test_polling_a_clip_is_audited_once_per_session_not_per_poll(
    client: FlaskClient,
    login_as: LoginAs,
    world: World,
    services: Services,
    advance: Callable[[timedelta], None],
) -> None:
    me = login_as(client, "facilitator")
    site = world.sites["a"]
    for _ in range(5):  # the upload page, every two seconds
        advance(timedelta(seconds=2))
        assert client.get(f"/api/v1/clips/{site.receiving_clip}").status_code == 200
    [first] = audit_actions(services, "clip.read")
    assert (first.actor_id, first.target_id) == (me, site.receiving_clip)
    assert client.get(f"/api/v1/clips/{site.clip}").status_code == 200  # another clip
    assert [e.target_id for e in audit_actions(services, "clip.read")][1:] == [site.clip]

    other = client.application.test_client()  # a second browser session
    login_as(other, "facilitator")
    assert other.get(f"/api/v1/clips/{site.receiving_clip}").status_code == 200
    assert len(audit_actions(services, "clip.read")) == 3
    advance(timedelta(minutes=11))  # idle longer than a session: reading again counts
    assert client.get(f"/api/v1/clips/{site.receiving_clip}").status_code == 200
    assert len(audit_actions(services, "clip.read")) == 4
    for _ in range(2):  # a destroyed clip: every read (it gets no session rows)
        assert client.get(f"/api/v1/clips/{site.destroyed_clip}").status_code == 200
    assert len(audit_actions(services, "clip.read")) == 6
    assert client.get(f"/api/v1/clips/{world.sites['b'].clip}").status_code == 404
    assert len(audit_actions(services, "clip.read")) == 6


def test_dpo_gets_no_footage_links(client: FlaskClient, login_as: LoginAs, world: World) -> None:
    login_as(client, "dpo")
    body = client.get(f"/api/v1/clips/{world.sites['a'].clip}").get_json()
    assert set(body["links"]) == {"self", "page"}  # nothing footage-derived


def test_errors_have_the_api_shape(client: FlaskClient, login_as: LoginAs, world: World) -> None:
    anonymous = client.get(f"/api/v1/clips/{world.sites['a'].clip}")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["code"] == "unauthenticated"
    login_as(client, "supervisor")
    other = client.get(f"/api/v1/clips/{world.sites['b'].clip}")
    assert other.status_code == 404
    assert other.get_json() == {
        "error": {"code": "not_found", "message": other.get_json()["error"]["message"]}
    }
    assert world.sites["b"].clip not in other.get_data(as_text=True)


def test_a_refused_upload_reads_refused_with_its_reason(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    reason = "This file is a photo, not a video."
    clip_id = world.sites["a"].receiving_clip
    with services.db.session() as db:  # as ingest.outcomes.refuse does
        clip = lock_clip(db, clip_id)
        assert clip is not None
        clip.status, clip.failure_reason = "failed", reason
        request_destruction(db, services.audit, Actor.system("worker"), clip, "upload-refused")
    login_as(client, "facilitator")
    marked = client.get(f"/api/v1/clips/{clip_id}").get_json()
    assert (marked["refused"], marked["status_label"]) == (True, "Refused")
    assert marked["failure_reason"] == reason
    outcome = Destroyer(services.db, services.vault, services.audit).destroy(
        clip_id, Actor.system("worker")
    )
    assert outcome.destroyed

    body = client.get(f"/api/v1/clips/{clip_id}").get_json()
    assert (body["status"], body["status_label"], body["refused"]) == ("destroyed", "Refused", True)
    assert body["failure_reason"] == reason
    assert f"Refused: {reason}" in text(client.get(f"/clips/{clip_id}"))
    listed = text(client.get("/clips?status=destroyed"))
    assert '<span class="badge badge--danger">Refused</span>' in listed

    other = client.get(f"/api/v1/clips/{world.sites['a'].destroyed_clip}").get_json()
    assert (other["status_label"], other["refused"]) == ("Destroyed", False)
    assert other["failure_reason"] is None
