"""Re-wrapping every live data key that is not on the current KEK version (step 3 of a
rotation, storage.kek.rotation): batches in clip-id order, each its own transaction."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from storage.clock import Clock
from storage.db.base import Base
from storage.db.engine import Database
from storage.keys import KeyContext, KeyProvider, WrappedKey

#: Called after each committed batch with (batch number, keys re-wrapped in it).
BatchHook = Callable[[int, int], None]
#: Called inside each batch's transaction with (session, batch, re-wrapped, lost).
BatchAudit = Callable[[Session, int, int, int], None]


def pending_count(session: Session, provider: str, current: str) -> int:
    """Live data keys of ``provider`` on a version other than ``current``."""
    table = Base.metadata.tables["data_keys"]
    query = select(func.count()).where(
        table.c.provider == provider,
        table.c.wrapped.is_not(None),
        table.c.kek_version != current,
    )
    return int(session.scalar(query) or 0)


def rewrap_stale(
    db: Database,
    keys: KeyProvider,
    clock: Clock,
    current: str,
    batch_size: int,
    audit: BatchAudit,
    after_batch: BatchHook | None = None,
) -> tuple[int, int, int]:
    """Re-wrap every stale row in clip-id order (keyset pages, so no page re-reads rows
    already done), then make one more pass from the start for rows that a concurrent
    upload added behind us. Returns (re-wrapped, lost to a race, batches).

    Raises KeyProviderError when a key cannot be re-wrapped (that batch rolls back).
    """
    rewrapped = skipped = batches = 0
    after, passes = "", 1
    while True:
        with db.session() as session:
            done, lost, last = _batch(session, keys, clock, current, after, batch_size)
            if last is None:
                if after == "" or passes == 2:
                    break
                after, passes = "", 2
                continue
            batches += 1
            audit(session, batches, done, lost)
        rewrapped += done
        skipped += lost
        after = last
        if after_batch is not None:
            after_batch(batches, done)
    return rewrapped, skipped, batches


def _batch(
    session: Session, keys: KeyProvider, clock: Clock, current: str, after: str, size: int
) -> tuple[int, int, str | None]:
    """Re-wrap up to ``size`` stale rows with a clip id above ``after``; returns
    (re-wrapped, lost to a race, last clip id seen or None when there were none)."""
    if session.get_bind().dialect.name == "sqlite":
        # Take the write lock before reading (PostgreSQL: FOR UPDATE below).
        session.execute(text("UPDATE data_keys SET clip_id = clip_id WHERE 0"))
    table = Base.metadata.tables["data_keys"]
    columns = (table.c.clip_id, table.c.site_id, table.c.provider, table.c.kek_version)
    query = (
        select(*columns, table.c.wrapped)
        .where(
            table.c.provider == keys.name,
            table.c.wrapped.is_not(None),
            table.c.kek_version != current,
            table.c.clip_id > after,
        )
        .order_by(table.c.clip_id)
        .limit(size)
        .with_for_update()
    )
    rows = session.execute(query).all()
    if not rows:
        return 0, 0, None
    changes = []
    for clip_id, site_id, provider, version, blob in rows:
        new = keys.rewrap(WrappedKey(provider, version, blob), KeyContext(site_id, clip_id))
        changes.append({"c": clip_id, "old": blob, "v": new.kek_version, "w": new.blob})
    # Compare-and-set on the old wrapped bytes: never resurrect a key shredded after we
    # read it. One executemany for the batch; its rowcount is the total.
    stmt = (
        update(table)
        .where(table.c.clip_id == bindparam("c"), table.c.wrapped == bindparam("old"))
        .values(kek_version=bindparam("v"), wrapped=bindparam("w"), rotated_at=clock.now())
    )
    done = int(getattr(session.execute(stmt, changes), "rowcount", 0))
    return done, len(rows) - done, str(rows[-1][0])
