"""Row locks for read-check-write steps that two processes may run at once.

PostgreSQL: ``SELECT ... FOR UPDATE``. SQLite has no row locks; a no-op ``UPDATE`` takes
the database write lock first, so the check that follows reads current data and no other
writer can slip in before this transaction commits. A transaction that began by writing
already holds that lock (storage.db.sqlite_writers) and skips the extra statement.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.db.base import Base
from storage.db.footage import Clip, Consent
from storage.db.sqlite_writers import holds_write_lock

M = TypeVar("M", bound=Base)


def lock_row(session: Session, model: type[M], row_id: str) -> M | None:
    """The row of ``model`` (a tenant table: it has ``id`` and ``site_id``) with primary key
    ``row_id``, locked until the transaction ends; None if there is no such row."""
    if session.get_bind().dialect.name == "sqlite":
        if not holds_sqlite_write_lock(session):
            table = Base.metadata.tables[model.__tablename__]
            # Touch site_id (every tenant row has one), not the key: a no-op write to a
            # primary key would make SQLite check every child table's foreign keys.
            statement = update(table).where(table.c.id == row_id)
            session.execute(statement.values(site_id=table.c.site_id))
        return session.get(model, row_id, populate_existing=True)
    query = select(model).where(model.id == row_id).with_for_update()  # type: ignore[attr-defined]
    return session.scalar(query.execution_options(populate_existing=True))


def holds_sqlite_write_lock(session: Session) -> bool:
    """Whether ``session``'s SQLite transaction began by writing, so it holds the database
    write lock until it ends (False for other databases, and when unsure)."""
    return holds_write_lock(session.connection().connection.dbapi_connection)


def lock_clip(session: Session, clip_id: str) -> Clip | None:
    """The clip row, locked (None if it does not exist)."""
    return lock_row(session, Clip, clip_id)


def lock_consent(session: Session, consent_id: str) -> Consent | None:
    """The consent row, locked (None if it does not exist)."""
    return lock_row(session, Consent, consent_id)
