"""Shapes drawn on a frame: validation boundaries (pure) and storage with history."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from review.annotations import annotation_history, create_annotation, update_annotation
from review.errors import ValidationError
from review.exports import export_annotations
from review.shapes import MAX_POINTS, MAX_SHAPES, PALETTE, clean_shapes
from tests.unit.review.helpers import World

ARROW = {"kind": "arrow", "colour": "yellow", "points": [[0.1, 0.2], [0.5, 0.6]]}


def line(points: int) -> dict[str, Any]:
    return {"kind": "line", "colour": "red", "points": [[i / points, 0.5] for i in range(points)]}


def test_each_kind_and_colour_is_accepted_and_kept_as_plain_data() -> None:
    shapes = [
        ARROW,
        {"kind": "ellipse", "colour": "blue", "points": [[0, 0], [1, 1]]},
        line(2),
    ] + [{"kind": "arrow", "colour": c, "points": [[0, 0], [1, 1]]} for c in PALETTE]
    cleaned = clean_shapes(shapes)
    assert [s["kind"] for s in cleaned[:3]] == ["arrow", "ellipse", "line"]
    assert cleaned[1]["points"] == [[0.0, 0.0], [1.0, 1.0]]
    assert all(isinstance(c, float) for s in cleaned for p in s["points"] for c in p)


def test_colour_defaults_to_yellow_and_coordinates_are_rounded() -> None:
    [shape] = clean_shapes([{"kind": "arrow", "points": [[0.123456, 1], [0, 0.99999]]}])
    assert shape == {"kind": "arrow", "colour": "yellow", "points": [[0.1235, 1.0], [0.0, 1.0]]}


def test_none_and_empty_mean_no_shapes() -> None:
    assert clean_shapes(None) == [] and clean_shapes([]) == []


def test_shape_count_boundary() -> None:
    assert len(clean_shapes([ARROW] * MAX_SHAPES)) == MAX_SHAPES
    with pytest.raises(ValidationError, match=f"at most {MAX_SHAPES} shapes"):
        clean_shapes([ARROW] * (MAX_SHAPES + 1))


def test_point_count_boundaries() -> None:
    assert len(clean_shapes([line(MAX_POINTS)])[0]["points"]) == MAX_POINTS
    with pytest.raises(ValidationError, match="line needs 2 to"):
        clean_shapes([line(MAX_POINTS + 1)])
    with pytest.raises(ValidationError, match="line needs 2 to"):
        clean_shapes([line(1)])
    with pytest.raises(ValidationError, match="arrow needs 2 points"):
        clean_shapes([{"kind": "arrow", "points": [[0, 0], [0.5, 0.5], [1, 1]]}])
    with pytest.raises(ValidationError, match="ellipse needs 2 points"):
        clean_shapes([{"kind": "ellipse", "points": [[0, 0]]}])


@pytest.mark.parametrize("value", [0.0, 1.0, 0, 1])
def test_coordinates_at_the_edges_are_accepted(value: float) -> None:
    assert clean_shapes([{"kind": "arrow", "points": [[value, value], [0.5, 0.5]]}])


@pytest.mark.parametrize(
    "value", [-0.0001, 1.0001, math.nan, math.inf, -math.inf, True, "0.5", None, [0.5]]
)
def test_coordinates_outside_0_to_1_or_not_numbers_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError, match="coordinates must be numbers from 0 to 1"):
        clean_shapes([{"kind": "arrow", "points": [[0.5, value], [0.5, 0.5]]}])


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ("arrow", "shapes must be a list"),
        ({"kind": "arrow"}, "shapes must be a list"),
        (["arrow"], "shape 1 must be an object"),
        ([{"kind": "rect", "points": [[0, 0], [1, 1]]}], "kind must be one of"),
        ([{"kind": "<script>", "points": [[0, 0], [1, 1]]}], "kind must be one of"),
        ([{**ARROW, "colour": "#FF0000"}], "colour must be one of"),
        ([{**ARROW, "colour": "javascript:alert(1)"}], "colour must be one of"),
        ([{**ARROW, "style": "fill:red"}], "unknown field"),
        ([{**ARROW, "points": "0,0 1,1"}], "points must be a list"),
        ([{**ARROW, "points": [[0, 0], [1, 1, 1]]}], r"\[x, y\] pair"),
        ([ARROW, {**ARROW, "kind": "star"}], "shape 2"),
    ],
)
def test_bad_shapes_get_a_clear_error(shapes: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        clean_shapes(shapes)


def _create(world: World, **fields: Any) -> str:
    values: dict[str, Any] = {"start_ms": 1000, "subject": "infant", "text": ""}
    values.update(fields)
    with world.svc.db.session() as session:
        row = create_annotation(
            session, world.svc.audit, world.registry, world.facilitator, world.home_clip, **values
        )
        return row.id


def test_a_drawing_alone_is_an_annotation_and_shapes_are_stored(world: World) -> None:
    annotation_id = _create(world, shapes=[ARROW])
    with world.svc.db.session() as session:
        updated = update_annotation(
            session, world.svc.audit, world.registry, world.facilitator, annotation_id,
            {"shapes": [ARROW, line(3)]},
        )  # fmt: skip
        assert [s["kind"] for s in updated.shapes] == ["arrow", "line"]
        assert updated.revision == 2
        history = annotation_history(session, world.facilitator, annotation_id)
        assert [s["kind"] for s in history[0].snapshot["shapes"]] == ["arrow"]


def test_bad_shapes_store_nothing_and_keep_the_old_drawing(world: World) -> None:
    with pytest.raises(ValidationError):
        _create(world, text="note", shapes=[{**ARROW, "points": [[2, 0], [0, 0]]}])
    annotation_id = _create(world, text="note", shapes=[ARROW])
    with world.svc.db.session() as session, pytest.raises(ValidationError):
        update_annotation(
            session, world.svc.audit, world.registry, world.facilitator, annotation_id,
            {"shapes": [{"kind": "rect", "points": []}]},
        )  # fmt: skip
    with world.svc.db.session() as session:
        doc = export_annotations(
            session, world.svc.audit, world.registry, world.facilitator, world.home_clip, "json"
        )
    rows = json.loads(doc.data)["annotations"]
    assert [r["shapes"] for r in rows] == [[ARROW]]
    with world.svc.db.session() as session:
        csv = export_annotations(
            session, world.svc.audit, world.registry, world.facilitator, world.home_clip, "csv"
        )
    assert b"arrow" not in csv.data  # shapes travel in the JSON export only


def test_no_code_no_text_no_drawing_is_refused(world: World) -> None:
    with pytest.raises(ValidationError, match="at least one code, some text or a drawing"):
        _create(world, shapes=[])
