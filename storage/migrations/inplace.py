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


#: An index a migration adds: its name, its table and its columns in order.
IndexSpec = tuple[str, str, list[str]]


def create_indexes(indexes: tuple[IndexSpec, ...]) -> None:
    """Create ``indexes`` (an index changes no row)."""
    for name, table, columns in indexes:
        op.create_index(name, table, columns)


def drop_indexes(indexes: tuple[IndexSpec, ...]) -> None:
    """Drop ``indexes``, the last created first."""
    for name, table, _ in reversed(indexes):
        op.drop_index(name, table_name=table)
