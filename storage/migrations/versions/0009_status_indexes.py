"""indexes for the retention counts at scale (issue 13)

``clips(site_id, kind, status)``: live clips per site and kind counted from the index
alone, in its order; ``clips(site_id, status, destroy_requested_at)``: the clips of a site in erasure, in the
order the dashboard lists them;
``clips(site_id, destroy_requested_at)``: the clips of a site being destroyed. With
``clips(site_id, delete_after)`` (0008) every clip that is not ``active`` is found
through an index, so the DPO dashboard and ``verp retention status`` read only those.
Indexes only: no data changes.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from storage.migrations.inplace import IndexSpec, create_indexes, drop_indexes

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


INDEXES: tuple[IndexSpec, ...] = (
    ("ix_clips_site_kind_status", "clips", ["site_id", "kind", "status"]),
    ("ix_clips_site_status", "clips", ["site_id", "status", "destroy_requested_at"]),
    ("ix_clips_site_destroying", "clips", ["site_id", "destroy_requested_at"]),
)


def upgrade() -> None:
    create_indexes(INDEXES)


def downgrade() -> None:
    drop_indexes(INDEXES)
