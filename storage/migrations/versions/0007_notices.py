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

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("notices_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("notices_seen_at")
        batch.drop_column("must_change_password")
