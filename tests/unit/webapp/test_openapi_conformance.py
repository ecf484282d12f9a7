"""Schemathesis against the served OpenAPI document, in process (WSGI, no network).

The document is fetched from ``/api/v1/openapi.json`` with a signed-in session, then
every operation is called with generated requests — half of them aimed at the world's
real objects (so the success answers are exercised too, not only 404s), half with
generated ids — and every response is checked by schemathesis' default checks: no 5xx,
status codes, content types, headers and bodies as documented, 405 with ``Allow`` for
undocumented methods, 401 without the session. No failure is tolerated except the
documented ones in :data:`EXCEPTIONS`.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi import checks as openapi_checks

from tests.webapp_fixtures import LoginAs, World, csrf_token

#: Generated cases per operation and role (the whole test stays well under a minute).
EXAMPLES = 10
#: Which of site a's objects fills each path parameter when a case aims at a real one.
REAL = {
    "clip_id": "clip",
    "annotation_id": "annotation",
    "reply_id": "reply",
    "link_id": "link",
    "moment_id": "moment",
    "scheme_id": "scheme",
    "upload_id": "upload",
}

#: Checks left out, each with the reason. Everything else schemathesis checks by default.
EXCEPTIONS: dict[CheckFunction, str] = {
    # Generated ids and times are almost never those of a real object or inside the clip,
    # so a "valid" request per the schema is routinely (and rightly) refused with 404/422:
    # acceptance of positive data is not a property of this API.
    openapi_checks.positive_data_acceptance: "ids and times must name real objects",
}
#: Statuses that count as refusing invalid input: schemathesis' defaults, plus 412 — tus
#: 1.0.0 answers a missing or wrong Tus-Resumable with 412 (the protocol fixes it).
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428"]
REJECTIONS += ["429", "5xx"]  # 5xx fails the not_a_server_error check instead
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}}
)
#: Operations left out, each with the reason.
SKIPPED_OPERATIONS = {
    # tus: the protocol lives in headers the document only names; the tus tests
    # (tests/unit/ingest/test_tus*.py, test_tus_edges.py) exercise it with a real client.
    "PATCH /uploads/{upload_id}": "tus body and headers (tested with a tus client)",
    "POST /uploads/{upload_id}": "tus method override (tested with a tus client)",
}


def _operations(schema: Any) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if f"{operation.method.upper()} {operation.path}" not in SKIPPED_OPERATIONS:
            found.append(operation)
    return found


def _use_session(schema: Any, name: str, value: str) -> None:
    """Register the signed-in session as the schema's authentication (the documented
    cookie), so schemathesis knows which requests carry it and which must not."""

    class SessionCookie:
        def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
            return value

        def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
            case.cookies = {**(case.cookies or {}), name: data}

    schema.auth(refresh_interval=None)(SessionCookie)


def _run(operation: Any, csrf: str, real: dict[str, str]) -> None:
    names = [p.name for p in operation.path_parameters]
    aimed = {name: real[name] for name in names if name in real}
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode))
        if aimed:
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=aimed))
    strategy = st.one_of(strategies)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: schemathesis.Case) -> None:
        # Each call uses a fresh cookie-less client: the session cookie comes only from
        # the auth provider, so schemathesis can also send a request without it.
        case.call_and_validate(headers={"X-CSRFToken": csrf}, excluded_checks=list(EXCEPTIONS))

    check()


@pytest.mark.parametrize("role", ["facilitator", "supervisor"])
def test_the_routes_answer_what_the_served_document_says(
    app: Flask, world: World, login_as: LoginAs, role: str
) -> None:
    client = app.test_client()
    login_as(client, role)
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    csrf = csrf_token(client)
    served = client.get("/api/v1/openapi.json")  # the document needs a session too
    assert served.status_code == 200
    schema = schemathesis.openapi.from_dict(served.get_json(), config=CONFIG)
    schema.app = app  # calls go to the app in process (WSGI)
    _use_session(schema, name, cookie.value)
    security = schema.raw_schema["components"]["securitySchemes"]["session"]
    assert security["name"] == app.config["SESSION_COOKIE_NAME"]
    site = world.sites["a"]
    real = {name: getattr(site, attribute) for name, attribute in REAL.items()}
    operations = _operations(schema)
    assert len(operations) >= 35
    failures = []
    for operation in operations:
        try:
            _run(operation, csrf, real)
        except Exception as exc:  # report every operation's failure, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_an_undocumented_method_is_405_with_allow(
    app: Flask, world: World, login_as: LoginAs
) -> None:
    """Every documented path refuses the methods it does not document with 405 and an
    ``Allow`` header listing the ones it does."""
    client = app.test_client()
    login_as(client, "supervisor")
    csrf = csrf_token(client)
    document = client.get("/api/v1/openapi.json").get_json()
    site = world.sites["a"]
    values = {name: getattr(site, attribute) for name, attribute in REAL.items()}
    verbs = {"get", "put", "post", "delete", "patch"}
    checked = 0
    for path, item in document["paths"].items():
        documented = verbs & set(item)
        url = "/api/v1" + path.format(**values)
        for method in sorted(verbs - documented):
            response = client.open(url, method=method.upper(), headers={"X-CSRFToken": csrf})
            assert response.status_code == 405, (method, path)
            allowed = {m.strip().lower() for m in response.headers["Allow"].split(",")}
            assert documented <= allowed, (method, path, allowed)
            assert response.get_json()["error"]["code"] == "method_not_allowed"
            checked += 1
    assert checked > 100
