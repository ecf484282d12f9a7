"""Export of a site's audit entries for a data-protection officer (CSV or JSON Lines).

Entries carry ids only; the export adds the name and email of the user who acted (and of
the user acted upon, for account changes) beside the ids, joined in the same query, so a
DPO can read it without a lookup table — treat an export as personal data. Each row keeps
its sequence number and chain hashes, so a DPO can match an export against a later
``verp audit verify`` and a destruction certificate. CSV cells that a spreadsheet would
run as a formula are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from storage.db.governance import AuditEntry
from storage.db.tenancy import User
from storage.errors import ValidationError

FORMATS = ("csv", "jsonl")
COLUMNS = (
    "seq",
    "at",
    "site_id",
    "actor_id",
    "actor_name",
    "actor_email",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "target_name",
    "target_email",
    "details",
    "prev_hash",
    "hash",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Named:
    """An entry with the names and emails of the users it refers to (None if none)."""

    entry: AuditEntry
    actor_name: str | None = None
    actor_email: str | None = None
    target_name: str | None = None
    target_email: str | None = None


def entry_row(named: Named) -> dict[str, Any]:
    """One entry as plain values (``details`` stays a mapping)."""
    entry = named.entry
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "site_id": entry.site_id,
        "actor_id": entry.actor_id,
        "actor_name": named.actor_name,
        "actor_email": named.actor_email,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "target_name": named.target_name,
        "target_email": named.target_email,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def iter_entries(
    session: Session, site_id: str, since: datetime | None = None, until: datetime | None = None
) -> Iterator[Named]:
    """Entries of one site in sequence order, optionally within [since, until), with the
    acting and the acted-upon user's name and email (outer joins: one query, streamed)."""
    actor, target = aliased(User), aliased(User)
    query = (
        select(AuditEntry, actor.display_name, actor.email, target.display_name, target.email)
        .outerjoin(actor, actor.id == AuditEntry.actor_id)
        .outerjoin(
            target, and_(AuditEntry.target_type == "user", target.id == AuditEntry.target_id)
        )
        .where(AuditEntry.site_id == site_id)
    )
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    rows = session.execute(query.order_by(AuditEntry.seq).execution_options(yield_per=500))
    for entry, actor_name, actor_email, target_name, target_email in rows:
        yield Named(entry, actor_name, actor_email, target_name, target_email)


def export_entries(
    session: Session,
    out: TextIO,
    *,
    site_id: str,
    fmt: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the site's entries to ``out`` as ``csv`` or ``jsonl``; returns how many.

    Raises ValidationError for an unknown format or ``since`` after ``until`` (nothing is
    written then).
    """
    if fmt not in FORMATS:
        raise ValidationError(f"unknown export format {fmt!r}; expected one of {FORMATS}")
    if since is not None and until is not None and since >= until:
        raise ValidationError("--since must be before --until")
    count = 0
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    for named in iter_entries(session, site_id, since, until):
        row = entry_row(named)
        if writer is not None:
            writer.writerow([_cell(row[c]) for c in COLUMNS])
        else:
            out.write(json.dumps(row, sort_keys=True, default=str) + "\n")
        count += 1
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
