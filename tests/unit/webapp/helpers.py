"""Small helpers shared by the web tests (assertions over audit entries and pages)."""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select

from storage.db.governance import AuditEntry
from webapp.composition import Services


def audit_actions(services: Services, action: str) -> list[AuditEntry]:
    """Audit entries with ``action``, oldest first."""
    with services.db.session() as db:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list(db.scalars(query))


def count_rows(services: Services, model: Any) -> int:
    with services.db.session() as db:
        return len(list(db.scalars(select(model))))


def text(response: Any) -> str:
    """The response body with HTML entities decoded (so apostrophes read as typed)."""
    return html.unescape(response.get_data(as_text=True))
