"""Security headers, cookies, CSRF and the no-inline-code rule of the templates."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from flask import Flask, Response, jsonify, request
from flask.testing import FlaskClient

from storage.db.footage import Consent
from tests.unit.webapp.helpers import count_rows
from tests.webapp_fixtures import PASSWORD, LoginAs, World, csrf_token, post, token_from
from webapp.app import create_app
from webapp.authz import public
from webapp.composition import Services
from webapp.security import CSP

TEMPLATES = Path(__file__).resolve().parents[3] / "webapp" / "templates"
EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


def test_pages_carry_the_security_headers(client: FlaskClient, login_as: LoginAs) -> None:
    login_as(client, "facilitator")
    for url in ("/login", "/clips", "/upload", "/api/v1/clips/nothing"):
        headers = client.get(url).headers
        assert headers["Content-Security-Policy"] == EXPECTED_CSP == CSP
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "camera=(self)" in headers["Permissions-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in headers  # plain-http test settings


def test_static_assets_may_be_cached(client: FlaskClient) -> None:
    response = client.get("/static/css/verp.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["Content-Security-Policy"] == CSP


def test_secure_cookie_settings(world: World, services: Services) -> None:
    services.settings = dataclasses.replace(services.settings, secure_cookies=True)
    client = create_app(services=services).test_client()
    https = "https://verp.example"
    login_page = client.get("/login", base_url=https)
    assert "max-age=" in login_page.headers["Strict-Transport-Security"]
    form = {"email": world.email("dpo"), "password": PASSWORD}
    form["csrf_token"] = token_from(login_page.get_data(as_text=True))
    response = client.post("/login", data=form, base_url=https)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-verp=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "Domain=" not in cookie


def test_plain_http_cookie_is_still_httponly_and_samesite(
    client: FlaskClient, world: World
) -> None:
    response = post(client, "/login", {"email": world.email("dpo"), "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_form_post_without_token_is_refused_and_changes_nothing(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    before = count_rows(services, Consent)
    response = client.post("/upload", data={"kind": "home-visit", "family": "FAM-0001"})
    assert response.status_code == 400
    assert "form has expired" in response.get_data(as_text=True)
    forged = client.post("/upload", data={"csrf_token": "forged", "family": "FAM-0001"})
    assert forged.status_code == 400
    assert count_rows(services, Consent) == before


def test_json_post_needs_the_header_token(app: Flask, client: FlaskClient) -> None:
    @public
    def echo() -> Response:
        return jsonify(request.get_json())

    app.add_url_rule("/api/v1/echo", "echo", echo, methods=["POST"])
    refused = client.post("/api/v1/echo", json={"a": 1})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    token = csrf_token(client)
    accepted = client.post("/api/v1/echo", json={"a": 1}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200 and accepted.get_json() == {"a": 1}


def test_tus_requests_need_the_tus_header(client: FlaskClient, login_as: LoginAs) -> None:
    """The tus endpoint (exempt from the form token) relies on its custom header, which a
    cross-site form cannot send, and on the Sec-Fetch-Site check."""
    login_as(client, "facilitator")
    assert client.post("/api/v1/uploads/", headers={"Upload-Length": "10"}).status_code == 412
    cross = client.post(
        "/api/v1/uploads/",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 400 and cross.get_json()["error"]["code"] == "csrf_failed"


def test_login_form_needs_a_token_too(client: FlaskClient, world: World) -> None:
    response = client.post("/login", data={"email": world.email("dpo"), "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/dpo").status_code == 302


def test_cross_site_requests_are_refused_even_with_a_token(
    client: FlaskClient, login_as: LoginAs
) -> None:
    login_as(client, "facilitator")
    token = csrf_token(client)
    response = client.post(
        "/logout", data={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 400
    assert client.get("/clips").status_code == 200  # still signed in


def test_the_csrf_token_is_in_a_meta_tag(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', page)


def test_templates_have_no_inline_script_or_style() -> None:
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text()
        # JSON data blocks (<script type="application/json">) are never executed
        if re.search(r'<script(?![^>]*\b(src=|type="application/json"))[^>]*>', source):
            offenders.append(f"{path.name}: inline <script>")
        if re.search(r"<style\b|\sstyle=|\son[a-z]+=", source):
            offenders.append(f"{path.name}: inline style or event handler")
    assert not offenders
