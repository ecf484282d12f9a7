"""Schema changes that keep every row where it is, for migrations.

SQLite's ``batch_alter_table`` copies a table into a new one and drops the old: with
rows that other tables reference, under enforced foreign keys, that fails or cascades.
SQLite (3.35 and newer) drops a column in place, as PostgreSQL does.
"""

from __future__ import annotations

from alembic import op


def drop_columns(table: str, *columns: str) -> None:
    """Drop ``columns`` of ``table`` without rebuilding it, on SQLite and PostgreSQL."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column in columns:
        if sqlite:
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')  # names are ours
        else:
            op.drop_column(table, column)
