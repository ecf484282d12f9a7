"""Where every clip stands against its retention: the numbers behind ``verp retention status``.

Each clip is in exactly one state, checked in this order:

``destroyed`` (a tombstone), ``erasure-pending`` (the data key is destroyed, so nothing
decrypts, but its erasure from every live database file is not yet verified — a sweep checks
again), ``destroying`` (destruction begun, not finished — a sweep will finish it), ``held``
(an active legal hold), ``unscheduled`` (no ``delete_after`` yet: the
next sweep computes one), ``overdue`` (past ``delete_after``; the next sweep destroys it),
``due-7d`` (within 7 days), ``due-30d`` (within 8-30 days), ``active`` (later).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.orm import Session

from storage.db.footage import Clip
from storage.db.governance import LegalHold, Tombstone
from storage.db.tenancy import Site

STATES = (
    "active",
    "due-30d",
    "due-7d",
    "overdue",
    "held",
    "unscheduled",
    "destroying",
    "erasure-pending",
    "destroyed",
)


def clip_state(clip: Clip, held: bool, now: datetime) -> str:
    """The retention state of a clip that is not destroyed (see the module docstring)."""
    if clip.status == "destroyed":
        return "destroyed"
    if clip.status == "erasure-pending":
        return "erasure-pending"
    if clip.destroy_requested_at is not None:
        return "destroying"
    if held:
        return "held"
    if clip.delete_after is None:
        return "unscheduled"
    if clip.delete_after <= now:
        return "overdue"
    if clip.delete_after <= now + timedelta(days=7):
        return "due-7d"
    if clip.delete_after <= now + timedelta(days=30):
        return "due-30d"
    return "active"


def state_expression(now: datetime) -> ColumnElement[str]:
    """:func:`clip_state` of a live clip as a SQL expression, so a page or report can
    count clips per state in the database instead of loading every clip."""
    held = select(LegalHold.clip_id).where(LegalHold.lifted_at.is_(None))
    return case(
        (Clip.status == "erasure-pending", literal("erasure-pending")),
        (Clip.destroy_requested_at.is_not(None), literal("destroying")),
        (Clip.id.in_(held), literal("held")),
        (Clip.delete_after.is_(None), literal("unscheduled")),
        (Clip.delete_after <= now, literal("overdue")),
        (Clip.delete_after <= now + timedelta(days=7), literal("due-7d")),
        (Clip.delete_after <= now + timedelta(days=30), literal("due-30d")),
        else_=literal("active"),
    )


def retention_status(
    session: Session, now: datetime, site_id: str | None = None
) -> list[dict[str, Any]]:
    """Counts per (site, kind) and state, as rows ``{site, kind, <state>: n, ..., total}``.

    One site when ``site_id`` is given, else every site. Reads only; changes nothing.
    """
    slugs = {site_id: slug for site_id, slug in session.execute(select(Site.id, Site.slug))}
    counts: dict[tuple[str, str], Counter[str]] = {}
    live = select(Clip.site_id, Clip.kind, state_expression(now).label("state")).where(
        Clip.status != "destroyed"
    )
    if site_id is not None:
        live = live.where(Clip.site_id == site_id)
    # Grouped outside: PostgreSQL would not match the CASE's bound values in a GROUP BY.
    grouped = live.subquery()
    per_state = select(grouped.c.site_id, grouped.c.kind, grouped.c.state, func.count()).group_by(
        grouped.c.site_id, grouped.c.kind, grouped.c.state
    )
    for clip_site, kind, clip_state_name, n in session.execute(per_state):
        key = (slugs.get(clip_site, clip_site), kind)
        counts.setdefault(key, Counter())[clip_state_name] += n
    dead = select(Tombstone.site_id, Tombstone.kind, func.count()).group_by(
        Tombstone.site_id, Tombstone.kind
    )
    if site_id is not None:
        dead = dead.where(Tombstone.site_id == site_id)
    for tomb_site, kind, n in session.execute(dead):
        counts.setdefault((slugs.get(tomb_site, tomb_site), kind), Counter())["destroyed"] += n
    rows = []
    for (slug, kind), counter in sorted(counts.items()):
        row: dict[str, Any] = {"site": slug, "kind": kind}
        row.update({state: counter.get(state, 0) for state in STATES})
        row["total"] = sum(counter.values())
        rows.append(row)
    return rows
