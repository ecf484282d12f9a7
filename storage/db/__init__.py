"""Metadata database: SQLAlchemy 2 models (one module per area) and the unit of work.

Every ORM module must be imported by :mod:`storage.db.models` so Alembic and
``Base.metadata`` see all tables.
"""
