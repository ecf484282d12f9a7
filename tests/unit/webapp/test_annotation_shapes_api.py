"""Shapes through the annotations API: round trip, clear 400 on bad input, JSON export."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.unit.webapp.test_annotations_api import count_annotations, send
from tests.webapp_fixtures import LoginAs, World
from webapp.composition import Services

CIRCLE = {"kind": "ellipse", "colour": "blue", "points": [[0.25, 0.25], [0.5, 0.75]]}
ARROW = {"kind": "arrow", "colour": "yellow", "points": [[0.1, 0.9], [0.4, 0.5]]}


def test_shapes_round_trip_through_create_edit_list_and_export(
    client: FlaskClient, world: World, login_as: LoginAs
) -> None:
    login_as(client, "facilitator")
    clip = world.sites["a"].clip
    created = send(
        client, "POST", f"/api/v1/clips/{clip}/annotations",
        {"start_ms": 4000, "subject": "infant", "text": "her hand reaches out",
         "shapes": [CIRCLE]},
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["shapes"] == [CIRCLE]
    edited = send(
        client, "PATCH", f"/api/v1/annotations/{body['id']}",
        {"shapes": [CIRCLE, ARROW], "revision": body["revision"]},
    )  # fmt: skip
    assert edited.status_code == 200 and edited.get_json()["shapes"] == [CIRCLE, ARROW]
    listed = client.get(f"/api/v1/clips/{clip}/annotations").get_json()["annotations"]
    mine = next(a for a in listed if a["id"] == body["id"])
    assert mine["shapes"] == [CIRCLE, ARROW]
    assert all(a["shapes"] == [] for a in listed if a["id"] != body["id"])  # old rows: none
    exported = client.get(f"/api/v1/clips/{clip}/annotations.json").get_json()
    row = next(a for a in exported["annotations"] if a["id"] == body["id"])
    assert row["shapes"] == [CIRCLE, ARROW]


def test_bad_shapes_get_a_400_naming_the_problem_and_store_nothing(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    clip = world.sites["a"].clip
    before = count_annotations(services)
    bad: list[tuple[Any, str]] = [
        ([{"kind": "svg", "points": [[0, 0], [1, 1]]}], "kind must be one of"),
        ([{**ARROW, "points": [[0, 0], [1.5, 1]]}], "from 0 to 1"),
        ([{**ARROW, "colour": "url(#x)"}], "colour must be one of"),
        ([ARROW] * 21, "at most 20 shapes"),
        ("<svg onload=alert(1)>", "shapes must be a list"),
    ]
    for shapes, message in bad:
        answer = send(
            client, "POST", f"/api/v1/clips/{clip}/annotations",
            {"start_ms": 4000, "subject": "infant", "text": "x", "shapes": shapes},
        )  # fmt: skip
        assert answer.status_code == 422  # well-formed JSON, refused content (webapp.errors)
        assert message in answer.get_json()["error"]["message"]
    assert count_annotations(services) == before
