"""KEK epochs and their retirement (issue 9)

Adds ``kek_epochs`` (one row per key-encryption-key epoch) and, on ``tombstones``, the
KEK that wrapped the data key when it was shredded. Existing tombstones get it from
their shredded ``data_keys`` row, which keeps provider and version. Epoch rows for KEKs
that predate this revision are recorded by the first epoch run (storage.kek), which can
read the key file or ask KMS.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.migrations.inplace import drop_columns

import storage.db.base

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when() -> storage.db.base.UTCDateTime:
    return storage.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kek_epochs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kek_version", sa.String(200), nullable=False),
        sa.Column("provider_key_id", sa.String(300), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("current_from", _when(), nullable=True),
        sa.Column("superseded_at", _when(), nullable=True),
        sa.Column("retire_due_at", _when(), nullable=True),
        sa.Column("retired_at", _when(), nullable=True),
        sa.Column("destroyed_at", _when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kek_epochs")),
        sa.UniqueConstraint("provider", "number", name="uq_kek_epochs_provider_number"),
    )
    op.create_index(op.f("ix_kek_epochs_kek_version"), "kek_epochs", ["kek_version"])
    with op.batch_alter_table("tombstones") as batch:
        batch.add_column(sa.Column("kek_provider", sa.String(20), nullable=True))
        batch.add_column(sa.Column("kek_version", sa.String(200), nullable=True))
    tombstones = sa.table(
        "tombstones",
        sa.column("clip_id", sa.String),
        sa.column("kek_provider", sa.String),
        sa.column("kek_version", sa.String),
    )
    keys = sa.table(
        "data_keys",
        sa.column("clip_id", sa.String),
        sa.column("provider", sa.String),
        sa.column("kek_version", sa.String),
    )
    for column in ("provider", "kek_version"):
        source = (
            sa.select(keys.c[column])
            .where(keys.c.clip_id == tombstones.c.clip_id)
            .scalar_subquery()
        )
        target = "kek_provider" if column == "provider" else "kek_version"
        op.execute(tombstones.update().values({target: source}))


def downgrade() -> None:
    drop_columns("tombstones", "kek_version", "kek_provider")
    op.drop_index(op.f("ix_kek_epochs_kek_version"), table_name="kek_epochs")
    op.drop_table("kek_epochs")
