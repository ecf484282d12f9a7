"""indexes for set-based governance queries at scale (issue 13)

``clips(site_id, delete_after)``: the DPO dashboard's due list and the sweep's due query;
``clips(site_id, family_code, created_at)``: the legal-hold picker, a page of a site's
clips by family code; ``tombstones(site_id, destroyed_at)``: the tombstones page, newest
first. Indexes only: no data changes.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from storage.migrations.inplace import IndexSpec, create_indexes, drop_indexes

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


INDEXES: tuple[IndexSpec, ...] = (
    ("ix_clips_site_delete_after", "clips", ["site_id", "delete_after"]),
    ("ix_clips_site_family", "clips", ["site_id", "family_code", "created_at"]),
    ("ix_tombstones_site_destroyed", "tombstones", ["site_id", "destroyed_at"]),
)


def upgrade() -> None:
    create_indexes(INDEXES)


def downgrade() -> None:
    drop_indexes(INDEXES)
