"""Milliseconds <-> frames at exact constant rates."""

from __future__ import annotations

from fractions import Fraction

import pytest

from review.errors import ValidationError
from review.timeline import (
    frame_at,
    frame_ms,
    frame_start_ms,
    last_frame_before,
    parse_frame_rate,
    seconds,
)


@pytest.mark.parametrize(
    ("text", "rate"),
    [("25/1", Fraction(25)), ("25", Fraction(25)), ("30000/1001", Fraction(30000, 1001))],
)
def test_parse_frame_rate(text: str, rate: Fraction) -> None:
    assert parse_frame_rate(text) == rate


@pytest.mark.parametrize("text", [None, "", "abc", "0", "-25", "25/0", "100000"])
def test_unusable_frame_rates_are_refused(text: str | None) -> None:
    with pytest.raises(ValidationError):
        parse_frame_rate(text)


def test_frames_at_25_fps() -> None:
    rate = Fraction(25)
    assert [frame_at(ms, rate) for ms in (0, 39, 40, 1000, 1039)] == [0, 0, 1, 25, 25]
    assert frame_start_ms(25, rate) == 1000 and frame_ms(rate) == 40
    assert last_frame_before(1000, rate) == 24  # [0, 1000) covers frames 0..24


@pytest.mark.parametrize("rate", [Fraction(30000, 1001), Fraction(24000, 1001), Fraction(60)])
def test_snapping_to_a_frame_maps_back_to_the_same_frame(rate: Fraction) -> None:
    # 29.97 fps frames start at fractional milliseconds (frame 1 at 33.366... ms); the
    # rounded-up start must still fall inside the frame, never in the one before.
    for frame in range(0, 5000, 7):
        assert frame_at(frame_start_ms(frame, rate), rate) == frame


def test_seconds_has_three_decimals() -> None:
    assert [seconds(ms) for ms in (0, 5, 1000, 61_234)] == ["0.000", "0.005", "1.000", "61.234"]
