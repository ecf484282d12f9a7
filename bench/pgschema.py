"""A throwaway PostgreSQL schema for a benchmark run (bench/web.py, bench/governance.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

#: The PostgreSQL server of the development machine (trust authentication, db ``test``).
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def pg_schema(base_url: str, prefix: str) -> Iterator[str]:
    """Create a fresh schema on ``base_url``'s server and yield a URL whose search_path
    is that schema; the schema is dropped afterwards, whatever happened."""
    import sqlalchemy

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base_url else "?"
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
