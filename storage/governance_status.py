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
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
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
_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])
#: Past this many days from now a scheduled clip is ``active``.
ACTIVE_AFTER_DAYS = 30


class _Scheduled(Protocol):
    """What :func:`clip_state` reads of a clip (a :class:`Clip` or one of its rows)."""

    status: str
    destroy_requested_at: datetime | None
    delete_after: datetime | None


def clip_state(clip: _Scheduled, held: bool, now: datetime) -> str:
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
    if clip.delete_after <= now + timedelta(days=ACTIVE_AFTER_DAYS):
        return "due-30d"
    return "active"


def retention_status(
    session: Session, now: datetime, site_id: str | None = None
) -> list[dict[str, Any]]:
    """Counts per (site, kind) and state, as rows ``{site, kind, <state>: n, ..., total}``.

    One site when ``site_id`` is given, else every site. Reads only; changes nothing.

    Set-based without a per-clip expression: live clips are counted per (site, kind) from
    an index; only the clips that are not ``active`` — in erasure, being destroyed, held,
    unscheduled or due within 30 days, each found through an index — are read, and each is
    placed by :func:`clip_state` itself; ``active`` is what remains.
    """
    queries = _queries(site_id is not None)
    params = {"site_id": site_id, "horizon": now + timedelta(days=ACTIVE_AFTER_DAYS)}
    counts: dict[tuple[str, str], Counter[str]] = {}
    rows: dict[str, Any] = {}
    held: set[str] = set()
    for row in session.execute(queries.not_active, params):
        rows[row.id] = row
        if row.held:
            held.add(row.id)
    for row in rows.values():
        state = clip_state(row, row.id in held, now)
        counts.setdefault((row.site_id, row.kind), Counter())[state] += 1
    live: Counter[tuple[str, str]] = Counter()
    for clip_site, kind, status, n in session.execute(queries.per_status, params):
        if status != "destroyed":
            live[(clip_site, kind)] += n
    for key, n in live.items():
        counter = counts.setdefault(key, Counter())
        counter["active"] = n - sum(counter.values())
    for tomb_site, kind, n in session.execute(queries.destroyed, params):
        counts.setdefault((tomb_site, kind), Counter())["destroyed"] += n
    slugs = {sid: slug for sid, slug in session.execute(select(Site.id, Site.slug))}
    table = []
    for (clip_site, kind), counter in sorted(
        counts.items(), key=lambda item: (slugs.get(item[0][0], item[0][0]), item[0][1])
    ):
        line: dict[str, Any] = {"site": slugs.get(clip_site, clip_site), "kind": kind}
        line.update({state: counter.get(state, 0) for state in STATES})
        line["total"] = sum(counter.values())
        table.append(line)
    return table


@dataclass(frozen=True)
class _Queries:
    not_active: CompoundSelect[*tuple[Any, ...]]
    per_status: Select[*tuple[Any, ...]]
    destroyed: Select[*tuple[Any, ...]]


@cache
def _queries(one_site: bool) -> _Queries:
    """The statements of :func:`retention_status`, built once (with ``site_id`` and
    ``horizon`` bound at each call): the dashboard does not pay for building them."""
    site: BindParameter[str] = bindparam("site_id")

    def scoped(query: _Q, column: Any) -> _Q:
        return query.where(column == site) if one_site else query

    live = Clip.status != "destroyed"

    def branch(where: ColumnElement[bool], held: bool = False) -> Select[*tuple[Any, ...]]:
        """Held clips are found by their holds, of the site already (a hold is of its
        clip's site): scoping the clips too would make it read every clip of the site."""
        query = select(
            Clip.id,
            Clip.site_id,
            Clip.kind,
            Clip.status,
            Clip.destroy_requested_at,
            Clip.delete_after,
            literal(held).label("held"),
        ).where(where)
        return query if held else scoped(query, Clip.site_id)

    holds = scoped(
        select(LegalHold.clip_id).where(LegalHold.lifted_at.is_(None)), LegalHold.site_id
    )
    # A branch per way of not being active, each through an index.
    not_active = union_all(
        branch(Clip.status == "erasure-pending"),
        branch(and_(live, Clip.destroy_requested_at.is_not(None))),
        branch(and_(live, Clip.id.in_(holds)), held=True),
        branch(and_(live, Clip.delete_after.is_(None))),
        branch(and_(live, Clip.delete_after <= bindparam("horizon", type_=Clip.delete_after.type))),
    )
    # Grouped in the order of ix_clips_site_kind_status: read from the index, no sort.
    per_status = scoped(
        select(Clip.site_id, Clip.kind, Clip.status, func.count()).group_by(
            Clip.site_id, Clip.kind, Clip.status
        ),
        Clip.site_id,
    )
    destroyed = scoped(
        select(Tombstone.site_id, Tombstone.kind, func.count()).group_by(
            Tombstone.site_id, Tombstone.kind
        ),
        Tombstone.site_id,
    )
    return _Queries(not_active, per_status, destroyed)
