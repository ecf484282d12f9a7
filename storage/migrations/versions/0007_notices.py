"""notices and forced password change (issue 12)

``users.must_change_password``: set when an admin sets or resets a user's password, so
the user chooses their own at the next sign-in. ``users.notices_seen_at``: when the user
last opened their notices (notices themselves are computed from replies, moments, clips
and sign-offs; see storage.notices). Existing users keep their password and have seen
nothing yet.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.migrations.inplace import drop_columns

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place, not a batch rebuild: rebuilding ``users`` drops it, which the foreign keys
    # of every table that names a user forbid once there are rows (SQLite).
    op.add_column(
        "users",
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("users", sa.Column("notices_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    drop_columns("users", "notices_seen_at", "must_change_password")
