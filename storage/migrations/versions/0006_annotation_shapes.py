"""shapes drawn on a frame (issue 12)

An annotation may carry shapes (arrow, ellipse, free line) in coordinates normalised
to the frame; existing annotations get an empty list.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.migrations.inplace import drop_columns

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("shapes", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    drop_columns("annotations", "shapes")
