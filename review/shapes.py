"""Shapes drawn on a frame: arrows, ellipses and free lines over an annotation's frame.

A shape is plain data, never markup: ``{"kind", "colour", "points"}`` where ``points``
are ``[x, y]`` pairs normalised to the frame (0..1 from the left/top edge), so the same
shape fits the video at any size. An arrow has two points (tail, head); an ellipse two
(opposite corners of its bounding box); a free line 2..MAX_POINTS points. Colours come
from a small palette. :func:`clean_shapes` is the one gate for shapes coming in.
"""

from __future__ import annotations

import math
from typing import Any

from review.errors import ValidationError

KINDS = ("arrow", "ellipse", "line")
#: Colour names the player offers, with the hex they draw in (high contrast on video).
PALETTE = {
    "yellow": "#FFD400",
    "red": "#E5383B",
    "blue": "#2F80ED",
    "green": "#27AE60",
    "white": "#FFFFFF",
}
MAX_SHAPES = 20
MAX_POINTS = 200
#: Points each kind needs (inclusive range).
POINTS = {"arrow": (2, 2), "ellipse": (2, 2), "line": (2, MAX_POINTS)}
#: Coordinates are kept to this many decimals (ample for a 4K frame, small JSON).
DECIMALS = 4


def clean_shapes(value: Any) -> list[dict[str, Any]]:
    """Check a list of shapes and return it normalised (rounded floats, known keys only).

    Raises ValidationError naming the first problem: not a list, too many shapes, an
    unknown key or kind, a colour outside PALETTE, too few or too many points, or a
    coordinate that is not a finite number from 0 to 1.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError("shapes must be a list")
    if len(value) > MAX_SHAPES:
        raise ValidationError(f"at most {MAX_SHAPES} shapes per annotation")
    return [_shape(item, n) for n, item in enumerate(value, start=1)]


def _shape(item: Any, n: int) -> dict[str, Any]:
    where = f"shape {n}"
    if not isinstance(item, dict):
        raise ValidationError(f"{where} must be an object with kind, colour and points")
    unknown = sorted(str(k) for k in set(item) - {"kind", "colour", "points"})
    if unknown:
        raise ValidationError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kind = item.get("kind")
    if kind not in KINDS:
        raise ValidationError(f"{where}: kind must be one of {', '.join(KINDS)}")
    colour = item.get("colour", "yellow")
    if colour not in PALETTE:
        raise ValidationError(f"{where}: colour must be one of {', '.join(PALETTE)}")
    points = item.get("points")
    if not isinstance(points, list):
        raise ValidationError(f"{where}: points must be a list of [x, y] pairs")
    low, high = POINTS[kind]
    if not low <= len(points) <= high:
        count = str(low) if low == high else f"{low} to {high}"
        raise ValidationError(f"{where}: a {kind} needs {count} points")
    return {"kind": kind, "colour": colour, "points": [_point(p, where) for p in points]}


def _point(value: Any, where: str) -> list[float]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValidationError(f"{where}: each point must be an [x, y] pair")
    return [_coordinate(c, where) for c in value]


def _coordinate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{where}: coordinates must be numbers from 0 to 1")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValidationError(f"{where}: coordinates must be numbers from 0 to 1")
    return round(number, DECIMALS)
