"""GET /api/v1/clips/<id>: the clip's JSON shape for each kind of user."""

from __future__ import annotations

from flask.testing import FlaskClient

from storage.db.footage import Clip
from tests.unit.webapp.helpers import audit_actions
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
