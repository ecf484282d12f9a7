"""The annotations API: create/edit/delete, threads, resolving, links, exports, CSRF."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from storage.db.review import Annotation
from tests.unit.webapp.helpers import audit_actions
from tests.webapp_fixtures import LoginAs, World, csrf_token
from webapp.composition import Services


def send(client: FlaskClient, method: str, url: str, body: Any = None) -> Any:
    """A JSON API call with the session's CSRF token."""
    return client.open(url, method=method, json=body, headers={"X-CSRFToken": csrf_token(client)})


def count_annotations(services: Services) -> int:
    with services.db.session() as db:
        return int(db.scalar(select(func.count()).select_from(Annotation)) or 0)


def test_create_a_coded_point_annotation_and_list_it(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    me = login_as(client, "facilitator")
    clip = world.sites["a"].clip
    created = send(
        client,
        "POST",
        f"/api/v1/clips/{clip}/annotations",
        {"start_ms": 10_000, "subject": "infant", "scheme_id": "infant-cues",
         "codes": ["smiling", "mutual-gaze"], "text": "Two cues together"},
    )  # fmt: skip
    assert created.status_code == 201
    body = created.get_json()
    assert body["start_ms"] == 10_000 and body["end_ms"] is None
    assert body["start_frame"] == 250  # 25 fps
    assert [c["id"] for c in body["codes"]] == ["smiling", "mutual-gaze"]
    assert body["codes"][0]["colour"].startswith("#")
    assert body["author_id"] == me and body["author"] == "Facilitator A"
    assert body["replies"] == [] and body["links"] == []
    listed = client.get(f"/api/v1/clips/{clip}/annotations").get_json()["annotations"]
    assert [a["start_ms"] for a in listed] == [3000, 6500, 10_000]  # timeline order
    seeded = listed[0]
    assert seeded["replies"][0]["text"] == "Lovely moment."
    assert seeded["replies"][0]["author"] == "Supervisor A"
    assert seeded["links"][0]["relation"] == "received"


def test_an_interval_needs_its_end_after_its_start(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    url = f"/api/v1/clips/{world.sites['a'].clip}/annotations"
    before = count_annotations(services)
    bad = [
        {"start_ms": 5000, "end_ms": 4000, "subject": "infant", "text": "x"},
        {"start_ms": 5000, "end_ms": 99_999, "subject": "infant", "text": "x"},
        {"start_ms": "5000", "subject": "infant", "text": "x"},
        {"start_ms": 5000, "subject": "baby", "text": "x"},
        {"start_ms": 5000, "subject": "infant"},  # neither codes nor text
        {"start_ms": 5000, "subject": "infant", "scheme_id": "infant-cues", "codes": ["waiting"]},
        {"start_ms": 5000, "subject": "infant", "text": "x", "author_id": "someone-else"},
        ["not", "an", "object"],
    ]
    for body in bad:
        response = send(client, "POST", url, body)
        assert response.status_code == 422, body
        error = response.get_json()["error"]
        assert error["code"] == "invalid" and error["message"]
    assert count_annotations(services) == before  # nothing was stored


def test_csrf_token_is_required_for_every_write(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    site = world.sites["a"]
    before = count_annotations(services)
    attempts = [
        ("POST", f"/api/v1/clips/{site.clip}/annotations"),
        ("PATCH", f"/api/v1/annotations/{site.annotation}"),
        ("DELETE", f"/api/v1/annotations/{site.annotation}"),
        ("POST", f"/api/v1/annotations/{site.annotation}/replies"),
        ("POST", "/api/v1/links"),
        ("POST", f"/api/v1/clips/{site.clip}/moments"),
        ("PUT", f"/api/v1/clips/{site.clip}/moments/order"),
        ("DELETE", f"/api/v1/moments/{site.moment}"),
    ]
    for method, url in attempts:
        body = {"start_ms": 1000, "subject": "infant", "text": "no token"}
        response = client.open(url, method=method, json=body)
        assert response.status_code == 400, url
        assert response.get_json()["error"]["code"] == "csrf_failed"
    assert count_annotations(services) == before
    assert client.get(f"/api/v1/annotations/{site.annotation}").status_code == 200


def test_user_text_is_stored_verbatim_and_sent_as_json(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "facilitator")
    text = '<script>alert("x")</script> & <b>bold</b>'
    created = send(
        client, "POST", f"/api/v1/clips/{world.sites['a'].clip}/annotations",
        {"start_ms": 1000, "subject": "parent", "text": text},
    )  # fmt: skip
    assert created.status_code == 201
    assert created.mimetype == "application/json"
    assert created.get_json()["text"] == text  # the page renders it with textContent
    # JSON with nosniff is never rendered as HTML by a browser.
    assert created.headers["X-Content-Type-Options"] == "nosniff"


def test_edit_with_a_stale_revision_is_a_conflict(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "facilitator")
    url = f"/api/v1/annotations/{world.sites['a'].annotation}"
    first = send(client, "PATCH", url, {"text": "Baby smiles at Mum.", "revision": 1})
    assert first.status_code == 200
    assert first.get_json()["revision"] == 2
    assert first.get_json()["text"] == "Baby smiles at Mum."
    stale = send(client, "PATCH", url, {"text": "Overwrite?", "revision": 1})
    assert stale.status_code == 409
    assert client.get(url).get_json()["text"] == "Baby smiles at Mum."
    unknown = send(client, "PATCH", url, {"author_id": "me"})
    assert unknown.status_code == 422


def test_only_the_author_edits_or_deletes(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "supervisor")
    url = f"/api/v1/annotations/{world.sites['a'].annotation}"  # the facilitator's
    assert send(client, "PATCH", url, {"text": "mine now"}).status_code == 403
    assert send(client, "DELETE", url).status_code == 403
    assert client.get(url).get_json()["text"] == "Baby smiles."


def test_delete_own_annotation(client: FlaskClient, world: World, login_as: LoginAs) -> None:
    login_as(client, "facilitator")
    url = f"/api/v1/annotations/{world.sites['a'].annotation}"
    response = send(client, "DELETE", url)
    assert response.status_code == 204
    assert client.get(url).status_code == 404


def test_supervisor_replies_and_resolves_the_thread(
    client: FlaskClient, world: World, login_as: LoginAs, advance: Callable[[timedelta], None]
) -> None:
    advance(timedelta(minutes=1))  # the thread is ordered by time: reply after the seed
    login_as(client, "supervisor")
    annotation = world.sites["a"].annotation
    reply = send(client, "POST", f"/api/v1/annotations/{annotation}/replies", {"text": "Yes!"})
    assert reply.status_code == 201
    assert reply.get_json()["author_role"] == "supervisor"
    thread = client.get(f"/api/v1/annotations/{annotation}/replies").get_json()["replies"]
    assert [r["text"] for r in thread] == ["Lovely moment.", "Yes!"]
    empty = send(client, "POST", f"/api/v1/annotations/{annotation}/replies", {"text": "  "})
    assert empty.status_code == 422
    resolved = send(client, "POST", f"/api/v1/annotations/{annotation}/resolve", {"resolved": True})
    assert resolved.status_code == 200 and resolved.get_json()["resolved"] is True
    bad = send(client, "POST", f"/api/v1/annotations/{annotation}/resolve", {"resolved": "yes"})
    assert bad.status_code == 422
    reopened = send(
        client, "POST", f"/api/v1/annotations/{annotation}/resolve", {"resolved": False}
    )
    assert reopened.get_json()["resolved"] is False


def test_reply_delete_is_for_its_author(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    reply = world.sites["a"].reply  # written by the supervisor
    login_as(client, "facilitator")
    assert send(client, "DELETE", f"/api/v1/replies/{reply}").status_code == 403
    supervisor = client.application.test_client()
    login_as(supervisor, "supervisor")
    assert send(supervisor, "DELETE", f"/api/v1/replies/{reply}").status_code == 204
    thread = supervisor.get(f"/api/v1/annotations/{world.sites['a'].annotation}/replies")
    assert thread.get_json()["replies"] == []


def test_link_an_initiative_to_a_response_and_unlink(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "facilitator")
    site = world.sites["a"]
    response = send(
        client, "POST", f"/api/v1/clips/{site.clip}/annotations",
        {"start_ms": 7000, "end_ms": 9000, "subject": "parent",
         "scheme_id": "adult-responses", "codes": ["waiting"]},
    ).get_json()  # fmt: skip
    link = send(
        client, "POST", "/api/v1/links",
        {"source_id": site.annotation, "target_id": response["id"], "relation": "received"},
    )  # fmt: skip
    assert link.status_code == 201
    links = client.get(f"/api/v1/clips/{site.clip}/links").get_json()["links"]
    assert {(k["source_id"], k["target_id"]) for k in links} >= {(site.annotation, response["id"])}
    again = send(
        client, "POST", "/api/v1/links",
        {"source_id": site.annotation, "target_id": response["id"]},
    )  # fmt: skip
    assert again.status_code == 422  # already linked
    other_site = send(
        client, "POST", "/api/v1/links",
        {"source_id": site.annotation, "target_id": world.sites["b"].annotation},
    )  # fmt: skip
    assert other_site.status_code == 404
    assert send(client, "DELETE", f"/api/v1/links/{link.get_json()['id']}").status_code == 204


def test_exports_are_files_of_what_the_user_may_see(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "facilitator")
    clip = world.sites["a"].clip
    vtt = client.get(f"/api/v1/clips/{clip}/annotations.vtt")
    assert vtt.status_code == 200 and vtt.mimetype == "text/vtt"
    text = vtt.get_data(as_text=True)
    assert text.startswith("WEBVTT") and "00:00:03.000 --> 00:00:06.000" in text
    assert "Baby: Smiling" in text
    csv = client.get(f"/api/v1/clips/{clip}/annotations.csv")
    assert csv.mimetype == "text/csv"
    assert "attachment" in csv.headers["Content-Disposition"]
    assert client.get(f"/api/v1/clips/{clip}/annotations.eaf").get_data().startswith(b"<?xml")
    document = client.get(f"/api/v1/clips/{clip}/annotations.json").get_json()
    assert document["format"] == "verp-annotations"
    assert len(document["annotations"]) == 2


def test_the_players_track_is_audited_once_per_session_and_downloads_every_time(
    client: FlaskClient,
    world: World,
    login_as: LoginAs,
    services: Services,
    advance: Callable[[timedelta], None],
) -> None:
    me = login_as(client, "facilitator")
    clip = world.sites["a"].clip
    track = f"/api/v1/clips/{clip}/annotations.vtt"
    for _ in range(3):  # the player's <track>, on every load of the player
        response = client.get(track)
        assert response.status_code == 200 and response.get_data().startswith(b"WEBVTT")
        assert response.headers["Content-Disposition"].startswith("inline")
    [view] = audit_actions(services, "annotations.view")
    assert (view.actor_id, view.target_id) == (me, clip)
    assert view.details == {"clip_id": clip, "format": "vtt", "count": 2}
    assert audit_actions(services, "annotations.export") == []

    for url in (f"{track}?download=1", f"{track}?download=1", track.replace(".vtt", ".csv")):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment")
    exports = audit_actions(services, "annotations.export")
    assert [e.details["format"] for e in exports] == ["vtt", "vtt", "csv"]

    advance(timedelta(minutes=11))  # the playback session has ended: a new one starts
    assert client.get(track).status_code == 200
    assert len(audit_actions(services, "annotations.view")) == 2
    assert client.get(f"/api/v1/clips/{world.sites['b'].clip}/annotations.vtt").status_code == 404
    assert len(audit_actions(services, "annotations.view")) == 2


def test_signed_off_review_refuses_changes(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    from datetime import UTC, datetime

    from storage.db.footage import Clip

    with services.db.session() as db:
        row = db.get(Clip, world.sites["a"].clip)
        assert row is not None
        row.signed_off_at = datetime(2026, 3, 2, tzinfo=UTC)
    login_as(client, "facilitator")
    response = send(
        client, "POST", f"/api/v1/clips/{world.sites['a'].clip}/annotations",
        {"start_ms": 1000, "subject": "parent", "text": "late"},
    )  # fmt: skip
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "locked"
