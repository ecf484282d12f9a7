"""The tus endpoint inside the real web app: signed-in sessions, roles, CSRF protection ON,
and PATCH bodies larger than the app's form-size limit."""

from __future__ import annotations

import base64
import json
import os

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from storage.db.footage import Clip, Consent, Upload
from tests.unit.ingest.reception_helpers import consent_data
from tests.webapp_fixtures import LoginAs, World
from webapp.composition import Services

ROOT = "/api/v1/uploads/"


def _metadata() -> str:
    meta = {"kind": "home-visit", "consent": json.dumps(consent_data())}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())


def _create(client: FlaskClient, length: int, **headers: str) -> tuple[int, str]:
    response = client.post(
        ROOT,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(length),
            "Upload-Metadata": _metadata(),
            **headers,
        },
    )
    return response.status_code, response.headers.get("Location", "")


def _rows(services: Services) -> tuple[int, int, int]:
    with services.db.session() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(m)) or 0
            for m in (Clip, Consent, Upload)
        )


def test_a_facilitator_uploads_a_body_larger_than_the_form_limit(
    app: Flask, client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    app.config["MAX_CONTENT_LENGTH"] = 4096  # tus clients may send the whole file at once
    data = os.urandom(50_000)
    status, url = _create(client, len(data))
    assert status == 201
    response = client.patch(
        url,
        data=data,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert response.status_code == 204, response.get_data(as_text=True)
    assert response.headers["Upload-Offset"] == str(len(data))
    clip_id = _clip_of(services, url)
    with services.db.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None and clip.status == "queued"


def test_requests_without_the_tus_header_are_refused_before_anything_changes(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    before = _rows(services)
    response = client.post(ROOT, headers={"Upload-Length": "10", "Upload-Metadata": _metadata()})
    assert response.status_code == 412
    assert _rows(services) == before


def test_roles_and_sites(client: FlaskClient, login_as: LoginAs, world: World) -> None:
    assert _create(client, 10)[0] == 401
    login_as(client, "dpo")
    assert _create(client, 10)[0] == 403
    upload_url = ROOT + world.sites["a"].upload
    head = {"Tus-Resumable": "1.0.0"}
    other = client.application.test_client()
    login_as(other, "facilitator", site="b")
    assert other.head(upload_url, headers=head).status_code == 404
    owner = client.application.test_client()
    login_as(owner, "facilitator", site="a")
    response = owner.head(upload_url, headers=head)
    assert (response.status_code, response.headers["Upload-Offset"]) == (200, "0")


def _clip_of(services: Services, url: str) -> str:
    with services.db.session() as session:
        upload = session.get(Upload, url.rsplit("/", 1)[1])
        assert upload is not None
        return upload.clip_id
