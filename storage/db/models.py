"""Imports every ORM module so ``Base.metadata`` knows all tables (for Alembic and tests)."""

from storage.db import coordination, footage, governance, programme, review, tenancy, web
from storage.db.base import Base

__all__ = ["Base", "coordination", "footage", "governance", "programme", "review", "tenancy", "web"]
