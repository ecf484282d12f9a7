"""Where a sign-in may send the browser next: a path of this site, nothing else.

``next`` arrives from a query string or a form, so it is attacker-controlled. Browsers
are lenient about what they treat as another origin: they drop tabs and newlines inside
a URL (``/\\t/evil.example`` becomes ``//evil.example``), read a backslash as a slash,
and a header with a newline in it cannot be sent at all (a 500). So a target is kept
only if it is a plain absolute path — a single leading ``/``, no scheme, no authority,
no backslash, no control or invisible character — both as sent and after
percent-decoding (a later hop, or a helpful proxy, may decode it). Anything else falls
back to the role's start page.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

#: Longer targets are refused (no page of verp has a URL anywhere near this long).
MAX_NEXT = 2048
#: How many rounds of percent-decoding are checked (``%252F`` is ``/`` after two).
_DECODE_ROUNDS = 3


def _plain_path(value: str) -> bool:
    """True if ``value`` is a single-slash absolute path with only visible characters."""
    if not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value:
        return False
    for char in value:
        # Cc control, Cf format (zero-width, bidi), Zl/Zp line separators, any whitespace.
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path of this site (see the module docstring), else None.

    Never raises: whatever a client sends, the answer is the target or None.
    """
    if not isinstance(target, str) or not target or len(target) > MAX_NEXT:
        return None
    value = target
    for _ in range(_DECODE_ROUNDS + 1):
        if not _plain_path(value):
            return None
        try:
            decoded = unquote(value, errors="strict") if "%" in value else value
        except UnicodeDecodeError:
            return None  # percent-encoded bytes that are not UTF-8
        if decoded == value:
            return target
        value = decoded
    return None  # still decoding after several rounds: not a path anyone typed
