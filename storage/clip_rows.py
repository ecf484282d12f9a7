"""The rows that belong to a clip, found through foreign keys, and their deletion.

A row belongs to a clip if its table has a foreign key to ``clips``, or to a row that
belongs to the clip (a reply to one of its annotations, a moment's blob). Tables added
later are covered as long as they declare their foreign keys. The evidence a DPO needs
(the clip row itself, its data-key row without the key, holds, tombstones, the consent and
the audit log) is never deleted here; blobs are deleted through the vault, store first.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Delete,
    String,
    Table,
    bindparam,
    delete,
    or_,
    select,
)
from sqlalchemy.orm import Session

import storage.db.models  # noqa: F401  (every table must be known to find the clip's rows)
from storage.db.base import Base

# Rows that outlive the destruction: the evidence a DPO needs, never footage or a key.
_KEEP = frozenset(
    {"clips", "blobs", "data_keys", "legal_holds", "tombstones", "consents", "audit_entries"}
)


def delete_clip_rows(session: Session, clip_id: str) -> dict[str, int]:
    """Delete every row that belongs to the clip, except the evidence tables; counts per table.

    "Belongs" follows foreign keys: a row of a table with a foreign key to the clip, or to
    a row that belongs to the clip (a reply to an annotation of the clip, a moment's blob).
    Tables added later are covered as long as they declare their foreign keys.
    """
    counts: dict[str, int] = {}
    for name, statement in _deletes():
        result = session.execute(statement, {_CLIP.key: clip_id})
        counts[name] = int(getattr(result, "rowcount", 0) or 0)
    session.flush()
    return counts


#: The clip id every ownership clause compares with, bound at execution.
_CLIP = bindparam("owner_clip_id", type_=String())


@cache
def _deletes() -> tuple[tuple[str, Delete], ...]:
    """One DELETE per owned table, children first, built once per process: the foreign
    keys do not change while it runs, and the same statements hit SQLAlchemy's compiled
    cache (a destruction batch no longer walks the metadata for every clip)."""
    clauses = _ownership_clauses(_CLIP)
    return tuple(
        (table.name, delete(table).where(clauses[table.name]))
        for table in reversed(Base.metadata.sorted_tables)
        if table.name in clauses and table.name not in _KEEP
    )


def _ownership_clauses(clip_id: BindParameter[str]) -> dict[str, ColumnElement[bool]]:
    tables: dict[str, Table] = dict(Base.metadata.tables)
    blobs = tables["blobs"]
    # Blobs are deleted through the vault, but rows that point at them belong to the clip.
    clauses: dict[str, ColumnElement[bool]] = {"blobs": blobs.c.clip_id == clip_id}
    sizes: dict[str, int] = {"blobs": 1}
    changed = True
    while changed:
        changed = False
        for table in Base.metadata.sorted_tables:
            if table.name in _KEEP:
                continue
            conditions: list[ColumnElement[bool]] = []
            for fk in table.foreign_keys:
                target = fk.column.table
                if target.name == "clips":
                    conditions.append(fk.parent == clip_id)
                elif target.name in clauses and target.name != table.name:
                    owned = select(fk.column).where(clauses[target.name])
                    conditions.append(fk.parent.in_(owned))
            if conditions and len(conditions) > sizes.get(table.name, 0):
                clauses[table.name] = or_(*conditions)
                sizes[table.name] = len(conditions)
                changed = True
    return clauses
