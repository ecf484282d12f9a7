"""webapp.errors: each domain error becomes one status, a stable JSON shape or a page."""

from __future__ import annotations

import pytest
from flask import Flask

from ingest.errors import MediaRejected, RejectCategory
from review.errors import Conflict, Locked
from storage.errors import (
    ConsentError,
    DecryptionError,
    KeyNotFound,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from webapp.authz import public

CASES = [
    (NotFound("clip 1234-secret-id"), 404, "not_found"),
    (PermissionDenied("role x may not"), 403, "forbidden"),
    (ValidationError("Enter a family code."), 400, "invalid"),
    (ConsentError("consent c1 does not cover"), 403, "consent_required"),
    (KeyNotFound("clip 1"), 410, "destroyed"),
    (DecryptionError(), 500, "internal"),
    (MediaRejected(RejectCategory.PHOTO), 422, "media_rejected"),
    (Conflict("changed meanwhile"), 409, "conflict"),
    (Locked("signed off"), 409, "locked"),
    (RuntimeError("boom at /secret/path"), 500, "internal"),
]


@pytest.fixture
def raising_app(app: Flask) -> Flask:
    """The app with test-only routes that raise the error named in the URL."""

    @public
    def boom(index: int) -> str:
        raise CASES[index][0]

    app.add_url_rule("/api/v1/boom/<int:index>", "boom_api", boom, methods=["GET", "POST"])
    app.add_url_rule("/boom/<int:index>", "boom_page", boom, methods=["GET", "POST"])
    return app


@pytest.mark.parametrize("index", range(len(CASES)))
def test_json_errors_have_one_shape(raising_app: Flask, index: int) -> None:
    error, status, code = CASES[index]
    response = raising_app.test_client().get(f"/api/v1/boom/{index}")
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    if status in (403, 404, 500):  # never echo ids, paths or causes
        assert str(error) not in body["error"]["message"] or not str(error)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_pages_get_a_friendly_error_page(raising_app: Flask, index: int) -> None:
    _, status, code = CASES[index]
    response = raising_app.test_client().get(f"/boom/{index}", headers={"Accept": "text/html"})
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert f"Error code: {status} ({code})" in page
    assert "Traceback" not in page


def test_validation_of_a_json_body_is_422(raising_app: Flask) -> None:
    index = next(i for i, c in enumerate(CASES) if isinstance(c[0], ValidationError))
    client = raising_app.test_client()
    response = client.post(
        f"/api/v1/boom/{index}", json={"x": 1}, headers={"X-CSRFToken": _token(client)}
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["message"] == "Enter a family code."


def test_media_rejection_explains_itself(raising_app: Flask) -> None:
    index = next(i for i, c in enumerate(CASES) if isinstance(c[0], MediaRejected))
    body = raising_app.test_client().get(f"/api/v1/boom/{index}").get_json()
    assert body["error"]["message"] == "This file is a photo, not a video."


def test_http_errors_use_the_same_shape(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/v1/nope").get_json()["error"]["code"] == "not_found"
    wrong_method = client.delete("/api/v1/clips/x")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"]["code"] == "method_not_allowed"


def _token(client) -> str:  # type: ignore[no-untyped-def]
    from tests.webapp_fixtures import token_from

    return token_from(client.get("/login").get_data(as_text=True))
