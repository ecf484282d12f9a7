"""A lease is how several processes agree that exactly one of them does something
(e.g. run the periodic jobs of a cluster) without a coordinator: the holder renews it
before it lapses; when the holder dies, the lease lapses and another process takes it.

Taking and renewing are one conditional UPDATE ("mine, or lapsed"), falling back to an
INSERT for a lease never held; the primary key makes two first takers collide, so at
most one wins. PostgreSQL re-checks the condition after a concurrent writer commits;
SQLite serialises writers. Correctness needs only that clocks of the processes agree to
within a small part of the lease's time to live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.db.coordination import Lease
from storage.db.engine import Database


@dataclass(frozen=True)
class LeaseState:
    """Who holds a lease and until when (``holder`` None when nobody does)."""

    name: str
    holder: str | None
    expires_at: datetime | None


def try_hold(db: Database, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``.

    True when ``holder`` holds it afterwards; False when another holder's lease has not
    lapsed. Raises ValueError for a non-positive ``ttl``.
    """
    if ttl <= timedelta(0):
        raise ValueError("a lease needs a positive time to live")
    expires = now + ttl
    with db.session() as session:
        renewed = session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
            .values(
                holder=holder,
                expires_at=expires,
                acquired_at=case((Lease.holder == holder, Lease.acquired_at), else_=now),
            )
            .execution_options(synchronize_session=False)
        )
        if renewed.rowcount == 1:  # type: ignore[attr-defined]
            return True
        if session.get(Lease, name) is not None:
            return False
    try:
        with db.session() as session:
            session.add(Lease(name=name, holder=holder, acquired_at=now, expires_at=expires))
    except IntegrityError:
        return False  # another process took it first
    return True


def release(db: Database, name: str, holder: str, now: datetime) -> bool:
    """Let the lease lapse now if ``holder`` has it (a clean shutdown); True if it did."""
    with db.session() as session:
        result = session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def holder_of(db: Database, name: str, now: datetime) -> LeaseState:
    """Who holds ``name`` now (None when nobody, or the lease has lapsed)."""
    with db.session() as session:
        row = session.execute(select(Lease.holder, Lease.expires_at).where(Lease.name == name))
        found = row.first()
    if found is None or found[1] <= now:
        return LeaseState(name, None, None)
    return LeaseState(name, str(found[0]), found[1])
