"""Times on a rendition's timeline: milliseconds <-> frame numbers at a constant rate.

Renditions have a constant frame rate (ingest normalises it), stored on the clip as an
exact fraction such as ``"25"``, ``"25/1"`` or ``"30000/1001"``. Frame ``n`` is shown
from ``n / rate`` seconds until the next frame, so the frame at a time is the floor.
"""

from __future__ import annotations

from fractions import Fraction

from review.errors import ValidationError


def parse_frame_rate(text: str | None) -> Fraction:
    """The exact rate in frames per second; raises ValidationError if unusable."""
    if not text:
        raise ValidationError("the clip has no frame rate yet (is it processed?)")
    try:
        rate = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValidationError(f"not a frame rate: {text!r}") from None
    if rate <= 0 or rate > 1000:
        raise ValidationError(f"not a frame rate: {text!r}")
    return rate


def frame_at(ms: int, rate: Fraction) -> int:
    """The number (0-based) of the frame on screen at ``ms`` milliseconds."""
    return int(ms * rate // 1000)


def frame_start_ms(frame: int, rate: Fraction) -> int:
    """The first whole millisecond at which ``frame`` is on screen.

    Rounded up, so ``frame_at(frame_start_ms(n)) == n`` for every n: a player that
    snaps to this time records an annotation that maps back to the same frame.
    """
    exact = Fraction(frame * 1000) / rate
    return -((-exact.numerator) // exact.denominator)


def last_frame_before(end_ms: int, rate: Fraction) -> int:
    """The last frame an interval ending (exclusively) at ``end_ms`` still covers."""
    return frame_at(max(0, end_ms - 1), rate)


def frame_ms(rate: Fraction) -> int:
    """The length of one frame in whole milliseconds (at least 1), rounded up."""
    return max(1, frame_start_ms(1, rate))


def seconds(ms: int) -> str:
    """Milliseconds as seconds with exactly three decimals (``12.345``)."""
    return f"{ms // 1000}.{ms % 1000:03d}"
