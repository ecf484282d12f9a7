"""Who an audit id is, in words: "Dana Reed (data protection officer)" instead of a UUID.

Audit entries, holds and tombstones store user ids (or ``system:<name>`` for verp's own
processes). Reports and pages name them with :func:`person_labels`, one query for a whole
batch of ids, never one per row.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.tenancy import User

#: Roles as people say them (the web pages use webapp.labels, which agrees).
ROLE_WORDS = {
    "facilitator": "facilitator",
    "supervisor": "supervisor",
    "dpo": "data protection officer",
    "admin": "site admin",
    "system": "verp",
}

#: verp's own processes (``Actor.system(name)``).
SYSTEM_WORDS = {
    "audit": "verp (audit checkpoint)",
    "cli": "verp (command line)",
    "demo": "verp (demo data)",
    "kek-epochs": "verp (key rotation)",
    "retention-sweep": "verp (retention sweep)",
    "upload-sweeper": "verp (upload sweeper)",
    "worker": "verp (processing worker)",
}


def system_label(actor_id: str) -> str:
    """``system:retention-sweep`` -> ``verp (retention sweep)``; unknown names read safely."""
    name = actor_id.removeprefix("system:")
    return SYSTEM_WORDS.get(name, f"verp ({name.replace('-', ' ')})")


def person_labels(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    """``{id: "Name (role)"}`` for every id given (one query). A system id gets its
    process name; an id with no user (deleted, or not a user) reads ``unknown user
    (<first 8 characters>)``. The display name falls back to the email when empty."""
    wanted = {i for i in ids if i}
    labels = {i: system_label(i) for i in wanted if i.startswith("system:")}
    users = wanted - labels.keys()
    if users:
        rows = session.execute(
            select(User.id, User.display_name, User.email, User.role).where(User.id.in_(users))
        )
        for row in rows:
            role = ROLE_WORDS.get(row.role, row.role)
            labels[row.id] = f"{row.display_name or row.email} ({role})"
    for missing in users - labels.keys():
        labels[missing] = f"unknown user ({missing[:8]})"
    return labels
