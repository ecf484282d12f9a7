"""Moments and stills for the shared review: choose, hand to the worker, reorder, edit,
remove, mark the shared review done — and, once, the real cut of a processed clip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ingest import jobs
from ingest.pipeline import process_clip
from ingest.reception import receive_file
from storage.audit import Actor
from storage.consent import ConsentInput
from storage.db.footage import Blob, Clip
from tests.media import plain_mp4
from tests.unit.webapp.test_annotations_api import send
from tests.webapp_fixtures import LoginAs, World
from webapp.composition import Services


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Moment ids handed to the job queue (nothing is rendered)."""
    calls: list[str] = []
    monkeypatch.setattr(jobs, "enqueue_render_moment", lambda _svc, mid: calls.append(mid))
    return calls


def moments_url(world: World) -> str:
    return f"/api/v1/clips/{world.sites['a'].clip}/moments"


def test_choose_a_moment_queues_its_cut(
    client: FlaskClient, world: World, login_as: LoginAs, queued: list[str]
) -> None:
    login_as(client, "facilitator")
    created = send(
        client, "POST", moments_url(world),
        {"kind": "moment", "start_ms": 2000, "end_ms": 9000, "caption": "Look at her hands"},
    )  # fmt: skip
    assert created.status_code == 201
    body = created.get_json()
    assert body["status"] == "pending" and "media" not in body["links"]
    assert body["caption"] == "Look at her hands"
    assert queued == [body["id"]]
    playlist = client.get(moments_url(world)).get_json()
    assert [m["kind"] for m in playlist["moments"]] == ["still", "moment"]
    assert playlist["max_moments"] == 3 and playlist["max_moment_seconds"] == 15
    assert playlist["default_caption"] == "What is your baby telling you here?"
    ready = playlist["moments"][0]
    assert ready["links"]["media"] == f"/api/v1/moments/{ready['id']}/media"
    assert "blob_id" not in ready


def test_a_still_gets_the_default_question(
    client: FlaskClient, world: World, login_as: LoginAs, queued: list[str]
) -> None:
    login_as(client, "supervisor")
    created = send(client, "POST", moments_url(world), {"kind": "still", "start_ms": 12_345})
    assert created.status_code == 201
    assert created.get_json()["caption"] == "What is your baby telling you here?"
    assert created.get_json()["end_ms"] is None


def test_moment_limits_from_settings(
    client: FlaskClient, world: World, login_as: LoginAs, queued: list[str]
) -> None:
    login_as(client, "facilitator")
    url = moments_url(world)
    too_long = send(client, "POST", url, {"kind": "moment", "start_ms": 0, "end_ms": 15_001})
    assert too_long.status_code == 422
    assert "15 seconds" in too_long.get_json()["error"]["message"]
    for start in (0, 5000, 10_000):
        made = send(
            client, "POST", url, {"kind": "moment", "start_ms": start, "end_ms": start + 1000}
        )
        assert made.status_code == 201
    fourth = send(client, "POST", url, {"kind": "moment", "start_ms": 15_000, "end_ms": 16_000})
    assert fourth.status_code == 422
    assert "at most 3 moments" in fourth.get_json()["error"]["message"]
    missing_end = send(client, "POST", url, {"kind": "moment", "start_ms": 1})
    assert missing_end.status_code == 422
    odd_kind = send(client, "POST", url, {"kind": "clip", "start_ms": 1})
    assert odd_kind.status_code == 422
    assert len(queued) == 3


def test_reorder_the_playlist(
    client: FlaskClient, world: World, login_as: LoginAs, queued: list[str]
) -> None:
    login_as(client, "facilitator")
    url = moments_url(world)
    added = send(client, "POST", url, {"kind": "moment", "start_ms": 1000, "end_ms": 2000})
    new_id, still_id = added.get_json()["id"], world.sites["a"].moment
    order = f"{url}/order"
    response = send(client, "PUT", order, {"ids": [new_id, still_id]})
    assert response.status_code == 200
    assert [m["id"] for m in response.get_json()["moments"]] == [new_id, still_id]
    assert [m["id"] for m in client.get(url).get_json()["moments"]] == [new_id, still_id]
    incomplete = send(client, "PUT", order, {"ids": [new_id]})
    assert incomplete.status_code == 422
    not_a_list = send(client, "PUT", order, {"ids": new_id})
    assert not_a_list.status_code == 422
    assert [m["id"] for m in client.get(url).get_json()["moments"]] == [new_id, still_id]


def test_edit_caption_keeps_the_cut_and_new_times_need_a_new_one(
    client: FlaskClient, world: World, login_as: LoginAs, queued: list[str]
) -> None:
    login_as(client, "facilitator")
    url = f"/api/v1/moments/{world.sites['a'].moment}"
    captioned = send(client, "PATCH", url, {"caption": "Who is she looking at?"})
    assert captioned.status_code == 200
    assert captioned.get_json()["status"] == "ready" and queued == []
    retimed = send(client, "PATCH", url, {"start_ms": 5000})
    assert retimed.get_json()["status"] == "pending"
    assert queued == [world.sites["a"].moment]
    assert send(client, "PATCH", url, {"colour": "red"}).status_code == 422


def test_remove_a_moment_destroys_its_cut(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    moment = world.sites["a"].moment
    assert send(client, "DELETE", f"/api/v1/moments/{moment}").status_code == 204
    assert client.get(f"/api/v1/moments/{moment}").status_code == 404
    with services.db.session() as db:
        renditions = db.scalars(select(Blob.rendition).where(Blob.clip_id == world.sites["a"].clip))
        assert f"still-{moment}" not in set(renditions)


def test_mark_the_shared_review_done_sets_the_deletion_date(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    url = f"/api/v1/clips/{world.sites['a'].clip}/shared-review-done"
    response = send(client, "POST", url)
    assert response.status_code == 200
    assert response.get_json()["shared_review"] == "done"
    with services.db.session() as db:
        clip = db.get(Clip, world.sites["a"].clip)
        assert clip is not None and clip.shared_review_at is not None
    assert send(client, "POST", url).status_code == 400  # already recorded


def test_locked_review_refuses_new_moments(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services, queued: list[str]
) -> None:
    with services.db.session() as db:
        clip = db.get(Clip, world.sites["a"].clip)
        assert clip is not None
        clip.signed_off_at = datetime(2026, 3, 2, tzinfo=UTC)
    login_as(client, "facilitator")
    response = send(client, "POST", moments_url(world), {"kind": "still", "start_ms": 100})
    assert response.status_code == 409
    assert queued == []


# -- a real clip, cut for real (SQLite only: this one runs ffmpeg) ----------------------


def _processed_clip(services: Services, world: World, tmp_path: Path) -> str:
    site = world.sites["a"]
    video = plain_mp4(tmp_path / "visit.mp4", seconds=3, rate="25")
    consent = ConsentInput(
        family="FAM-7001", participants=("parent-1", "infant"),
        purposes=("family-review", "supervision"), form_reference="CF-7001",
        taken_by="Facilitator A", taken_at=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    actor = Actor(site.users["facilitator"], "facilitator", site.id)
    clip_id = receive_file(services, actor, video, site_slug="a", kind="home-visit",
                           consent=consent)  # fmt: skip
    process_clip(services, clip_id)
    return clip_id


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_moments_of_a_processed_clip_are_cut_and_served(
    app: Flask, world: World, login_as: LoginAs, services: Services, tmp_path: Path
) -> None:
    clip_id = _processed_clip(services, world, tmp_path)
    app.config["VERP_INLINE_PROCESSING"] = True
    client = app.test_client()
    login_as(client, "facilitator")
    url = f"/api/v1/clips/{clip_id}/moments"
    moment: Any = send(client, "POST", url, {"kind": "moment", "start_ms": 400, "end_ms": 1600})
    still: Any = send(client, "POST", url, {"kind": "still", "start_ms": 2000})
    assert moment.status_code == still.status_code == 201
    assert moment.get_json()["status"] == "ready"
    cut = client.get(moment.get_json()["links"]["media"], headers={"Range": "bytes=0-11"})
    assert cut.status_code == 206 and cut.mimetype == "video/mp4"
    assert cut.get_data()[4:8] == b"ftyp"  # an MP4, decrypted
    frame = client.get(still.get_json()["links"]["media"])
    assert frame.mimetype == "image/jpeg" and frame.get_data()[:2] == b"\xff\xd8"
    page = client.get(f"/clips/{clip_id}/shared-review")
    assert page.status_code == 200
