"""Parse and validate the text of one coding-scheme TOML file.

tomllib reports syntax errors with a line number in its message; every other defect
(missing field, unknown parent, reserved key...) is located by finding the line of the
offending key in the source, so a site admin can go straight to it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from typing import Any

from review.errors import Problem, TaxonomyError
from storage.db.footage import KINDS
from storage.db.review import SUBJECTS

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_AT = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$")
_AT_END = " (at end of document)"
_CODES_HEADER = re.compile(r"^\s*\[\[\s*codes\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[")
SCHEME_FIELDS = {"id", "version", "title", "description", "applies_to", "subjects", "colour"}
CODE_FIELDS = {"id", "label", "description", "key", "colour", "group", "parent", "retired"}
MAX_LABEL = 80
MAX_DESCRIPTION = 2000
MAX_CODES = 500
#: Every key the player binds (webapp/static/js/player*.js): play/pause, seek, frame step,
#: add annotation, mark in/out, and the named keys (which a one-character code key can never
#: be, but which complete the list; Enter sends a reply with Ctrl/Cmd held). A test reads
#: the player's scripts so the two cannot drift.
RESERVED_KEYS = frozenset(
    {
        " ",
        ",",
        ".",
        "+",
        "-",
        "a",
        "A",
        "i",
        "I",
        "o",
        "O",
        "ArrowLeft",
        "ArrowRight",
        "Home",
        "End",
        "Enter",
    }
)
#: The reserved keys a scheme could otherwise use, as the error message names them.
_RESERVED_TEXT = " ".join(
    "space" if k == " " else k
    for k in sorted(
        (k for k in RESERVED_KEYS if len(k) == 1), key=lambda k: (k.lower(), k.isupper())
    )
)


_Fail = Callable[[str, int | None], None]


class _Lines:
    """Finds the line of a key at the top level or inside the n-th ``[[codes]]`` table."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [i for i, line in enumerate(self.lines) if _CODES_HEADER.match(line)]

    def top(self, key: str | None = None) -> int | None:
        if key is None:
            return 1
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i, line in enumerate(self.lines):
            if _TABLE_HEADER.match(line):
                break
            if pattern.match(line):
                return i + 1
        return None

    def code(self, index: int, key: str | None = None) -> int | None:
        if index >= len(self.headers):
            return self.top("codes")  # an inline array: point at it
        start = self.headers[index]
        end = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines)
        if key is not None:
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            for i in range(start, end):
                if pattern.match(self.lines[i]):
                    return i + 1
        return start + 1


def parse_scheme(text: str, source: str) -> dict[str, Any]:
    """Validate one scheme file's text; return its data with defaults filled in.

    Each code dict gains ``_line`` (the line of its ``key``, else of its ``[[codes]]``). Raises
    TaxonomyError listing every problem found in the file.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _AT.search(message)
        if match:
            line: int | None = int(match.group(1))
            reason = _AT.sub("", message)
        elif message.endswith(_AT_END):
            line = max(1, len(text.splitlines()))
            reason = message.removesuffix(_AT_END) + " (the file ends too early)"
        else:
            line, reason = None, message
        raise TaxonomyError([Problem(source, line, f"TOML syntax: {reason}")]) from exc
    lines = _Lines(text)
    problems: list[Problem] = []

    def fail(reason: str, line: int | None) -> None:
        problems.append(Problem(source, line, reason))

    for key in sorted(set(data) - SCHEME_FIELDS - {"codes"}):
        fail(f"unknown field {key!r}", lines.top(key))
    for key in ("id", "version", "title", "applies_to", "codes"):
        if key not in data:
            fail(f"missing required field {key!r}", 1)
    if "id" in data and not (isinstance(data["id"], str) and SLUG.match(data["id"])):
        fail("'id' must be lower-case letters, digits and hyphens", lines.top("id"))
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        data["version"] = version = str(version)
    if "version" in data and not (isinstance(version, str) and version.strip()):
        fail('\'version\' must be a non-empty string such as "1" or "2026.1"', lines.top("version"))
    for key in ("title", "description"):
        if key in data and not _text(data[key], MAX_LABEL if key == "title" else MAX_DESCRIPTION):
            fail(f"'{key}' must be a single piece of text", lines.top(key))
    if "title" in data and isinstance(data["title"], str) and not data["title"].strip():
        fail("'title' must not be empty", lines.top("title"))
    _check_list(data, "applies_to", KINDS, fail, lines, required=True)
    _check_list(data, "subjects", SUBJECTS, fail, lines, required=False)
    if "colour" in data and not (isinstance(data["colour"], str) and COLOUR.match(data["colour"])):
        fail("'colour' must look like #1F77B4", lines.top("colour"))
    codes = data.get("codes")
    if "codes" in data:
        if not isinstance(codes, list) or not codes:
            fail("'codes' must be a non-empty array of [[codes]] tables", lines.top("codes"))
        elif len(codes) > MAX_CODES:
            fail(f"at most {MAX_CODES} codes per scheme", lines.top("codes"))
        else:
            _check_codes(codes, fail, lines)
    if problems:
        raise TaxonomyError(problems)
    data.setdefault("description", "")
    data.setdefault("subjects", [])
    return data


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit and "\x00" not in value


def _check_list(
    data: dict[str, Any],
    key: str,
    allowed: tuple[str, ...],
    fail: _Fail,
    lines: _Lines,
    *,
    required: bool,
) -> None:
    if key not in data:
        return
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(f"'{key}' must be a list of strings", lines.top(key))
        return
    if required and not value:
        fail(f"'{key}' must name at least one of {', '.join(allowed)}", lines.top(key))
    for item in value:
        if item not in allowed:
            fail(f"'{key}': unknown value {item!r}; use {', '.join(allowed)}", lines.top(key))


def _check_codes(codes: list[Any], fail: _Fail, lines: _Lines) -> None:
    ids: dict[str, int] = {}
    keys: dict[str, str] = {}
    for index, code in enumerate(codes):
        if not isinstance(code, dict):
            fail("each entry of 'codes' must be a table", lines.code(index))
            continue
        where = f"code {code.get('id', index + 1)!r}"
        for key in sorted(set(code) - CODE_FIELDS):
            fail(f"{where}: unknown field {key!r}", lines.code(index, key))
        # Where to point later (registry-wide) complaints: the key line, else the table.
        code["_line"] = lines.code(index, "key" if "key" in code else None)
        code_id = code.get("id")
        if not (isinstance(code_id, str) and SLUG.match(code_id)):
            fail(
                f"{where}: 'id' must be lower-case letters, digits and hyphens",
                lines.code(index, "id"),
            )
        elif code_id in ids:
            fail(f"{where}: duplicate code id", lines.code(index, "id"))
        else:
            ids[code_id] = index
        label = code.get("label")
        if not (_text(label, MAX_LABEL) and isinstance(label, str) and label.strip()):
            fail(
                f"{where}: 'label' must be non-empty text of at most {MAX_LABEL} characters",
                lines.code(index, "label"),
            )
        for key in ("description", "group"):
            if key in code and not _text(code[key], MAX_DESCRIPTION):
                fail(f"{where}: '{key}' must be text", lines.code(index, key))
        if "colour" in code and not (
            isinstance(code["colour"], str) and COLOUR.match(code["colour"])
        ):
            fail(f"{where}: 'colour' must look like #1F77B4", lines.code(index, "colour"))
        if "retired" in code and not isinstance(code["retired"], bool):
            fail(f"{where}: 'retired' must be true or false", lines.code(index, "retired"))
        key = code.get("key")
        if key is not None:
            if not (isinstance(key, str) and len(key) == 1 and key.isprintable()):
                fail(
                    f"{where}: 'key' must be a single printable character", lines.code(index, "key")
                )
            elif key in RESERVED_KEYS or key.swapcase() in RESERVED_KEYS:
                fail(
                    f"{where}: key {key!r} is reserved by the player ({_RESERVED_TEXT})",
                    lines.code(index, "key"),
                )
            elif not code.get("retired", False):
                # Keys are case-insensitive in the player: "s" and "S" are one key.
                if key.casefold() in keys:
                    fail(
                        f"{where}: key {key!r} is already used by code "
                        f"{keys[key.casefold()]!r} (keys ignore case)",
                        lines.code(index, "key"),
                    )
                keys[key.casefold()] = str(code_id)
    for index, code in enumerate(codes):
        if not isinstance(code, dict) or "parent" not in code:
            continue
        parent = code["parent"]
        if not isinstance(parent, str) or parent not in ids:
            fail(
                f"code {code.get('id')!r}: parent {parent!r} is not a code of this scheme",
                lines.code(index, "parent"),
            )
        elif _cycles(codes, ids, index):
            fail(
                f"code {code.get('id')!r}: parent chain loops back to itself",
                lines.code(index, "parent"),
            )


def _cycles(codes: list[Any], ids: dict[str, int], start: int) -> bool:
    seen = {start}
    current = codes[start]
    while isinstance(current, dict) and isinstance(current.get("parent"), str):
        nxt = ids.get(current["parent"])
        if nxt is None:
            return False
        if nxt in seen:
            return True
        seen.add(nxt)
        current = codes[nxt]
    return False
