"""verified erasure of shredded keys (issue 9)

Adds, on ``clips``, the erasure probe of a shredded key, the time of the last erasure check
and why erasure is still pending; on ``tombstones``, when erasure was verified and how.
A clip shredded before this revision but not yet tombstoned (a crashed sweep) moves to
status ``erasure-pending`` with no probe; the next sweep verifies it by a completed
checkpoint (SQLite) or VACUUM FULL (PostgreSQL). Existing tombstones keep ``erased_at``
empty: their erasure was never verified, and the report says so.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.migrations.inplace import drop_columns

import storage.db.base

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when() -> storage.db.base.UTCDateTime:
    return storage.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.add_column(sa.Column("erasure_probe", sa.String(64), nullable=True))
        batch.add_column(sa.Column("erasure_checked_at", _when(), nullable=True))
        batch.add_column(sa.Column("erasure_problem", sa.Text(), nullable=True))
    with op.batch_alter_table("tombstones") as batch:
        batch.add_column(sa.Column("erased_at", _when(), nullable=True))
        batch.add_column(sa.Column("erasure_evidence", sa.String(400), nullable=True))
    clips = sa.table(
        "clips",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("destroy_requested_at", _when()),
    )
    keys = sa.table(
        "data_keys",
        sa.column("clip_id", sa.String),
        sa.column("wrapped", sa.LargeBinary),
        sa.column("destroyed_at", _when()),
    )
    shredded = sa.select(keys.c.clip_id).where(
        keys.c.destroyed_at.is_not(None), keys.c.wrapped.is_(None)
    )
    op.execute(
        clips.update()
        .where(
            clips.c.destroy_requested_at.is_not(None),
            clips.c.status != "destroyed",
            clips.c.id.in_(shredded),
        )
        .values(status="erasure-pending")
    )


def downgrade() -> None:
    clips = sa.table("clips", sa.column("status", sa.String))
    # The previous code finishes such a clip from its audit entries, whatever the status.
    op.execute(clips.update().where(clips.c.status == "erasure-pending").values(status="failed"))
    drop_columns("tombstones", "erasure_evidence", "erased_at")
    drop_columns("clips", "erasure_problem", "erasure_checked_at", "erasure_probe")
