"""Free text typed by reviewers (notes, replies, captions, summaries)."""

from __future__ import annotations

import re
from typing import Any

from review.errors import ValidationError

# C0/C1 controls other than tab and newline: PostgreSQL refuses NUL, XML 1.0 (the EAF
# export) cannot carry most of them, and none belongs in a note.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(value: Any, name: str, limit: int) -> str:
    """``value`` as text with newlines normalised to ``\\n``.

    Raises ValidationError if it is not a string, is longer than ``limit`` characters or
    contains control characters.
    """
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text")
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > limit:
        raise ValidationError(f"{name} is too long (at most {limit} characters)")
    if _CONTROL.search(text):
        raise ValidationError(f"{name} contains control characters")
    return text
