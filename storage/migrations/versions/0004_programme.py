"""Groups, families, co-facilitators, supervision, training record, shares (issue 11).

Existing clips keep their data: each site gets a group "unassigned" holding every clip
recorded before groups existed, so they stay visible to whoever sees them today.

Revision ID: 0004
Revises: 0003
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import storage.db.base

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNASSIGNED_CODE = "unassigned"


def _assign_existing_clips() -> None:
    """Create one "unassigned" group per site that has clips and put those clips in it."""
    conn = op.get_bind()
    now = datetime.now(UTC)
    groups = sa.table(
        "groups",
        sa.column("id", sa.String),
        sa.column("site_id", sa.String),
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("status", sa.String),
        sa.column("unassigned", sa.Boolean),
        sa.column("created_at", storage.db.base.UTCDateTime(timezone=True)),
    )
    clips = sa.table("clips", sa.column("site_id", sa.String), sa.column("group_id", sa.String))
    sites = [row[0] for row in conn.execute(sa.select(clips.c.site_id).distinct())]
    for site_id in sites:
        group_id = str(uuid.uuid4())
        conn.execute(
            groups.insert().values(
                id=group_id,
                site_id=site_id,
                code=UNASSIGNED_CODE,
                name="Clips recorded before groups",
                status="running",
                unassigned=True,
                created_at=now,
            )
        )
        conn.execute(
            clips.update()
            .where(clips.c.site_id == site_id, clips.c.group_id.is_(None))
            .values(group_id=group_id)
        )


def upgrade() -> None:
    """Programme tables; every existing clip joins its site's "unassigned" group."""
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("programme_end", storage.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unassigned", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_groups_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_groups_site_id")),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_site_id"), ["site_id"], unique=False)

    op.create_table(
        "families",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", storage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_families_group_id_groups")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_families_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_families")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_families_site_id")),
    )
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_families_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_families_site_id"), ["site_id"], unique=False)

    op.create_table(
        "group_facilitators",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("discipline", sa.String(length=32), nullable=False),
        sa.Column("trainee", sa.Boolean(), nullable=False),
        sa.Column("added_at", storage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_facilitators_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_group_facilitators_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_group_facilitators_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_facilitators")),
        sa.UniqueConstraint("group_id", "user_id", name=op.f("uq_group_facilitators_group_id")),
    )
    with op.batch_alter_table("group_facilitators", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_facilitators_group_id"), ["group_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_group_facilitators_site_id"), ["site_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_group_facilitators_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "group_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", storage.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("held_at", storage.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_sessions_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_group_sessions_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_sessions")),
        sa.UniqueConstraint("group_id", "kind", "number", name=op.f("uq_group_sessions_group_id")),
    )
    with op.batch_alter_table("group_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_sessions_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_group_sessions_site_id"), ["site_id"], unique=False)

    op.create_table(
        "supervision_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("held_at", storage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("supervisor_id", sa.String(length=36), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", storage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_supervision_sessions_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_supervision_sessions_recorded_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_supervision_sessions_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["users.id"],
            name=op.f("fk_supervision_sessions_supervisor_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_sessions")),
    )
    with op.batch_alter_table("supervision_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supervision_sessions_group_id"), ["group_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supervision_sessions_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "training_blocks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("trainee_id", sa.String(length=36), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("starts_on", storage.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signed_off_by", sa.String(length=36), nullable=True),
        sa.Column("signed_off_at", storage.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signed_off_by"], ["users.id"], name=op.f("fk_training_blocks_signed_off_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_training_blocks_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["trainee_id"], ["users.id"], name=op.f("fk_training_blocks_trainee_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_blocks")),
        sa.UniqueConstraint("trainee_id", "block", name=op.f("uq_training_blocks_trainee_id")),
    )
    with op.batch_alter_table("training_blocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_blocks_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_training_blocks_trainee_id"), ["trainee_id"], unique=False
        )

    op.create_table(
        "supervision_attendees",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("supervision_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["supervision_id"],
            ["supervision_sessions.id"],
            name=op.f("fk_supervision_attendees_supervision_id_supervision_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_supervision_attendees_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_attendees")),
        sa.UniqueConstraint(
            "supervision_id", "user_id", name=op.f("uq_supervision_attendees_supervision_id")
        ),
    )
    with op.batch_alter_table("supervision_attendees", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supervision_attendees_supervision_id"), ["supervision_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supervision_attendees_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "clip_families",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("clip_id", sa.String(length=36), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("consent_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["clip_id"], ["clips.id"], name=op.f("fk_clip_families_clip_id_clips")
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f("fk_clip_families_consent_id_consents")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_clip_families_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_clip_families_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clip_families")),
        sa.UniqueConstraint("clip_id", "family_id", name=op.f("uq_clip_families_clip_id")),
    )
    with op.batch_alter_table("clip_families", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clip_families_clip_id"), ["clip_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_clip_families_consent_id"), ["consent_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_clip_families_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_clip_families_site_id"), ["site_id"], unique=False)

    op.create_table(
        "clip_shares",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("clip_id", sa.String(length=36), nullable=False),
        sa.Column("supervisor_id", sa.String(length=36), nullable=False),
        sa.Column("shared_by", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", storage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", storage.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=36), nullable=True),
        sa.Column("ended_reason", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["clip_id"], ["clips.id"], name=op.f("fk_clip_shares_clip_id_clips")
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["users.id"], name=op.f("fk_clip_shares_revoked_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["shared_by"], ["users.id"], name=op.f("fk_clip_shares_shared_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_clip_shares_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"], ["users.id"], name=op.f("fk_clip_shares_supervisor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clip_shares")),
    )
    with op.batch_alter_table("clip_shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clip_shares_clip_id"), ["clip_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_clip_shares_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_clip_shares_supervisor_id"), ["supervisor_id"], unique=False
        )

    op.create_table(
        "supervision_items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("supervision_id", sa.String(length=36), nullable=False),
        sa.Column("clip_id", sa.String(length=36), nullable=False),
        sa.Column("moment_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["clip_id"], ["clips.id"], name=op.f("fk_supervision_items_clip_id_clips")
        ),
        sa.ForeignKeyConstraint(
            ["supervision_id"],
            ["supervision_sessions.id"],
            name=op.f("fk_supervision_items_supervision_id_supervision_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_items")),
    )
    with op.batch_alter_table("supervision_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supervision_items_clip_id"), ["clip_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_supervision_items_supervision_id"), ["supervision_id"], unique=False
        )

    _add_column("clips", "group_id", "groups")
    _add_column("clips", "family_id", "families")
    _add_column("clips", "session_id", "group_sessions")
    op.add_column("clips", sa.Column("training_block", sa.Integer(), nullable=True))
    op.create_index("ix_clips_group_id", "clips", ["group_id"], unique=False)
    _assign_existing_clips()
    _add_column("consents", "family_id", "families")
    op.add_column("users", sa.Column("discipline", sa.String(length=32), nullable=True))


def _drop_column(table: str, column: str, referred: str | None) -> None:
    """Drop a column (and its foreign key to ``referred``) in place."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        return
    if referred is not None:
        op.drop_constraint(f"fk_{table}_{column}_{referred}", table, type_="foreignkey")
    op.drop_column(table, column)


def _add_column(table: str, column: str, referred: str) -> None:
    """A nullable id column with a foreign key, added in place.

    SQLite accepts ``ADD COLUMN ... REFERENCES`` for a nullable column; a batch rebuild
    would have to drop the table, which its own foreign keys forbid.
    """
    name = f"fk_{table}_{column}_{referred}"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR(36) "
            f"CONSTRAINT {name} REFERENCES {referred} (id)"
        )
        return
    op.add_column(table, sa.Column(column, sa.String(length=36), nullable=True))
    op.create_foreign_key(name, table, referred, [column], ["id"])


def downgrade() -> None:
    """Drop the programme; clips, consents and users keep every other column and row.

    Columns are dropped in place (SQLite's ``ALTER TABLE ... DROP COLUMN``): a batch
    rebuild would drop ``users``/``clips``, which their own foreign keys forbid.
    """
    _drop_column("users", "discipline", None)
    _drop_column("consents", "family_id", "families")
    op.drop_index("ix_clips_group_id", table_name="clips")
    _drop_column("clips", "training_block", None)
    _drop_column("clips", "session_id", "group_sessions")
    _drop_column("clips", "family_id", "families")
    _drop_column("clips", "group_id", "groups")

    with op.batch_alter_table("supervision_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervision_items_supervision_id"))
        batch_op.drop_index(batch_op.f("ix_supervision_items_clip_id"))

    op.drop_table("supervision_items")
    with op.batch_alter_table("clip_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clip_shares_supervisor_id"))
        batch_op.drop_index(batch_op.f("ix_clip_shares_site_id"))
        batch_op.drop_index(batch_op.f("ix_clip_shares_clip_id"))

    op.drop_table("clip_shares")
    with op.batch_alter_table("clip_families", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clip_families_site_id"))
        batch_op.drop_index(batch_op.f("ix_clip_families_family_id"))
        batch_op.drop_index(batch_op.f("ix_clip_families_consent_id"))
        batch_op.drop_index(batch_op.f("ix_clip_families_clip_id"))

    op.drop_table("clip_families")
    with op.batch_alter_table("supervision_attendees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervision_attendees_user_id"))
        batch_op.drop_index(batch_op.f("ix_supervision_attendees_supervision_id"))

    op.drop_table("supervision_attendees")
    with op.batch_alter_table("training_blocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_blocks_trainee_id"))
        batch_op.drop_index(batch_op.f("ix_training_blocks_site_id"))

    op.drop_table("training_blocks")
    with op.batch_alter_table("supervision_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervision_sessions_site_id"))
        batch_op.drop_index(batch_op.f("ix_supervision_sessions_group_id"))

    op.drop_table("supervision_sessions")
    with op.batch_alter_table("group_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_sessions_site_id"))
        batch_op.drop_index(batch_op.f("ix_group_sessions_group_id"))

    op.drop_table("group_sessions")
    with op.batch_alter_table("group_facilitators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_facilitators_user_id"))
        batch_op.drop_index(batch_op.f("ix_group_facilitators_site_id"))
        batch_op.drop_index(batch_op.f("ix_group_facilitators_group_id"))

    op.drop_table("group_facilitators")
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_families_site_id"))
        batch_op.drop_index(batch_op.f("ix_families_group_id"))

    op.drop_table("families")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groups_site_id"))

    op.drop_table("groups")
