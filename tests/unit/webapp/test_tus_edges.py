"""The tus endpoint's edges: discovery without a session, reason phrases, 405 + Allow."""

from __future__ import annotations

import base64
import hashlib

import pytest
from flask.testing import FlaskClient

from tests.webapp_fixtures import LoginAs, World
from webapp.composition import Services

ROOT = "/api/v1/uploads/"


@pytest.mark.parametrize("path", [ROOT, f"{ROOT}some-upload-id"])
def test_options_answers_without_a_session(
    client: FlaskClient, services: Services, path: str
) -> None:
    response = client.options(path)
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) >= {
        "creation",
        "termination",
        "checksum",
        "expiration",
    }
    assert response.headers["Tus-Max-Size"] == str(services.settings.max_upload_bytes)
    assert response.get_data() == b""
    assert "Set-Cookie" not in response.headers  # discovery starts no session


def test_everything_else_still_needs_a_session(client: FlaskClient, world: World) -> None:
    upload = f"{ROOT}{world.sites['a'].upload}"
    assert client.post(ROOT, headers={"Tus-Resumable": "1.0.0"}).status_code == 401
    assert client.head(upload, headers={"Tus-Resumable": "1.0.0"}).status_code == 401


def _patch(client: FlaskClient, url: str, body: bytes, checksum_of: bytes) -> object:
    digest = base64.b64encode(hashlib.sha1(checksum_of).digest()).decode()
    return client.patch(
        url,
        data=body,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": f"sha1 {digest}",
        },
    )


def test_checksum_mismatch_has_its_reason_phrase(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    url = f"{ROOT}{world.sites['a'].upload}"
    response = _patch(client, url, b"x" * 10, b"y" * 10)
    assert response.status_code == 460  # type: ignore[attr-defined]
    assert response.status == "460 Checksum Mismatch"  # type: ignore[attr-defined]
    assert response.get_json()["error"]["code"] == "checksum_mismatch"  # type: ignore[attr-defined]
    offset = client.head(url, headers={"Tus-Resumable": "1.0.0"}).headers["Upload-Offset"]
    assert offset == "0"  # nothing was kept


def test_method_override_without_a_method_is_405_with_allow(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    url = f"{ROOT}{world.sites['a'].upload}"
    response = client.post(url, headers={"Tus-Resumable": "1.0.0"})
    assert response.status_code == 405
    assert {"PATCH", "HEAD", "DELETE"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_a_method_the_route_lacks_is_405_with_allow(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    response = client.put(f"/api/v1/annotations/{world.sites['a'].annotation}")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allowed
    assert response.get_json()["error"]["code"] == "method_not_allowed"
