"""Creating an annotation holds the database's writer lock (SQLite's write lock, or the
audit chain's lock on PostgreSQL) as briefly as it can: once the transaction writes, it
only checks the sign-off (SQLite), appends to the audit chain and commits; everything
else is read before the first write or built after the commit."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event

from tests.webapp_fixtures import LoginAs, World, csrf_token
from webapp.composition import Services


def _label(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper()
    if "pg_advisory_xact_lock" in statement:
        return "chain lock"
    if verb == "INSERT":
        return f"insert {words[2]}"
    if verb == "SELECT":
        found = re.search(r"\bFROM\s+(\w+)", statement)
        columns = statement.split("FROM", 1)[0]
        return f"select {found.group(1) if found else '?'}: {columns.split()[1]}"
    return f"{verb.lower()} {words[1] if len(words) > 1 else ''}".strip()


def test_the_write_transaction_of_a_create_ends_with_the_audit_append(
    client: FlaskClient, world: World, login_as: LoginAs, services: Services
) -> None:
    me = login_as(client, "facilitator")
    token = csrf_token(client)
    seen: list[str] = []

    def statement(_c: Any, _cur: Any, sql: str, *_rest: Any) -> None:
        seen.append(_label(sql))

    def commit(_c: Any) -> None:
        seen.append("commit")

    engine = services.db.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        response = client.post(
            f"/api/v1/clips/{world.sites['a'].clip}/annotations",
            json={"start_ms": 1000, "subject": "infant", "scheme_id": "infant-cues",
                  "codes": ["smiling"], "text": "cue"},
            headers={"X-CSRFToken": token},
        )  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    assert response.status_code == 201
    body = response.get_json()
    assert body["author_id"] == me and body["author"] == "Facilitator A"
    assert body["codes"][0]["colour"].startswith("#")  # the site's scheme, without a read

    first_write = next(i for i, label in enumerate(seen) if label.startswith("insert"))
    written = seen[first_write : seen.index("commit", first_write) + 1]
    if engine.dialect.name == "sqlite":
        # The insert took SQLite's write lock; the chain needs no second statement for it.
        expected = [
            "insert annotations",
            "select clips: clips.signed_off_at",
            "select audit_entries: audit_entries.seq,",
            "insert audit_entries",
            "commit",
        ]
    else:  # the shared clip row lock already keeps a sign-off out: no re-read
        expected = [
            "insert annotations",
            "chain lock",
            "select audit_entries: audit_entries.seq,",
            "insert audit_entries",
            "commit",
        ]
    assert written == expected
