"""Uploading: the consent step records consent and registers the clip; the file step
hands the tus client what it needs; a whole upload through the endpoint gets processed."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from storage.db.footage import Clip, Consent
from tests.media import plain_mp4
from tests.unit.webapp.helpers import audit_actions, count_rows, text
from tests.webapp_fixtures import LoginAs, World, csrf_token, post
from webapp.app import create_app
from webapp.composition import Services


def form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "home-visit",
        "family": "fam-0042",
        "participants": ["parent-1", "infant"],
        "other_participants": "grandparent",
        "purposes": ["family-review", "supervision"],
        "form_reference": "CF-2026-0042",
        "taken_by": "Sam",
        "taken_on": "2026-03-01",
        "title": "Play on the mat",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_consent_form_has_a_checkbox_per_purpose(client: FlaskClient, login_as: LoginAs) -> None:
    login_as(client, "facilitator")
    page = text(client.get("/upload"))
    for purpose in ("family-review", "supervision", "training-events", "evaluation"):
        assert f'<input type="checkbox" id="purpose-{purpose}" name="purposes"' in page
        assert f'<label for="purpose-{purpose}">' in page
    assert 'value="2026-03-02"' in page  # today's date by default


def test_consent_then_clip(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    uid = login_as(client, "facilitator")
    response = post(client, "/upload", form())
    assert response.status_code == 302
    clip_id = response.headers["Location"].rsplit("/", 1)[1]
    with services.db.session() as db:
        clip = db.get(Clip, clip_id)
        assert clip is not None
        consent = db.get(Consent, clip.consent_id)
        assert consent is not None
    assert (clip.status, clip.uploaded_by, clip.site_id) == ("receiving", uid, world.sites["a"].id)
    assert clip.family_code == "FAM-0042" and clip.title == "Play on the mat"
    assert consent.purposes == ["family-review", "supervision"]
    assert consent.participants == ["parent-1", "infant", "grandparent"]
    assert consent.recorded_by == uid and consent.form_reference == "CF-2026-0042"
    assert audit_actions(services, "consent.record")[-1].target_id == consent.id
    assert audit_actions(services, "clip.register")[-1].target_id == clip.id
    page = text(client.get(response.headers["Location"]))
    assert f'data-clip-id="{clip_id}"' in page and 'data-endpoint="/api/v1/uploads/"' in page
    assert 'capture="environment"' in page and 'accept="video/*"' in page
    assert "not saved in the tablet's photo gallery" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"purposes": None}, "Tick at least one use"),
        ({"purposes": ["marketing"]}, "Tick at least one use"),
        ({"family": "Smith"}, "never the family's name"),
        ({"participants": None, "other_participants": ""}, "Tick who is in the video"),
        ({"other_participants": "Auntie May"}, "without spaces or names"),
        ({"taken_on": "2026-03-05"}, "cannot be in the future"),
        ({"taken_on": "yesterday"}, "Enter the date"),
        ({"kind": "holiday"}, "Choose what kind of clip"),
        ({"form_reference": " "}, "Enter the reference"),
    ],
)
def test_bad_consent_stores_nothing(
    client: FlaskClient,
    login_as: LoginAs,
    services: Services,
    changes: dict[str, Any],
    message: str,
) -> None:
    login_as(client, "facilitator")
    before = (count_rows(services, Consent), count_rows(services, Clip))
    response = post(client, "/upload", form(**changes))
    assert response.status_code == 400
    assert message in text(response)
    assert (count_rows(services, Consent), count_rows(services, Clip)) == before


def test_trainee_must_be_of_this_site(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "supervisor")
    before = (count_rows(services, Consent), count_rows(services, Clip))
    other = world.sites["b"].users["facilitator"]
    response = post(client, "/upload", form(kind="group-delivery", trainee=other))
    assert response.status_code == 400
    assert (count_rows(services, Consent), count_rows(services, Clip)) == before
    mine = world.sites["a"].users["facilitator"]
    assert post(client, "/upload", form(kind="group-delivery", trainee=mine)).status_code == 302


def test_file_step_of_a_finished_clip_goes_to_the_clip(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    clip_id = world.sites["a"].clip
    response = client.get(f"/upload/{clip_id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/clips/{clip_id}"


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def test_a_whole_upload_is_processed(
    world: World, services: Services, login_as: LoginAs, tmp_path: Path
) -> None:
    services.settings = dataclasses.replace(services.settings, queue_url="memory://")
    client = create_app(services=services).test_client()
    login_as(client, "facilitator")
    clip_id = post(client, "/upload", form()).headers["Location"].rsplit("/", 1)[1]
    video = plain_mp4(tmp_path / "clip.mp4", size="160x120", seconds=1).read_bytes()
    tus = {"Tus-Resumable": "1.0.0", "X-CSRFToken": csrf_token(client)}
    created = client.post(
        "/api/v1/uploads/",
        headers={
            **tus,
            "Upload-Length": str(len(video)),
            "Upload-Metadata": f"clip {_b64(clip_id)}",
        },
    )
    assert created.status_code == 201
    location = created.headers["Location"]
    half = len(video) // 2
    for offset, chunk in ((0, video[:half]), (half, video[half:])):
        patched = client.patch(
            location,
            data=chunk,
            headers={
                **tus,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert patched.status_code == 204
    status = client.get(f"/api/v1/clips/{clip_id}").get_json()
    assert status["status"] == "ready" and status["progress"] == 100
    assert "poster" in status["links"]
    poster = client.get(status["links"]["poster"])
    assert poster.status_code == 200 and poster.data[:2] == b"\xff\xd8"  # a JPEG
    with services.db.session() as db:
        clip = db.scalar(select(Clip).where(Clip.id == clip_id))
        assert clip is not None and clip.source_size == len(video)
