"""The OpenAPI document: valid OpenAPI 3.1, and exactly the app's /api/v1 routes."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from openapi_spec_validator import validate

from tests.webapp_fixtures import LoginAs
from webapp.app import create_app
from webapp.composition import Services
from webapp.openapi import document

PREFIX = "/api/v1"


@pytest.fixture
def bare_app(sqlite_services: Services) -> Flask:
    return create_app(services=sqlite_services)


def api_operations(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) for every /api/v1 route the app serves."""
    found: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        methods = set(rule.methods or ())
        if rule.provide_automatic_options:
            methods.discard("OPTIONS")
        if "GET" in methods:
            methods.discard("HEAD")
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule.removeprefix(PREFIX))
        found |= {(path, m.lower()) for m in methods}
    return found


def documented_operations() -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {
        (path, method)
        for path, item in document()["paths"].items()
        for method in item
        if method in methods
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    spec = document()
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on any violation


def test_every_api_route_is_documented_and_nothing_else(bare_app: Flask) -> None:
    served, documented = api_operations(bare_app), documented_operations()
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented operations the app does not serve"


def test_every_path_parameter_is_declared() -> None:
    for path, item in document()["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert names == declared, path


def test_errors_are_documented_with_the_stable_shape() -> None:
    spec = document()
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("parameters", "description", "summary") or path.startswith("/uploads"):
                continue
            assert "401" in operation["responses"], (path, method)


def test_the_app_serves_the_document(app: Flask, login_as: LoginAs) -> None:
    client = app.test_client()
    assert client.get("/api/v1/openapi.json").status_code == 401
    login_as(client, "dpo")
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    # The test app runs on plain http: the cookie is "verp", and the document says so.
    assert app.config["SESSION_COOKIE_NAME"] == "verp"
    assert response.get_json() == document(cookie_name="verp")
    served = response.get_json()["components"]["securitySchemes"]["session"]
    assert served == {"type": "apiKey", "in": "cookie", "name": "verp"}
